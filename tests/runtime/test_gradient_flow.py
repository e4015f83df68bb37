"""Gradient flow: the slides' point that depth needed ReLU and skip connections, measured;
norms against autograd's own; vanishing and exploding layers flagged."""

import math

import pytest
import torch

from nncompile.compiler import build, to_torch
from nncompile.runtime import gradient_flow as flow

SPECS = "examples/specs"


def _flow(path, seed=0, params=None, **options):
    graph = build(path, params)
    return flow.gradient_flow(graph, to_torch(graph, seed=seed), seed=seed, **options)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigmoid_first_layer_gradient_is_orders_below_the_residual_networks(in_repo, seed):
    sigmoid = flow.first_layer(_flow(f"{SPECS}/deep_sigmoid.yaml", seed))
    relu = flow.first_layer(_flow(f"{SPECS}/deep_relu.yaml", seed))
    residual = flow.first_layer(_flow(f"{SPECS}/deep_residual.yaml", seed))
    assert sigmoid.param_grad < 1e-4 * residual.param_grad  # four orders of magnitude at least
    assert sigmoid.param_grad < 1e-3 * relu.param_grad
    assert sigmoid.flag == "vanishing" and relu.flag == residual.flag == ""


def test_norms_are_autograds(in_repo):
    graph = build(f"{SPECS}/deep_residual.yaml", {"depth": 2, "width": 4})
    model = to_torch(graph, seed=0)
    rows = {r.name: r for r in flow.gradient_flow(graph, model, batch=8)}
    for name, row in rows.items():  # gradient_flow leaves the gradients on the parameters
        params = [p for n, p in model.named_parameters() if n.rsplit(".", 1)[0] == name]
        if params:
            expected = math.sqrt(sum(p.grad.double().norm() ** 2 for p in params))
            assert row.param_grad == pytest.approx(expected, rel=1e-12)
    assert rows["stem"].activation_grad > 0


def test_exploding_layers_are_flagged(in_repo, write_spec):
    spec = write_spec("""
        name: loud
        inputs: {x: [N, 8]}
        blocks:
          dense:
            layers:
              - fc: {op: linear, out_features: 8, init: {weight: {scheme: normal, std: 3}, bias: zeros}}
        layers:
          - stack: {block: dense, repeat: 6}
        outputs: [stack]
    """)
    rows = _flow(spec)
    assert flow.first_layer(rows).flag == "exploding"
    assert rows[-1].flag == "" and rows[-1].ratio == 1


def test_cli_table_and_plot(cli, in_repo, tmp_path):
    plot = tmp_path / "flow.png"
    result = cli("explain", f"{SPECS}/deep_sigmoid.yaml", "--gradient-flow", "--batch", "4", "--plot", plot)
    assert result.code == 0, result.err
    assert "stack.0.fc   linear" in result.out and "vanishing" in result.out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli("explain", f"{SPECS}/deep_sigmoid.yaml", "--gradient-flow", "--batch", "0").code == 2


def test_example_script_compares_the_three(in_repo):
    import runpy

    example = runpy.run_path("examples/gradient_flow.py")
    reports = example["compare"](depth=10, batch=16, seed=0)
    firsts = {name: flow.first_layer(rows).param_grad for name, rows in reports.items()}
    assert firsts["deep_sigmoid"] < 1e-6 * firsts["deep_residual"]
    assert "deep_sigmoid   stack.0.fc" in example["summary"](reports)


def test_frozen_layers_and_step(cli, in_repo):
    rows = _flow("specs/xor_handset.yaml")  # frozen throughout: gradients still reach every node
    assert all(r.param_grad is None and r.activation_grad > 0 for r in rows)
    refused = cli("explain", "specs/perceptron_and.yaml", "--gradient-flow")
    assert refused.code == 2 and "layer 'fire' uses step" in refused.err
