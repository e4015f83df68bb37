"""The direct ONNX export of whole networks: every shipped spec passes ONNX's full checker
and ONNX's own shape inference agrees with ours; names, symbolic sizes and metadata carry
the spec's; weights come from checkpoints or from the spec's initialisation; large models
use external data; and no torch is needed."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from nncompile.compiler import UsageError, build, to_onnx
from nncompile.compiler.backends import weights
from nncompile.compiler.backends.onnx import save
from nncompile.compiler.verify import shape_disagreements

ROOT = Path(__file__).resolve().parents[3]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
HEAVY_PARAMS = 50_000_000  # exporting and checking more than this takes over 4 s


def _spec_param(path: Path):
    heavy = build(path).totals.params > HEAVY_PARAMS
    return pytest.param(path, id=path.stem, marks=[pytest.mark.slow] if heavy else [])


def run(model, *inputs):
    session = ort.InferenceSession(model.SerializeToString() if hasattr(model, "SerializeToString") else str(model),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, dict(zip((i.name for i in session.get_inputs()), inputs)))


def test_specs_are_found():
    assert len(SPECS) >= 10


@pytest.mark.parametrize("spec", [_spec_param(p) for p in SPECS])
def test_every_spec_passes_the_checker_and_shape_inference_agrees(spec):
    graph = build(spec)
    model = to_onnx(graph)
    onnx.checker.check_model(model, full_check=True)
    problems, compared = shape_disagreements(model, graph)
    assert problems == [] and compared == len(graph.nodes) - len(graph.inputs) + \
        sum(o != s for o, s in graph.outputs.items())
    # names: every layer is a node and a value of its own name; parameters as torch names them,
    # but a free parameter, whose layer's output takes its plain name: `class_token.weight`
    assert set(graph.nodes) - set(graph.inputs) <= {n.name for n in model.graph.node}
    initializers = {t.name for t in model.graph.initializer}
    owned = {f"{n.name}.{k}" for n in graph.nodes.values() if not n.share for k in {**n.params, **n.buffers}}
    assert owned <= initializers
    assert {key for key in weights.expected(graph) if key in graph.nodes} == \
        {n.name for n in graph.nodes.values() if n.self_param and not n.share}


def test_names_symbolic_sizes_and_metadata(in_repo):
    graph = build("specs/resnet18.yaml")
    model = to_onnx(graph)
    [image] = model.graph.input
    assert [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim] == ["N", 3, 224, 224]
    [fc] = model.graph.output
    assert [d.dim_param or d.dim_value for d in fc.type.tensor_type.shape.dim] == ["N", 1000]
    conv = next(n for n in model.graph.node if n.name == "layer1.0.conv1")
    assert list(conv.input) == ["maxpool", "layer1.0.conv1.weight"] and list(conv.output) == ["layer1.0.conv1"]
    assert conv.doc_string.startswith("specs/lib/resnet.yaml:")  # where the layer is written
    props = {p.key: p.value for p in model.metadata_props}
    assert props["name"] == "resnet18" and props["source_hash"] == graph.source_hash and props["doc"] == graph.doc
    assert model.producer_name == "nncompile" and model.opset_import[0].version >= 17


def test_symbolic_spatial_sizes_are_dim_params(in_repo):
    model = to_onnx("specs/sobel.yaml")
    dims = [[d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in model.graph.output]
    assert dims == [["N", 1, "H", "W"]] * 4
    image = np.random.default_rng(0).standard_normal((2, 1, 5, 7)).astype(np.float32)
    edge_x = run(model, image)[0]
    # Sobel x on a zero-padded image, by hand
    padded = np.pad(image[:, 0], ((0, 0), (1, 1), (1, 1)))
    kernel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
    expected = sum(kernel[i, j] * padded[:, i:i + 5, j:j + 7] for i in range(3) for j in range(3))
    np.testing.assert_allclose(edge_x[:, 0], expected, atol=1e-5)


def test_inline_weights_are_exact(in_repo):
    model = to_onnx("specs/perceptron_and.yaml")
    truth = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    assert run(model, truth)[0].ravel().tolist() == [0, 0, 0, 1]


def test_initialisation_follows_torchs_distributions(write_spec):
    graph = build(write_spec("""
        name: init
        inputs: {x: [N, 8, 6, 6]}
        layers:
          - conv: {op: conv2d, out_channels: 300, kernel: 3}
          - bn: batchnorm2d
          - fc: {op: linear, in: x, out_features: 200, init: {weight: kaiming}}
          - const: {op: linear, in: x, out_features: 2, init: {weight: 0.5, bias: [1, 2]}}
    """))
    values = weights.initial_values(graph, seed=0)
    bound = 1 / np.sqrt(8 * 3 * 3)  # torch's default for conv and linear: U(±1/√fan_in)
    for key in ("conv.weight", "conv.bias"):
        assert np.abs(values[key]).max() <= bound and np.abs(values[key]).max() > 0.95 * bound
    assert values["conv.weight"].std() == pytest.approx(bound / np.sqrt(3), rel=0.02)
    assert values["fc.weight"].std() == pytest.approx(np.sqrt(2 / 6), rel=0.02)  # kaiming: √(2/fan_in)
    assert (values["bn.weight"] == 1).all() and (values["bn.running_var"] == 1).all()
    assert (values["bn.bias"] == 0).all() and (values["bn.running_mean"] == 0).all()
    assert (values["const.weight"] == 0.5).all() and values["const.bias"].tolist() == [1, 2]
    assert all(v.dtype == np.float32 for v in values.values())
    assert np.array_equal(weights.initial_values(graph, seed=0)["conv.weight"], values["conv.weight"])
    assert not np.array_equal(weights.initial_values(graph, seed=1)["conv.weight"], values["conv.weight"])


@pytest.fixture
def digits_state(in_repo):
    from nncompile.compiler import to_torch

    module = to_torch("specs/digits_cnn.yaml", seed=3).eval()
    return module, {k: v.detach().numpy() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("form", ["pt", "safetensors", "training-checkpoint"])
def test_weights_from_a_checkpoint(form, digits_state, tmp_path):
    import torch

    module, state = digits_state
    path = tmp_path / f"weights.{'safetensors' if form == 'safetensors' else 'pt'}"
    if form == "safetensors":
        from safetensors.numpy import save_file

        save_file(state, str(path))
    else:
        tensors = module.state_dict()
        torch.save({"model": tensors, "epoch": 3} if form == "training-checkpoint" else tensors, path)
    image = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(image)).numpy()
    got = run(to_onnx("specs/digits_cnn.yaml", weights=path), image)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_weights_that_do_not_fit_are_refused(digits_state):
    _, state = digits_state
    state["fc.weight"] = state["fc.weight"][:, :10]
    del state["layer1.conv1.bias"]
    state["head.weight"] = np.zeros(3, np.float32)
    with pytest.raises(UsageError) as caught:
        to_onnx("specs/digits_cnn.yaml", weights=state)
    message = str(caught.value)
    assert "missing layer1.conv1.bias 32" in message and "fc.weight is 10×10, expected 10×256" in message
    assert "unexpected head.weight" in message


def test_a_checkpoint_that_runs_code_is_refused(tmp_path, in_repo):
    import torch

    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    path = tmp_path / "evil.pt"
    torch.save({"fc.weight": Payload()}, path)
    with pytest.raises(UsageError, match="cannot load weights"):
        to_onnx("specs/ccp.yaml", weights=path)


def test_large_models_use_external_data(tmp_path, in_repo):
    model = to_onnx("specs/ccp.yaml")
    image = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    expected = run(model, image)[0]
    path = tmp_path / "ccp.onnx"
    written = save(model, path, external_threshold=100_000)  # as if over protobuf's 2 GiB
    assert written == [path, tmp_path / "ccp.onnx.data"]
    assert path.stat().st_size < 100_000 < written[1].stat().st_size
    onnx.checker.check_model(str(path), full_check=True)
    np.testing.assert_array_equal(run(path, image)[0], expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ccp.onnx", "ccp.onnx.data"]  # no temporaries left


# `python -c TORCH_BLOCKED nncompile-args…`: the CLI in a process where `import torch` fails
TORCH_BLOCKED = textwrap.dedent("""
    import sys
    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError("torch is blocked in this test", name="torch")
    sys.meta_path.insert(0, NoTorch())
    from nncompile.cli import main
    code = main(sys.argv[1:])
    assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules), "torch was imported"
    sys.exit(code)
