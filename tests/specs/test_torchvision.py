"""The zoo against torchvision, the independent truth. Every spec with a torchvision
counterpart lowers to a module with torchvision's state_dict (keys, shapes, parameter or
buffer, in torchvision's order: ../shared/reference/torchvision_state_dicts.json, no
torchvision needed); with torchvision installed, its weights load strictly and give its
outputs, in torch, through `nncompile export --weights` in onnxruntime, and in `explain`.
Numeric layer names (torchvision's `features.0`) are part of the language: tested first."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision_outputs import assert_gives_its_outputs, close, randomise_batchnorm
from torchvision_shim import torchvision_or_skip

from nncompile.compiler import SpecError, analyse, build, to_torch

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
REFERENCE = json.loads((ROOT.parent / "shared" / "reference" / "torchvision_state_dicts.json")
                       .read_text(encoding="utf-8"))["models"]

# --- numeric layer names ------------------------------------------------------------------

NUMBERED = """
name: numbered
inputs:
  x: [N, 3, 8, 8]
blocks:
  seq:
    layers:
      - 0: {op: conv2d, out_channels: 4, kernel: 3, padding: 1}   # YAML reads 0 as a number
      - "1": relu                                                  # and "1" as text: one name
      - 2: {op: conv2d, in: 0, out_channels: 4, kernel: 1}
      - 3: {op: add, in: [1, "2"]}
layers:
  - 0: {op: conv2d, out_channels: 3, kernel: 1}
  - features: {block: seq, repeat: 2}
  - tap: {op: identity, in: features.0.2}
  - 1: {op: conv2d, in: features, out_channels: 4, kernel: 1, share: features.1.2}
outputs: [1, tap]
"""


def test_layers_may_be_numbered_as_torchvision_numbers_a_sequential(write_spec):
    graph = build(write_spec(NUMBERED))
    assert [n for n in graph.nodes if n != "x"] == [
        "0", "features.0.0", "features.0.1", "features.0.2", "features.0.3",
        "features.1.0", "features.1.1", "features.1.2", "features.1.3", "tap", "1"]
    assert graph.nodes["features.1.2"].inputs == ["features.1.0"]  # `in: 0` within its own instance
    assert graph.nodes["features.0.3"].inputs == ["features.0.1", "features.0.2"]
    assert graph.nodes["features.1.0"].inputs == ["features.0.3"]  # repeat index 0 → 1 chains as before
    assert graph.nodes["1"].inputs == ["features.1.3"] and graph.nodes["1"].share == "features.1.2"
    assert graph.nodes["tap"].inputs == ["features.0.2"]  # a layer inside a repeat's copy
    assert dict(graph.outputs) == {"1": "1", "tap": "tap"}


def test_numbered_layers_lower_to_torch_and_onnx_and_agree(write_spec, tmp_path, cli):
    path = write_spec(NUMBERED)
    model = to_torch(path, seed=0)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "features.0.0.weight", "features.0.0.bias",
                                        "features.0.2.weight", "features.0.2.bias", "features.1.0.weight",
                                        "features.1.0.bias", "features.1.2.weight", "features.1.2.bias"]
    assert model.get_submodule("1").weight is model.get_submodule("features.1.2").weight  # shared: listed once
    source = tmp_path / "numbered_model.py"
    assert cli("emit-torch", path, "-o", source).code == 0
    namespace = {}
    exec(compile(source.read_text(encoding="utf-8"), str(source), "exec"), namespace)  # identifiers are legal
    assert cli("verify", path).code == 0  # torch, the ONNX export and onnxruntime agree


@pytest.mark.parametrize("name", ["01", "-1", "1.5", "0x1f"])
def test_a_number_names_a_layer_only_written_plainly(write_spec, name):
    """YAML would read 01 as 1 and 0x1f as 31: a layer's name is the text as written."""
    path = write_spec(f"""
        inputs:
          x: [N, 4]
        layers:
          - {name}: relu
        """)
    with pytest.raises(SpecError) as error:
        analyse(path)
    (diagnostic,) = error.value.diagnostics
    assert diagnostic.code == "bad-name" and diagnostic.span.line == 4
    assert diagnostic.message == f"'{name}' is not a valid name: a number names a layer written plainly, as 0, 1, 12"


def test_repeat_indices_and_numbered_layers_cannot_collide(write_spec):
    """A repeated call's copies are `call.k` and a numbered layer inside the block is
    `call.k.n`, one level deeper: `in: stack.1` names the second copy, never a layer."""
    graph = build(write_spec("""
        inputs:
          x: [N, 4]
        blocks:
          pair:
            layers:
              - 0: {op: linear, out_features: 4}
              - 1: relu
        layers:
          - stack: {block: pair, repeat: 3}
          - second: {op: identity, in: stack.1}
        """))
    assert graph.nodes["second"].inputs == ["stack.1.1"]
    assert {n for n in graph.nodes if n.startswith("stack.")} == {f"stack.{k}.{n}" for k in range(3) for n in (0, 1)}


