"""Layers (runtime/backprop.py) over what the lowering makes faster: an activation run in
place still leaves every layer's own output to see, and each part of a chunk, made by one
shared call, is a layer that runs alone."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nncompile.compiler import build, to_torch
from nncompile.runtime.backprop import Layers

from suite import CHUNK_PARTS_SPEC


def test_in_place_activations_leave_every_layer_output_as_made(write_spec):
    graph = build(write_spec("""
        name: kept
        inputs: {x: [N, 3, 6, 6]}
        layers:
          - conv: {op: conv2d, out_channels: 4, kernel: 3, padding: 1}
          - act: relu6
          - fc: {op: linear, in: x, out_features: 6}
          - fc_act: relu
        outputs: [act, fc_act]
        """))
    model = to_torch(graph, seed=0)
    assert model.act.inplace and model.fc_act.inplace  # what this test is about
    layers = Layers(graph, model)
    x = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    values = layers.run({"x": x})
    for producer, activation, f in (("conv", "act", F.relu6), ("fc", "fc_act", F.relu)):
        assert values[producer].min() < 0  # the activation had something to overwrite
        assert torch.equal(values[activation], f(values[producer]))
        leaf = values[producer].detach().requires_grad_(True)  # as explain runs a layer alone
        y = layers.function(graph.nodes[activation])(leaf)
        assert torch.equal(y, f(leaf)) and values[producer].min() < 0
        y.sum().backward()
        assert torch.equal(leaf.grad, (f(leaf) > 0).to(leaf.dtype) * (leaf < 6 if f is F.relu6 else 1))


def test_each_part_of_a_chunk_runs_alone(write_spec):
    graph = build(write_spec(CHUNK_PARTS_SPEC))
    layers = Layers(graph, to_torch(graph, seed=0))
    x = torch.randn(2, 6, 4)
    values = layers.run({"x": x})
    for k, part in enumerate(x.chunk(3, 1)):
        name = f"parts.{k}"
        assert torch.equal(values[name], part)
        assert torch.equal(layers.function(graph.nodes[name])(x), part)
