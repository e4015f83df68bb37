"""The reconstruct objective's taps (runtime/objectives.py) on a module whose activations the
lowering runs in place."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nncompile.compiler import build, to_torch
from nncompile.runtime.objectives import Reconstruction


def test_reconstructing_an_in_place_activation_targets_its_input_as_it_was(write_spec):
    graph = build(write_spec("""
        name: tapped
        inputs: {x: [N, 8]}
        layers:
          - fc: {op: linear, out_features: 8}
          - act: relu
          - out: {op: linear, out_features: 2}
        outputs: [out]
        """))
    model = to_torch(graph, seed=0)
    assert model.act.inplace  # what this test is about
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(0))
    loss, _ = Reconstruction(model, model.act, model.act, nn.Identity())(x, None)
    with torch.no_grad():
        h = model.fc(x)
    assert h.min() < 0
    assert torch.allclose(loss, F.mse_loss(F.relu(h), h))  # 0 if the target were the overwritten input
