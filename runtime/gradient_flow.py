"""Gradient flow: how large each layer's gradient is after one backward pass over a batch.

For every node, ‖∂L/∂y‖ of its output y; for every layer with parameters, ‖∂L/∂θ‖ of
its parameters (weights and biases together); Frobenius norms over the whole batch. The
gradient reaching a layer is compared with the gradient the loss gives the network's
output, ‖∂L/∂ŷ‖: a layer with parameters whose ratio is below VANISHING is flagged
vanishing (its weights, updated by δ xᵀ, barely move), above EXPLODING exploding, and a
gradient that is not finite is exploding too. The network runs in training mode (batch
statistics, dropout on), as it does when it learns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..compiler.expand import UsageError
from ..compiler.ir import Graph
from .backprop import Layers, loss_value, parse_target, random_inputs

VANISHING = 1e-3  # ‖∂L/∂y‖ of a layer below this fraction of ‖∂L/∂ŷ‖ at the output
EXPLODING = 1e3  # … or above this multiple of it


@dataclass
class LayerFlow:
    name: str
    op: str
    activation_grad: float  # ‖∂L/∂y‖ of the node's output y
    param_grad: float | None  # ‖∂L/∂θ‖ of its parameters; None if it has none
    ratio: float | None = None  # activation_grad / ‖∂L/∂ŷ‖, for a layer with parameters
    flag: str = ""  # "vanishing", "exploding" or ""


def gradient_flow(graph: Graph, model: nn.Module, batch: int = 16, loss: str = "mse", target: str | None = None,
                  seed: int = 0) -> list[LayerFlow]:
    """One forward and backward pass of `model` on a random N(0, 1) batch (and a random
    target unless one is given); the per-layer gradient norms in graph order. A frozen
    layer has no parameter gradient (None), as in training."""
    model.train()
    inputs = random_inputs(graph, batch, seed)
    # the inputs require a gradient, so one flows even through a network frozen throughout
    inputs = {k: v.to(next(model.parameters(), v).dtype).requires_grad_(True) for k, v in inputs.items()}
    layers = Layers(graph, model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout's masks
        values = layers.run(inputs, keep_grad=True)
    output = values[next(iter(graph.outputs.values()))]
    model.zero_grad(set_to_none=True)
    wanted = parse_target(target, output, loss, seed)
    try:
        loss_value(loss, output, wanted.to(output.dtype) if wanted.is_floating_point() else wanted).backward()
    except RuntimeError as e:  # the step op refuses, naming its layer
        raise UsageError(f"cannot backpropagate through '{graph.name}': {e}") from None

    rows = []
    for node in graph.topological():
        if node.is_input:
            continue
        y = values[node.name]
        grads = [model.get_parameter(node.state_key(p)).grad for p in node.params] if not node.share else []
        grads = [g for g in grads if g is not None]
        param = math.sqrt(sum(float(g.double().norm()) ** 2 for g in grads)) if grads else None
        rows.append(LayerFlow(node.name, node.op, 0.0 if y.grad is None else float(y.grad.double().norm()), param))
    _flag(rows, float(output.grad.double().norm()))
    return rows


def _flag(rows: list[LayerFlow], at_output: float) -> None:
    for r in rows:
        if r.param_grad is None:
            continue
        if not (math.isfinite(r.param_grad) and math.isfinite(r.activation_grad)):
            r.flag = "exploding"
            continue
        r.ratio = r.activation_grad / at_output if at_output else math.inf
        r.flag = "vanishing" if r.ratio < VANISHING else "exploding" if r.ratio > EXPLODING else ""


def first_layer(rows: list[LayerFlow]) -> LayerFlow:
    """The first layer with parameters, in graph order: the one depth starves first."""
    return next(r for r in rows if r.param_grad is not None)


def render(rows: list[LayerFlow], title: str) -> str:
    width = max([len(r.name) for r in rows] + [5])
    lines = [title, f"{'layer':<{width}}  {'op':<12} {'‖∂L/∂y‖':>10}  {'‖∂L/∂θ‖':>10}  {'÷ ‖∂L/∂ŷ‖':>9}  flag"]
    for r in rows:
        param = f"{r.param_grad:10.3e}" if r.param_grad is not None else f"{'':10}"
        ratio = f"{r.ratio:9.2e}" if r.ratio is not None else f"{'':9}"
        lines.append(f"{r.name:<{width}}  {r.op:<12} "
                     f"{r.activation_grad:10.3e}  {param}  {ratio}  {r.flag}".rstrip())
    flagged = [r for r in rows if r.flag]
    lines.append(f"{len(flagged)} layer{'s' * (len(flagged) != 1)} flagged: ‖∂L/∂y‖ below {VANISHING:g} "
                 f"(vanishing) or above {EXPLODING:g} (exploding) times ‖∂L/∂ŷ‖ at the output")
    return "\n".join(lines) + "\n"


def plot(reports: dict[str, list[LayerFlow]], path) -> None:
    """Parameter-gradient norm per layer (depth on x, log scale on y), one line per network."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    from ..compiler.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, rows in reports.items():
        layers = [r for r in rows if r.param_grad is not None]
        ax.plot(range(1, len(layers) + 1), [max(r.param_grad, 1e-300) for r in layers], marker="o", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("layer with parameters (1 = nearest the input)")
    ax.set_ylabel("‖∂L/∂θ‖ (weights and biases)")
    ax.set_title("gradient flow")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)
