"""shifted_window_attention and patch_merging against torchvision's own ShiftedWindowAttention
and PatchMerging modules (the harness's references: plain windows, shifted ones, padded
ones, a shift dropped where the window covers the axis, symbolic sizes), the torch and ONNX
lowerings against torchvision's over random windows, shifts and map sizes, and the constant
relative_position_index, made without torch, against torchvision's buffer."""

import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import Case, Refusal, analyse_layer, op_tests
from nncompile.compiler import to_onnx, to_torch
from nncompile.compiler.backends.weights import initial_values


def torchvision_or_skip():
    """Imported when a case runs, so scripts/gen_op_tables.py reads the cases without tests/ on its path."""
    from torchvision_shim import torchvision_or_skip

    return torchvision_or_skip()


def swin_attention(dim, window, shift, heads, **biases):
    return lambda: torchvision_or_skip().models.swin_transformer.ShiftedWindowAttention(dim, window, shift, heads,
                                                                                        **biases)


def patch_merging(dim):
    return lambda: torchvision_or_skip().models.swin_transformer.PatchMerging(dim)


CASES = [
    Case("shifted_window_attention", {"num_heads": 2, "window": 3}, [("N", 6, 9, 8)],
         swin_attention(8, [3, 3], [0, 0], 2), id="swa-windows"),
    Case("shifted_window_attention", {"num_heads": 2, "window": 3, "shift": 1}, [("N", 6, 9, 8)],
         swin_attention(8, [3, 3], [1, 1], 2), id="swa-shifted"),
    Case("shifted_window_attention", {"num_heads": 4, "window": [3, 4], "shift": [1, 2]}, [("N", 5, 7, 8)],
         swin_attention(8, [3, 4], [1, 2], 4), id="swa-padded"),
    Case("shifted_window_attention", {"num_heads": 1, "window": 4, "shift": 2, "qkv_bias": False,
                                      "proj_bias": False}, [("N", 4, 8, 6)],
         swin_attention(6, [4, 4], [2, 2], 1, qkv_bias=False, proj_bias=False), id="swa-one-window-high-no-bias"),
    Case("shifted_window_attention", {"num_heads": 2, "window": [4, 3], "shift": [0, 1]}, [("N", 8, 6, 4)],
         swin_attention(4, [4, 3], [0, 1], 2), id="swa-shifted-across-only"),
    # run at P, H, W = 20, 9, 13: whole windows (every region's mask seen in the output), padded ones
    Case("shifted_window_attention", {"num_heads": 2, "window": [4, 3], "shift": [2, 1]}, [("N", "P", "H", 8)],
         swin_attention(8, [4, 3], [2, 1], 2), id="swa-symbolic"),
    Case("shifted_window_attention", {"num_heads": 2, "window": [4, 3], "shift": [0, 1]}, [("N", "P", "H", 4)],
         swin_attention(4, [4, 3], [0, 1], 2), id="swa-symbolic-shifted-across-only"),
    Case("shifted_window_attention", {"num_heads": 2, "window": 4, "shift": 2}, [("N", "H", "W", 8)],
         swin_attention(8, [4, 4], [2, 2], 2), id="swa-symbolic-padded"),  # 12×16
    Case("shifted_window_attention", {"num_heads": 2, "window": [10, 4], "shift": [5, 2]}, [("N", "H", "W", 4)],
         swin_attention(4, [10, 4], [5, 2], 2), id="swa-symbolic-one-window-high"),  # H's shift dropped at run time
    Case("patch_merging", {}, [("N", 4, 6, 8)], patch_merging(8), id="patch-merging"),
    Case("patch_merging", {}, [("N", 5, 7, 4)], patch_merging(4), id="patch-merging-odd"),
    Case("patch_merging", {}, [("N", "H", "W", 4)], patch_merging(4), id="patch-merging-symbolic"),
]

