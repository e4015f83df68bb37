"""In-place activations (backends/torch_inplace.py) and one call for a chunk's parts
(torch_source.py): the module computes what the all-out-of-place module computes, outputs
and gradients, and the activations left out of place are ones torch itself shows unsafe."""

from __future__ import annotations

import copy

import pytest
import torch

from nncompile.compiler import build, to_torch
from nncompile.compiler.backends.torch_inplace import in_place

from suite import CHUNK_PARTS_SPEC

CASES = """
name: inplace_cases
inputs:
  image: [N, 3, 8, 8]
layers:
  - conv: {op: conv2d, out_channels: 4, kernel: 3, padding: 1}
  - bn: batchnorm2d
  - act: relu                                   # in place: the batch norm's own output
  - conv2: {op: conv2d, out_channels: 4, kernel: 3, padding: 1}
  - act2: relu6                                 # in place: the conv's
  - squash: tanh
  - again: relu                                 # tanh's output, which tanh's backward reads
  - branch: {op: conv2d, out_channels: 4, kernel: 1}
  - skip: relu                                  # branch also feeds the sum
  - sum: {op: add, in: [skip, branch]}
  - mixed: {op: conv2d, out_channels: 4, kernel: 1}
  - side: {op: relu, in: mixed}                 # mixed also feeds a batch norm
  - norm: {op: batchnorm2d, in: mixed}
  - total: {op: add, in: [side, norm, sum]}
  - post: relu                                  # in place: the sum's
  - halves: {op: chunk, chunks: 2}
  - half_act: {op: relu, in: halves.0}          # a view into post
  - joined: {op: concat, in: [half_act, halves.1]}
  - probe: {op: conv2d, out_channels: 4, kernel: 1}
  - probe_act: relu                             # probe is an output
  - flat: flatten
  - fc: {op: linear, out_features: 5}
  - fc_act: relu                                # in place: the linear's
  - raw: {op: relu, in: image}                  # the caller's tensor
outputs: [fc_act, probe, raw]
"""
SAFE = {"act", "act2", "post", "fc_act"}
UNSAFE = ["again", "skip", "side", "half_act", "probe_act", "raw"]


@pytest.fixture
def cases(write_spec):
    graph = build(write_spec(CASES))
    return graph, to_torch(graph, seed=0)


def out_of_place(model: torch.nn.Module) -> torch.nn.Module:
    """The same module (a copy, same weights) with torch's out-of-place activations only."""
    model = copy.deepcopy(model)
    for m in model.modules():
        if hasattr(m, "inplace"):
            m.inplace = False
    return model


def step(model, x):
    """Outputs, the input's gradient and every parameter's, of one weighted forward+backward;
    and whether the caller's x was left as it was."""
    given = x.clone()
    x = x.clone().requires_grad_(True)
    outputs = model(x)
    sum((y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum() for y in outputs).backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    return [y.detach() for y in outputs], x.grad, grads, torch.equal(x.detach(), given)


def same(a, b) -> bool:
    (ya, xa, ga, _), (yb, xb, gb, _) = a, b
    return (all(torch.equal(u, v) for u, v in zip(ya, yb)) and torch.equal(xa, xb)
            and all(torch.equal(ga[k], gb[k]) for k in ga))


def test_only_the_safe_activations_run_in_place(cases):
    graph, model = cases
    assert in_place(graph) == SAFE
    activations = [n.name for n in graph.nodes.values() if n.op in ("relu", "relu6")]
    assert {name for name in activations if model.get_submodule(name).inplace} == SAFE


def test_in_place_outputs_and_gradients_equal_the_out_of_place_modules(cases):
    graph, model = cases
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    reference = step(out_of_place(model), x)
    assert same(step(model, x), reference)
    model.eval()
    with torch.no_grad():
        assert all(torch.equal(u, v) for u, v in zip(model(x), out_of_place(model)(x)))


@pytest.mark.parametrize("name", UNSAFE)
def test_each_activation_left_out_of_place_would_be_wrong_in_place(cases, name):
    """The truth is torch's: forced in place, each one fails autograd's checks, changes what
    the module computes, or overwrites the caller's input."""
    graph, model = cases
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    reference = step(out_of_place(model), x)
    forced = copy.deepcopy(model)
    forced.get_submodule(name).inplace = True
    try:
        result = step(forced, x)
    except RuntimeError:  # a tensor autograd saved was overwritten, or a view or a leaf
        return
    assert not same(result, reference) or not result[3]


def test_no_activation_runs_in_place_where_every_layer_is_an_output(cases):
    graph, _ = cases
    graph.outputs = {name: name for name, n in graph.nodes.items() if not n.is_input}
    assert in_place(graph) == set()


def _autograd_nodes(tensor) -> list[str]:
    seen, todo, names = set(), [tensor.grad_fn], []
    while todo:
        fn = todo.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        names.append(type(fn).__name__)
        todo += [f for f, _ in fn.next_functions]
    return names


def test_the_parts_of_a_chunk_come_from_one_call(write_spec):
    """As torchvision's `a, b, c = x.chunk(3, 1)`: one Split in autograd's graph (one per
    part would make each backward build a whole-input gradient), the parts torch's own."""
    graph = build(write_spec(CHUNK_PARTS_SPEC))
    model = to_torch(graph, seed=0)
    x = torch.randn(2, 6, 4, requires_grad=True)
    y = model(x)
    a, b, c = x.chunk(3, 1)
    assert torch.equal(y, torch.cat([c, a, b], 1))
    assert _autograd_nodes(y).count("SplitBackward0") == 1
    weight = torch.randn_like(y)
    (y * weight).sum().backward()
    assert torch.equal(x.grad, torch.cat([weight[:, 2:4], weight[:, 4:], weight[:, :2]], 1))