""")


def test_export_without_torch_runs_in_onnxruntime(tmp_path, in_repo):
    """`nncompile export` in a process where `import torch` fails; the model runs."""
    blocker = TORCH_BLOCKED
    out = tmp_path / "googlenet.onnx"
    done = subprocess.run([sys.executable, "-c", blocker, "export", "specs/googlenet.yaml", "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    image = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    [logits] = run(out, image)
    assert logits.shape == (2, 1000) and np.isfinite(logits).all()
    via_torch = subprocess.run([sys.executable, "-c", blocker, "export", "specs/xor.yaml", "-o", str(out),
                                "--via", "torch"], capture_output=True, text=True, timeout=120)
    assert via_torch.returncode == 2 and "--via torch needs torch, which is not installed" in via_torch.stderr


def test_cli_export_writes_atomically_and_says_what(cli, in_repo, tmp_path):
    out = tmp_path / "xor.onnx"
    result = cli("export", "specs/xor.yaml", "-o", out, "--seed", "4")
    assert result.code == 0 and "weights from the spec's initialisation, seed 4" in result.err
    assert onnx.load(str(out)).graph.name == "xor"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xor.onnx"]
    missing = cli("export", "specs/xor.yaml", "-o", out, "--weights", tmp_path / "none.pt")
    assert missing.code == 2 and "no such weights file" in missing.err


def test_export_via_torch_agrees_with_the_direct_export(cli, in_repo, tmp_path, digits_state):
    from safetensors.numpy import save_file

    _, state = digits_state
    save_file(state, str(tmp_path / "w.safetensors"))
    for via in ("direct", "torch"):
        assert cli("export", "specs/digits_cnn.yaml", "-o", tmp_path / f"{via}.onnx", "--via", via,
                   "--weights", tmp_path / "w.safetensors").code == 0
    through_torch = onnx.load(str(tmp_path / "torch.onnx"))
    onnx.checker.check_model(through_torch, full_check=True)
    assert {p.key: p.value for p in through_torch.metadata_props}["name"] == "digits_cnn"
    image = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    direct, torch_made = run(tmp_path / "direct.onnx", image)[0], run(through_torch, image)[0]
    np.testing.assert_allclose(direct, torch_made, rtol=0, atol=1e-5 * np.abs(torch_made).max())


def test_export_via_torch_refuses_data_dependent_layers_before_any_work(tmp_path, in_repo):
    """The detector's NMS and RoI layers (tests/compiler/ops/test_torch_export.py shows torch
    cannot trace them): a located no-torch-export error for each, naming the direct export,
    before torch is even imported (the process blocks it); nothing written."""
    out = tmp_path / "detect.onnx"
    done = subprocess.run([sys.executable, "-c", TORCH_BLOCKED, "export", "specs/faster_rcnn_resnet50_fpn_detect.yaml",
                           "-o", str(out), "--via", "torch"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == "" and "Traceback" not in done.stderr, done.stderr
    located = re.findall(r"^(\S+):(\d+):(\d+): error: layer '([^']+)' \((\w+)\).*\[no-torch-export\]$",
                         done.stderr, re.MULTILINE)
    assert located == [("specs/faster_rcnn_resnet50_fpn_detect.yaml", "45", "5", "proposals", "rpn_proposals"),
                       ("specs/lib/rcnn.yaml", "87", "9", "roi_heads.box_roi_pool", "multiscale_roi_align"),
                       ("specs/faster_rcnn_resnet50_fpn_detect.yaml", "53", "5", "detections", "detections")]
    assert done.stderr.count("note: export without --via torch: the direct export") == 3
    assert done.stderr.endswith("3 errors\n") and len(done.stderr) < 3000
    assert list(tmp_path.iterdir()) == []


def test_export_via_torch_that_torch_cannot_do_is_one_line(run_nncompile, tmp_path, in_repo):
    """DeconvNet's max_unpool2d, which torch.onnx.export refuses: a usage error naming the way
    out, not torch's traceback, and not the traced graph its C++ prints to stdout on failure."""
    done = run_nncompile("export", "specs/deconvnet.yaml", "-o", tmp_path / "d.onnx", "--via", "torch")
    assert done.code == 2 and done.out == "", done.err[-2000:]
    assert done.err.startswith("nncompile: error: torch.onnx.export cannot export deconvnet: ")
    assert done.err.endswith("; export without --via torch (the direct export)\n") and done.err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
