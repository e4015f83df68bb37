"""`nncompile verify` passes for every shipped spec, and fails, saying where, when the ONNX
lowering and torch disagree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nncompile.compiler import build

ROOT = Path(__file__).resolve().parents[3]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
QUICK_MACS, QUICK_PARAMS = 10**9, 15_000_000  # beyond either, two runs in torch and onnxruntime take > 5 s


def _spec_param(path: Path):
    totals = build(path).totals
    slow = totals.macs is None or totals.macs > QUICK_MACS or totals.params > QUICK_PARAMS
    return pytest.param(path, id=path.stem, marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("spec", [_spec_param(p) for p in SPECS])
def test_verify_passes_for_every_spec(spec, cli):
    result = cli("verify", spec, "--batch-sizes", "1", "3", "-q")
    assert result.code == 0, result.out + result.err
    rows = result.out.splitlines()
    assert [r for r in rows if r.startswith("FAIL")] == []
    assert any(r.startswith("ok    onnxruntime") and "N=3" in r for r in rows)
    assert "onnx shape inference (strict)" in result.out and rows[-1].endswith("checks agree")


def test_symbolic_sizes_take_the_given_values(cli, in_repo):
    result = cli("verify", "specs/sobel.yaml", "--size", "H=12", "--size", "W=5", "--batch-sizes", "2")
    assert result.code == 0, result.out
    assert "onnxruntime edge_x N=2         2×1×12×5" in result.out
    assert cli("verify", "specs/sobel.yaml", "--size", "H=big").code == 2


def test_a_wrong_lowering_is_caught(cli, in_repo, monkeypatch):
    from nncompile.compiler.ops.activation import ReLU

    monkeypatch.setattr(ReLU, "onnx_type", "Sigmoid")  # ONNX now computes something else
    result = cli("verify", "specs/digits_cnn.yaml")
    assert result.code == 1
    failed = [r for r in result.out.splitlines() if r.startswith("FAIL")]
    assert [r.split()[1] for r in failed] == ["onnxruntime", "onnxruntime"]
    assert result.out.splitlines()[-1].endswith("2 disagree")


def test_a_wrong_shape_is_caught(cli, in_repo, monkeypatch):
    from nncompile.compiler.ops.tensor import Flatten

    monkeypatch.setattr(Flatten, "onnx", lambda self, a, inputs, types, out, emit: emit("Identity", inputs[0]))
    result = cli("verify", "specs/digits_cnn.yaml")
    assert result.code == 1
    assert "FAIL  onnx checker (full)" in result.out and "(op_type:Identity, node name: flatten)" in result.out
    assert "FAIL  onnx shape inference (strict)" in result.out and "node Gemm (fc)" in result.out


def test_a_size_for_a_symbol_no_input_has_is_refused(cli, in_repo, write_spec):
    spec = write_spec("""
        inputs: {image: [N, 1, 16*h, 16*w]}
        layers:
          - pool: {op: maxpool2d, kernel: 2}
        """)
    result = cli("verify", spec, "--size", "H=64")
    assert result.code == 2 and "'H'; the inputs' sizes: N, h (in 16·h), w (in 16·w)" in result.err
    result = cli("verify", spec, "--size", "h=3", "--batch-sizes", "2")
    assert result.code == 0 and "onnxruntime pool N=2" in result.out and "2×1×24×16" in result.out


def test_rows_the_data_choose_are_compared_as_sets():
    """An output of rows chosen by ranking (R≤N·1000, the boxes NMS keeps): near-equal scores
    that torch and onnxruntime rank apart swap two rows or keep another box; up to 1% of the
    rows may differ so, no more, and a count or a box that is off still fails."""
    from nncompile.compiler.verify import _compare_selected

    rng = np.random.default_rng(0)
    want = np.concatenate([np.zeros((200, 1)), rng.uniform(0, 800, (200, 4))], 1).astype(np.float32)
    swapped = want.copy()
    swapped[[10, 11]] = swapped[[11, 10]]
    other_box = want.copy()
    other_box[50] += 7.0
    shifted = want.copy()
    shifted[:, 1] += 1.0  # every box off by a pixel (a decoding bug)
    static = (None, 5)
    assert _compare_selected("p", static, want, swapped, 1e-4).ok
    assert "200/200 rows agree as a set, 198 in place" in _compare_selected("p", static, want, swapped, 1e-4).detail
    assert _compare_selected("p", static, want, other_box, 1e-4).ok  # 199/200
    assert not _compare_selected("p", static, want, other_box[:190], 1e-4).ok  # 10 rows fewer
    assert not _compare_selected("p", static, want, shifted, 1e-4).ok
    assert not _compare_selected("p", (None, 4), want, want, 1e-4).ok  # the static width counts
