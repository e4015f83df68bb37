"""The modern CNNs of the zoo (issue 14) against torchvision, the independent truth:
parameter totals and every state_dict key and shape in torchvision's order (the reference
JSON, no torchvision needed), MACs within 2% of torchvision's published GMACs, `verify`
(torch ≡ ONNX ≡ onnxruntime), and, where torchvision imports, its weights loaded strictly
giving its eval outputs (BN statistics randomised first)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nncompile.compiler import analyse, to_torch
from nncompile.compiler.verify import render, verify
from test_torchvision import REFERENCE, state_dict_entries
from torchvision_outputs import assert_gives_its_outputs
from torchvision_shim import torchvision_or_skip

SPECS = Path(__file__).resolve().parents[2] / "specs"
NETWORKS = ["mobilenet_v2", "efficientnet_b0", "mobilenet_v3_large", "squeezenet1_1", "resnext50_32x4d",
            "densenet121"]  # specs/<torchvision's name>.yaml


def timed(fast: set[str]) -> list:
    """NETWORKS, those not in `fast` marked slow (over 5 s on two cores)."""
    return [pytest.param(n, marks=[] if n in fast else [pytest.mark.slow], id=n) for n in NETWORKS]


@pytest.mark.parametrize("name", NETWORKS)
def test_params_and_macs_are_torchvisions(name):
    graph = analyse(SPECS / f"{name}.yaml")
    assert not graph.errors
    assert graph.totals.params == REFERENCE[name]["params"]
    published = REFERENCE[name]["published_gmacs"] * 1e9
    assert abs(graph.totals.macs - published) <= 0.02 * published, f"{graph.totals.macs / 1e9:.3f} GMACs"


@pytest.mark.parametrize("name", NETWORKS)
def test_state_dict_is_torchvisions_key_for_key_in_order(name):
    with torch.device("meta"):  # shapes only
        model = to_torch(SPECS / f"{name}.yaml")
    assert state_dict_entries(model) == REFERENCE[name]["state_dict"]


@pytest.mark.parametrize("name", timed(fast={"squeezenet1_1", "efficientnet_b0"}))
def test_verify_agrees(name):
    checks = verify(analyse(SPECS / f"{name}.yaml"), batches=(1, 2))
    assert all(c.ok for c in checks), render(checks)


@pytest.mark.parametrize("name", timed(fast={"squeezenet1_1"}))
def test_torchvision_weights_load_strictly_and_give_its_outputs(name):
    theirs = getattr(torchvision_or_skip().models, name)(weights=None)
    assert_gives_its_outputs(theirs, to_torch(SPECS / f"{name}.yaml"), (224, 224))


def test_efficientnet_stochastic_depth_grows_as_torchvisions():
    """p = 0.2 · k / 16 for block k, on every block that adds its input back (torchvision
    gives the others a p too, unused: they have no residual branch to drop)."""
    tv = torchvision_or_skip()
    with torch.device("meta"):
        theirs = dict(tv.models.efficientnet_b0(weights=None).named_modules())
        ours = {name: m for name, m in to_torch(SPECS / "efficientnet_b0.yaml").named_modules()
                if type(m).__name__ == "StochasticDepth"}
    assert len(ours) == 9
    assert {name: m.p for name, m in ours.items()} == pytest.approx({name: theirs[name].p for name in ours})
