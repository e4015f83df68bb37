"""Shared checks of a lowered network against its static analysis (the truth is torch's
own shapes and parameter counts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nncompile.compiler import build, to_torch
from nncompile.compiler.ir import Graph
from nncompile.compiler.symbolic import evaluate, sample_sizes
from nncompile.compiler.verify import sample_feeds

BATCH, SIDE = 2, 32  # what symbolic dims become: N, and any other (H, W)
ROOT = Path(__file__).resolve().parents[3]
SPECS = sorted((ROOT / "specs").glob("*.yaml"))  # globbed: specs added later are covered
BIG = 20_000_000  # parameters above which running a spec is marked slow


def specs_by_size():
    """Every shipped spec as a pytest param, the big ones marked slow."""
    return [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if build(p).totals.params > BIG else [])
            for p in SPECS]


def example_inputs(graph: Graph, seed: int = 0) -> tuple[dict[str, int], list[torch.Tensor]]:
    sizes = {**sample_sizes((d for name in graph.inputs for d in graph.nodes[name].type.shape), SIDE), "N": BATCH}
    # verify's inputs: standard normal, but valid where an op needs it (RoI boxes inside the image)
    feeds = sample_feeds(graph, sizes, np.random.default_rng(seed))
    return sizes, [torch.from_numpy(feeds[name]) for name in graph.inputs]


def every_layer(graph: Graph, **options) -> torch.nn.Module:
    """The network lowered with every node as an output, in node order (same weights as
    to_torch's with the same seed: outputs change no parameter)."""
    graph.outputs = {name: name for name, n in graph.nodes.items() if not n.is_input}
    return to_torch(graph, **options)


def check_static_counts(graph: Graph, model: torch.nn.Module) -> None:
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    buffers = sum(b.numel() for name, b in model.named_buffers() if not name.endswith("num_batches_tracked"))
    assert (params, trainable, buffers) == (graph.totals.params, graph.totals.trainable_params, graph.totals.buffers)
    state = model.state_dict()
    for node in graph.nodes.values():
        for name, shape in node.params.items():
            key = node.state_key(name)
            owner = graph.nodes[node.share] if node.share else node
            assert tuple(state[owner.state_key(name)].shape) == shape, key  # a shared parameter is listed once
            assert node.share is None or key not in state, key
            assert model.get_parameter(key).requires_grad == owner.trainable, key


def check_layer_shapes(graph: Graph, outputs, sizes: dict[str, int]) -> None:
    """Every layer's actual output shape equals its static type."""
    nodes = [n for n in graph.nodes.values() if not n.is_input]
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    assert len(outputs) == len(nodes)
    for node, tensor in zip(nodes, outputs):
        expected = [evaluate(d, sizes) for d in node.type.shape]
        actual = list(tensor.shape)
        assert len(actual) == len(expected), node.name
        assert all(e is None or e == a for e, a in zip(expected, actual)), (node.name, node.type, actual)
