"""The analysis pass: receptive fields and jumps, totals, shares, strictness, warnings,
checked against hand arithmetic and torch's own counts."""

import pytest
import torch
from torch import nn

from nncompile.compiler import analyse, build


def test_ccp_totals_match_torch(in_repo):
    """The slides' CCP classifier, rebuilt in torch: same parameter count, same output."""
    graph = build("specs/ccp.yaml")

    def block(c_in, c1, c2):
        return [nn.Conv2d(c_in, c1, 3, padding=1), nn.ReLU(), nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(),
                nn.MaxPool2d(2, 2)]

    net = nn.Sequential(*block(3, 64, 64), *block(64, 32, 16), *block(16, 16, 8), nn.Flatten(), nn.Linear(6272, 10))
    assert graph.totals.params == sum(p.numel() for p in net.parameters()) == 128_018
    assert graph.totals.flops == 2 * graph.totals.macs


def test_activation_bytes_are_every_output_per_sample(write_spec):
    graph = build(write_spec("""
        inputs: {x: [N, 3, 8, 8]}
        layers:
          - conv: {op: conv2d, out_channels: 4, kernel: 3, padding: 1}
          - pool: {op: maxpool2d, kernel: 2}
          - flat: flatten
        """))
    assert graph.totals.activation_bytes == 4 * (4 * 8 * 8 + 4 * 4 * 4 + 64)


def test_activation_bytes_count_a_max_pools_switches_as_torchs_int64(write_spec):
    """The switches are int64, 8 bytes a value as torch holds them; the values float32, 4."""
    graph = build(write_spec("""
        inputs: {x: [N, 2, 8, 8]}
        layers:
          - pool: {op: maxpool2d, kernel: 2, return_indices: true}
          - up: {op: max_unpool2d, kernel: 2, in: [pool.0, pool.1]}
        """))
    values, switches = torch.nn.functional.max_pool2d(torch.zeros(1, 2, 8, 8), 2, return_indices=True)
    unpooled = torch.nn.functional.max_unpool2d(values, switches, 2)
    assert switches.dtype == torch.int64 and graph.nodes["pool.1"].type.dtype == "int64"
    assert graph.totals.activation_bytes == sum(t.numel() * t.element_size() for t in (values, switches, unpooled))


def test_three_stacked_3x3_convs_see_7x7(write_spec):
    graph = build(write_spec("""
        inputs: {x: [N, 1, 32, 32]}
        layers:
          - c1: {op: conv2d, out_channels: 1, kernel: 3}
          - c2: {op: conv2d, out_channels: 1, kernel: 3}
          - c3: {op: conv2d, out_channels: 1, kernel: 3}
        """))
    assert [graph.nodes[n].receptive_field for n in ("c1", "c2", "c3")] == [(3, 3), (5, 5), (7, 7)]


def _torch_receptive_field(net: nn.Module, size: int = 64) -> int:
    """The rows of the input that the centre output depends on, by its gradient."""
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    y = net(x)
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    rows = x.grad[0, 0].abs().sum(1).nonzero()
    return int(rows.max() - rows.min() + 1)


def test_receptive_field_and_jump_through_strides_match_gradients(write_spec):
    graph = build(write_spec("""
        inputs: {x: [N, 1, 64, 64]}
        layers:
          - c1: {op: conv2d, out_channels: 1, kernel: 5, stride: 2, padding: 2}
          - p1: {op: maxpool2d, kernel: 2}
          - c2: {op: conv2d, out_channels: 1, kernel: 3, padding: 1, dilation: 1}
        """))
    node = graph.nodes["c2"]
    assert node.jump == (4, 4)  # product of the strides
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 1, 5, 2, 2), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3, padding=1))
    with torch.no_grad():
        for conv in (net[0], net[2]):
            conv.weight.fill_(1.0)
    net[1] = nn.AvgPool2d(2)  # same window as the max pool, but every input gets a gradient
    assert node.receptive_field == (_torch_receptive_field(net),) * 2 == (5 + 1 * 2 + 2 * 4,) * 2  # r += (k − 1)·jump


def test_receptive_field_across_branches_is_the_widest(write_spec):
    graph = build(write_spec("""
        inputs: {x: [N, 1, 16, 16]}
        layers:
          - a1: {op: conv2d, out_channels: 1, kernel: 3, padding: 1}
          - a2: {op: conv2d, out_channels: 1, kernel: 3, padding: 1}
          - b: {op: conv2d, out_channels: 1, kernel: 1, in: x}
          - join: {op: add, in: [a2, b]}
        """))
    assert graph.nodes["join"].receptive_field == (5, 5)
    assert graph.nodes["b"].receptive_field == (1, 1)


def test_frozen_and_shared_parameters(write_spec):
    graph = build(write_spec("""
        inputs: {x: [N, 4]}
        layers:
          - a: {op: linear, out_features: 4}
          - b: {op: linear, out_features: 4, share: a}
          - c: {op: linear, out_features: 2, trainable: false}
          - bn: batchnorm1d
        """))
    t = graph.totals
    assert (t.params, t.trainable_params, t.buffers) == (20 + 10 + 4, 20 + 4, 4)


def test_strict_turns_the_inexact_note_into_an_error(write_spec):
    path = write_spec("""
        inputs: {x: [N, 1, 7, 7]}
        layers:
          - conv: {op: conv2d, out_channels: 1, kernel: 3, stride: 3}
        """)
    assert not analyse(path).errors
    errors = analyse(path, strict=True).errors
    assert [e.code for e in errors] == ["inexact-division"] and "(7 − 3 + 2·0)/3 + 1 = 2.333" in errors[0].message


def test_one_mistake_gives_one_diagnostic(write_spec):
    """Layers downstream of a failed one are skipped, not reported again."""
    graph = analyse(write_spec("""
        inputs: {x: [N, 3, 4, 4]}
        layers:
          - conv: {op: conv2d, out_channels: 4, kernel: 7}
          - relu: relu
          - flat: flatten
          - fc: {op: linear, out_features: 2}
        """))
    assert [e.code for e in graph.errors] == ["kernel-too-large"]