REFUSALS = [
    Refusal("shifted_window_attention", {"num_heads": 3, "window": 3}, [("N", 6, 6, 8)], "shape-mismatch",
            id="swa-heads-not-dividing", fragments=["3 heads"]),
    Refusal("shifted_window_attention", {"num_heads": 2, "window": 3, "shift": 3}, [("N", 6, 6, 8)],
            "shape-mismatch", id="swa-shift-not-in-window", fragments=["smaller than the window"]),
    Refusal("patch_merging", {}, [("N", 8, 6, 6, 4)], "shape-mismatch", id="patch-merging-rank",
            fragments=["N×H×W×C"]),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)


@pytest.mark.parametrize("window", [(7, 7), (3, 4), (1, 5)])
def test_relative_position_index_is_torchvisions(window, tmp_path):
    """The buffer's values, as the torch lowering makes them and as NumPy does for the
    backends without torch, are torchvision's."""
    tv = torchvision_or_skip()
    theirs = tv.models.swin_transformer.ShiftedWindowAttention(4, list(window), [0, 0], 2).relative_position_index
    graph = analyse_layer(tmp_path, "shifted_window_attention", {"num_heads": 2, "window": list(window)},
                          [("N", 8, 8, 4)])
    assert torch.equal(to_torch(graph).state_dict()["y.relative_position_index"], theirs)
    assert np.array_equal(initial_values(graph)["y.relative_position_index"], theirs.numpy())


@settings(max_examples=20, deadline=None)
@given(window=st.tuples(st.integers(1, 5), st.integers(1, 5)), size=st.tuples(st.integers(1, 12), st.integers(1, 12)),
       heads=st.integers(1, 3), head_width=st.integers(1, 3), symbolic=st.booleans(), data=st.data())
def test_lowerings_are_torchvisions_at_random_sizes(window, size, heads, head_width, symbolic, data):
    """Any window, shift and map size (maps smaller than a window, shifts dropped, padding on
    either axis), the layer typed with concrete H×W or symbolic P×Q: the torch module and
    the ONNX graph under onnxruntime compute what torchvision's module computes."""
    tv = torchvision_or_skip()
    shift = data.draw(st.tuples(st.integers(0, window[0] - 1), st.integers(0, window[1] - 1)), label="shift")
    c = heads * head_width
    theirs = tv.models.swin_transformer.ShiftedWindowAttention(c, list(window), list(shift), heads).eval()
    attrs = {"num_heads": heads, "window": list(window), "shift": list(shift)}
    with tempfile.TemporaryDirectory() as tmp:
        graph = analyse_layer(Path(tmp), "shifted_window_attention", attrs, [("N", *(("P", "Q") if symbolic else size), c)])
    assert not graph.errors, [e.message for e in graph.errors]
    weights = {f"y.{k}": v for k, v in theirs.state_dict().items()}
    ours = to_torch(graph).eval()
    ours.load_state_dict(weights, strict=True)
    x = torch.randn(2, *size, c)
    with torch.no_grad():
        expected = theirs(x)
        torch.testing.assert_close(ours(x), expected)
    session = ort.InferenceSession(to_onnx(graph, weights=weights).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"x0": x.numpy()})[0], expected.numpy(), rtol=1e-4, atol=1e-5)


def test_values_without_torch_follow_torchs_defaults(tmp_path):
    """Exported without torch, the parameters are drawn as nn.Linear draws its own,
    U(±1/√fan_in) with the fan-in of the weight beside each bias (qkv.bias: C, not its 3C)."""
    graph = analyse_layer(tmp_path, "shifted_window_attention", {"num_heads": 2}, [("N", 7, 7, 64)])
    values, bound = initial_values(graph), 1 / 8
    for name in ("qkv.weight", "qkv.bias", "proj.weight", "proj.bias"):
        drawn = np.abs(values[f"y.{name}"])
        assert drawn.max() <= bound and drawn.max() > 0.9 * bound, name
    assert not values["y.relative_position_bias_table"].any()  # zeros: the spec's init: draws it (lib/swin.yaml)