# --- the zoo's state_dicts are torchvision's ----------------------------------------------

COUNTERPARTS = {  # spec -> torchvision's model (the reference JSON's constructor says how it was built)
    "alexnet_torchvision": "alexnet", "vgg16": "vgg16", "vgg19": "vgg19", "resnet18": "resnet18",
    "resnet34": "resnet34", "resnet50": "resnet50", "resnet101": "resnet101", "resnet152": "resnet152",
    "googlenet": "googlenet", "fcn_resnet50": "fcn_resnet50"}


def state_dict_entries(model: nn.Module) -> list[list]:
    """[key, shape, "param" | "buffer"] in the module's state_dict order, as the JSON lists them."""
    params = {name for name, _ in model.named_parameters()}
    return [[k, list(v.shape), "param" if k in params else "buffer"] for k, v in model.state_dict().items()]


@pytest.mark.parametrize("spec, counterpart", COUNTERPARTS.items(), ids=list(COUNTERPARTS))
def test_lowered_state_dict_is_torchvisions_key_for_key_in_order(spec, counterpart):
    with torch.device("meta"):  # shapes only: nothing allocated
        model = to_torch(SPECS / f"{spec}.yaml")
    assert state_dict_entries(model) == REFERENCE[counterpart]["state_dict"]


# --- torchvision's weights give torchvision's outputs ---------------------------------------

def torchvision_model(tv, spec: str, params: dict) -> nn.Module:
    """torchvision's counterpart of a spec, built as the reference JSON's constructor says."""
    if spec == "fcn_resnet50":
        return tv.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None, num_classes=21,
                                                   aux_loss=params.get("aux", False))
    if spec == "googlenet":
        return tv.models.googlenet(weights=None, aux_logits=False, init_weights=False)
    return getattr(tv.models, COUNTERPARTS[spec])(weights=None)


def case(spec: str, params: dict | None = None, size=(224, 224), slow: bool = False):
    """(spec, --set params, input height and width); the biggest are marked slow."""
    params = params or {}
    return pytest.param(spec, params, size, id="-".join([spec] + [k for k, v in params.items() if v is True]),
                        marks=[pytest.mark.slow] if slow else [])


OUTPUT_CASES = [
    case("alexnet_torchvision"), case("resnet18"), case("googlenet", size=(112, 112)),
    case("fcn_resnet50", {"height": 32, "width": 48}, (32, 48)),
    case("fcn_resnet50", {"height": 64, "width": 96, "aux": True}, (64, 96), slow=True),
    case("resnet34", slow=True), case("resnet50", slow=True), case("resnet101", slow=True),
    case("resnet152", slow=True), case("vgg16", slow=True), case("vgg19", slow=True),
]


@pytest.mark.parametrize("spec, params, size", OUTPUT_CASES)
def test_torchvision_weights_load_strictly_and_give_its_outputs(spec, params, size):
    theirs = torchvision_model(torchvision_or_skip(), spec, params)
    assert_gives_its_outputs(theirs, to_torch(SPECS / f"{spec}.yaml", params), size)


# --- the CLI reads a plain torchvision checkpoint --------------------------------------------

@pytest.fixture(scope="module")
def resnet18_checkpoint(tmp_path_factory):
    """torchvision's resnet18 (BN randomised) as torch.save writes its state_dict, and the module."""
    tv = torchvision_or_skip()
    model = tv.models.resnet18(weights=None)
    randomise_batchnorm(model, torch.Generator().manual_seed(1))
    path = tmp_path_factory.mktemp("tv") / "tv.pt"
    torch.save(model.state_dict(), path)
    return path, model.eval()


def test_export_with_torchvision_weights_runs_as_torchvision_in_onnxruntime(run_nncompile, resnet18_checkpoint,
                                                                           tmp_path):
    import onnxruntime as ort

    checkpoint, model = resnet18_checkpoint
    out = tmp_path / "resnet18.onnx"
    result = run_nncompile("export", SPECS / "resnet18.yaml", "--weights", checkpoint, "-o", out)
    assert result.code == 0, result.err
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        expected = model(x)
    assert close(torch.from_numpy(got), expected, rel=1e-5)


@pytest.mark.slow
def test_explain_shows_the_torchvision_checkpoints_values(run_nncompile, resnet18_checkpoint):
    checkpoint, model = resnet18_checkpoint
    result = run_nncompile("explain", SPECS / "resnet18.yaml", "--weights", checkpoint)
    assert result.code == 0, result.err
    # the shortcut's BN, layer2.0.downsample.1, is the one torchvision's and ours named apart
    block = result.out[result.out.index("layer2.0.downsample.1 "):]
    shown = float(re.search(r"weight\s+128: ‖·‖ = ([\d.]+)", block).group(1))
    assert shown == pytest.approx(float(model.layer2[0].downsample[1].weight.detach().norm()), rel=1e-5)
