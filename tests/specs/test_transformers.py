"""The zoo's modern networks against torchvision: ShuffleNet V2 (chunk and the channel
shuffle), ConvNeXt-T (permute, layer scale, stochastic depth), ViT-B/16 (attention), Swin-T
(shifted window attention, patch merging). Each spec's parameter total is torchvision's, its lowered
state_dict is torchvision's key for key, shape for shape, in order (the reference JSON, no
torchvision needed), its MACs are within 2% (CNNs) or 5% (transformers) of the published
GMACs, `nncompile verify` passes, and with torchvision installed its weights load strictly
and give its eval outputs."""

from __future__ import annotations

import pytest
import torch
from test_torchvision import REFERENCE, SPECS, state_dict_entries
from torchvision_outputs import assert_gives_its_outputs
from torchvision_shim import torchvision_or_skip

from nncompile.compiler import analyse, to_torch

# spec (torchvision's name) -> MAC tolerance against the published GMACs: 2% for CNNs, 5% for
# transformers, whose attention products (QKᵀ and AV) are counted as torchvision counts them
NETWORKS = {"shufflenet_v2_x1_0": 0.02, "convnext_tiny": 0.02, "vit_b_16": 0.05, "swin_t": 0.05}
SLOW = {"convnext_tiny", "vit_b_16", "swin_t"}  # 28M to 87M parameters: seconds in torch, more through onnxruntime


def heavy(names):
    return [pytest.param(n, marks=[pytest.mark.slow] if n in SLOW else []) for n in names]


@pytest.mark.parametrize("name", NETWORKS)
def test_params_and_macs_are_torchvisions(name):
    graph = analyse(SPECS / f"{name}.yaml")
    assert not graph.errors, [e.message for e in graph.errors]
    reference = REFERENCE[name]
    assert graph.totals.params == reference["params"] == reference["published_params"]
    assert graph.totals.buffers == reference["buffers_without_num_batches_tracked"]
    assert graph.totals.macs == pytest.approx(reference["published_gmacs"] * 1e9, rel=NETWORKS[name])


@pytest.mark.parametrize("name", NETWORKS)
def test_state_dict_is_torchvisions_key_for_key_in_order(name):
    with torch.device("meta"):
        model = to_torch(SPECS / f"{name}.yaml")
    assert state_dict_entries(model) == REFERENCE[name]["state_dict"]


@pytest.mark.parametrize("name", heavy(NETWORKS))
def test_verify_passes(cli, name):
    result = cli("verify", SPECS / f"{name}.yaml")
    assert result.code == 0, result.out + result.err


@pytest.mark.parametrize("name", heavy(NETWORKS))
def test_torchvision_weights_give_its_outputs(name):
    theirs = getattr(torchvision_or_skip().models, name)(weights=None)
    assert_gives_its_outputs(theirs, to_torch(SPECS / f"{name}.yaml"), (224, 224), redraw_zeros=True)


@pytest.mark.slow  # torchvision's and our Swin-T built, seconds each
def test_swin_relative_position_index_is_torchvisions():
    """Swin's constant buffers are built, not loaded: before any load_state_dict, every
    relative_position_index of the lowered module equals torchvision's."""
    tv = torchvision_or_skip()
    theirs = {k: v for k, v in tv.models.swin_t(weights=None).state_dict().items() if k.endswith("_index")}
    ours = to_torch(SPECS / "swin_t.yaml").state_dict()
    assert len(theirs) == 12
    assert all(torch.equal(ours[k], v) for k, v in theirs.items())


@pytest.mark.slow  # torchvision's and our Swin-T built, seconds each
def test_swin_at_any_size_gives_torchvisions_outputs(tmp_path):
    """torchvision's Swin takes any image size (padded to whole windows, a shift dropped where
    one window covers the map, odd maps merged with a zero row); so does swin_t's spec with
    a symbolic input [N, 3, H, W]: at 100×137, 25×34 patches, its outputs are torchvision's."""
    text = (SPECS / "swin_t.yaml").read_text(encoding="utf-8")
    assert text.count("[N, 3, 224, 224]") == 1 and text.count("{lib: lib/swin.yaml}") == 1
    text = text.replace("[N, 3, 224, 224]", "[N, 3, H, W]").replace("lib/swin.yaml", str(SPECS / "lib/swin.yaml"))
    (tmp_path / "swin_any.yaml").write_text(text, encoding="utf-8")
    graph = analyse(tmp_path / "swin_any.yaml", allow_paths=[SPECS])
    assert not graph.errors, [e.message for e in graph.errors]
    assert graph.nodes["features.7.1.attn"].type.shape[1:] == ("⌊(H+28)/32⌋", "⌊(W+28)/32⌋", 768)
    theirs = torchvision_or_skip().models.swin_t(weights=None)
    assert_gives_its_outputs(theirs, to_torch(graph), (100, 137), redraw_zeros=True)


@pytest.mark.slow  # torchvision's and our Swin-T built, seconds each
def test_swin_initialisation_is_torchvisions():
    """Trained from scratch, swin_t starts where torchvision's does: tensor for tensor the same
    zeros and ones, and the random ones drawn with its spread (the Linears and the bias tables
    N(0, 0.02), not PyTorch's U(±1/√fan_in); the patch conv PyTorch's default)."""
    theirs = torchvision_or_skip().models.swin_t(weights=None).state_dict()
    ours = to_torch(SPECS / "swin_t.yaml", seed=0).state_dict()
    for key, want in theirs.items():
        got = ours[key]
        if key.endswith("_index") or want.min() == want.max():
            assert torch.equal(got, want), key  # an index, or constants: zeros and ones
        else:  # (at 96 values and more, 0.25 is over 3 standard errors of a spread)
            assert float(got.std()) == pytest.approx(float(want.std()), rel=0.25), key
            assert abs(float(got.mean())) < 0.2 * float(want.std()), key
