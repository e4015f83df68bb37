"""Backprop, shown: every node's forward value, then the backward pass, for one sample.

The lowered module (`to_torch`) runs under torch.fx's Interpreter, observed at every layer
(backprop.Layers); every node's output keeps its gradient, so after `loss.backward()`
autograd has filled in ∂L/∂(each node's output) and ∂L/∂(each parameter). Each node's share
of its inputs' gradients is the vector-Jacobian product `autograd.grad(y, x, δ)` of that
layer alone; the formulas printed beside the numbers are the ones its op declares
(`Op.chain_rule`, `Op.derivative`), as the slides write them. Everything runs in float64,
so finite differences agree to many digits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..compiler.expand import UsageError
from ..compiler.ir import Graph, Node
from ..compiler.ops import REGISTRY
from .backprop import Layers, loss_value, parse_input, parse_target, random_inputs
from .losses import LOSSES

SMALL = 16  # values per sample up to which a tensor is printed whole, else summarised
JACOBIAN_SIZE = 8  # a parameter-free layer's Jacobian is printed when both sides are this small


# --- the explanation -------------------------------------------------------------------

@dataclass
class Explanation:
    graph: Graph
    loss_name: str
    output: str  # the node whose output the loss reads
    target: torch.Tensor
    loss: float
    values: dict[str, torch.Tensor]  # node -> its output
    grads: dict[str, torch.Tensor]  # node -> ∂L/∂(its output)
    edge_grads: dict[tuple[str, str], torch.Tensor]  # (input, node) -> node's share of ∂L/∂input
    params: dict[str, torch.Tensor]  # "layer.weight" -> value
    param_grads: dict[str, torch.Tensor]  # "layer.weight" -> ∂L/∂value
    derivatives: dict[str, torch.Tensor] = field(default_factory=dict)  # elementwise node -> f'(x)
    jacobians: dict[str, torch.Tensor] = field(default_factory=dict)  # small parameter-free node -> ∂y/∂x
    step: "Step | None" = None


@dataclass
class Step:
    lr: float
    loss_after: float
    params_after: dict[str, torch.Tensor]
    frozen: list[str]  # parameters the spec does not train, left as they were


def prepare(graph: Graph, model: nn.Module) -> nn.Module:
    """The model in float64 and eval mode (no dropout noise, batch norm's running
    statistics), with every parameter requiring a gradient: a frozen layer's gradient is
    still worth seeing, `step` leaves it unchanged."""
    model = model.double().eval()
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def explain(graph: Graph, model: nn.Module, inputs: dict[str, torch.Tensor], target_text: str | None,
            loss: str, seed: int = 0, lr: float | None = None) -> Explanation:
    """Forward and backward through `model` (prepared by `prepare`) on `inputs`."""
    layers = Layers(graph, model)
    inputs = {k: v.detach().clone().requires_grad_(True) for k, v in inputs.items()}
    values = layers.run(inputs, keep_grad=True)
    output = next(iter(graph.outputs.values()))
    target = parse_target(target_text, values[output], loss, seed)
    value = loss_value(loss, values[output], target)
    model.zero_grad(set_to_none=True)
    try:
        value.backward()
    except RuntimeError as e:  # the step op refuses, naming its layer
        raise UsageError(f"cannot backpropagate through '{graph.name}': {e}") from None

    grads = {name: _grad(v) for name, v in values.items()}
    edge_grads = {}
    for node in layers.nodes:
        if not grads[node.name].any() or not layers.sources(node):  # no gradient reaches it (nor passes
            continue  # through a step op), or it has no input to pass it on to (a free parameter)
        # the node alone, on detached copies of its inputs: its own share of their gradients,
        # not that of other paths between them (a residual block's input reaches its sum twice)
        # (a max pool's switches are integers: no gradient flows through them)
        sources = [values[i].detach().requires_grad_(values[i].is_floating_point()) for i in layers.sources(node)]
        names, wrt = zip(*[(i, s) for i, s in zip(layers.sources(node), sources) if s.requires_grad])
        shares = torch.autograd.grad(layers.function(node)(*sources), wrt, grads[node.name], allow_unused=True)
        for name, s, share in zip(names, wrt, shares):
            edge_grads[(name, node.name)] = torch.zeros_like(s) if share is None else share

    params = {n.state_key(p): model.get_parameter(n.state_key(p))
              for n in graph.nodes.values() if not n.is_input and not n.share for p in n.params}
    explanation = Explanation(
        graph, loss, output, target, value.item(), {k: v.detach() for k, v in values.items()}, grads, edge_grads,
        {k: p.detach().clone() for k, p in params.items()},
        {k: torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for k, p in params.items()})
    _local_derivatives(explanation, layers)
    if lr is not None:
        explanation.step = gradient_step(explanation, model, layers, inputs, lr)
    return explanation


def _grad(t: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(t) if t.grad is None else t.grad.detach()


def _local_derivatives(e: Explanation, layers: Layers) -> None:
    """f'(x) of each elementwise layer (the op names its derivative) and the whole Jacobian
    of each small parameter-free one (softmax), for the first sample."""
    for node in layers.nodes:
        op = REGISTRY[node.op]
        if len(node.inputs) != 1 or node.params or not e.grads[node.name].any():
            continue
        fn = layers.function(node)
        x = e.values[node.inputs[0]][:1].detach().requires_grad_(True)
        if op.derivative:
            y = fn(x)
            e.derivatives[node.name] = torch.autograd.grad(y, x, torch.ones_like(y))[0]
        elif x.numel() <= JACOBIAN_SIZE and e.values[node.name][:1].numel() <= JACOBIAN_SIZE:
            jacobian = torch.autograd.functional.jacobian(fn, x)
            e.jacobians[node.name] = jacobian.reshape(e.values[node.name][:1].numel(), x.numel())


def gradient_step(e: Explanation, model: nn.Module, layers: Layers, inputs, lr: float) -> Step:
    """One step of gradient descent, W ← W − η·∂L/∂W, on the layers the spec trains; the
    model is left as it was."""
    frozen = [name for name in e.params if not e.graph.nodes[name.rsplit(".", 1)[0]].trainable]
    after = {name: value if name in frozen else value - lr * e.param_grads[name] for name, value in e.params.items()}
    with torch.no_grad():
        for name, value in after.items():
            model.get_parameter(name).copy_(value)
        loss_after = loss_value(e.loss_name, layers.run(inputs)[e.output], e.target).item()
        for name, value in e.params.items():
            model.get_parameter(name).copy_(value)
    return Step(lr, loss_after, after, frozen)


# --- text ------------------------------------------------------------------------------

def fmt(t: torch.Tensor, digits: int = 6) -> str:
    """A sample's values: whole when small, else shape, norm and range."""
    if t.numel() > SMALL:
        return (f"{'×'.join(map(str, t.shape))}: ‖·‖ = {t.norm():.{digits}g}, "
                f"min {t.min():.{digits}g}, max {t.max():.{digits}g}")
    return _nested(t.tolist(), digits)


def _nested(v, digits: int) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_nested(x, digits) for x in v) + "]"
    return f"{v + 0.0:.{digits}g}"  # + 0.0: no "-0"


def _sample(t: torch.Tensor) -> torch.Tensor:
    """The first sample, without its batch dim."""
    return t[0] if t.dim() > 1 else t


def _label(node: Node) -> str:
    return "input" if node.is_input else REGISTRY[node.op].label(node.attrs)


def _consumers(graph: Graph) -> dict[str, list[str]]:
    users = {name: [] for name in graph.nodes}
    for node in graph.nodes.values():
        for i in node.inputs:
            users[i].append(node.name)
    return users


def render(e: Explanation) -> str:
    graph, order = e.graph, e.graph.topological()
    loss = LOSSES[e.loss_name]
    width, label_width = max(len(n.name) for n in order), max(len(_label(n)) for n in order)
    lines = [f"{graph.name}: loss {e.loss_name}, {loss.formula}; values of the first sample, "
             "δ = ∂L/∂(a layer's output)", "", "forward, in graph order"]
    for node in order:
        lines.append(f"  {node.name:<{width}}  {_label(node):<{label_width}}  {fmt(_sample(e.values[node.name]))}")
        lines += [f"  {'':<{width}}  {p:>{label_width}}  {fmt(e.params[node.state_key(p)])}"
                  for p in node.params if not node.share]
    target = e.target[0] if e.target.dim() else e.target
    lines += [f"  target y = {fmt(target)}", f"  L = {e.loss:.6g}", "",
              "backward, from the loss to the inputs"]
    lines.append(f"  ∂L/∂{e.output} = ∂L/∂ŷ = {loss.gradient} = {fmt(_sample(e.grads[e.output]))}")
    users = _consumers(graph)
    for node in reversed(order):
        lines += [""] + _backward_lines(e, node, users)
    if e.step:
        lines += ["", _step_text(e)]
    return "\n".join(lines) + "\n"


def _backward_lines(e: Explanation, node: Node, users: dict[str, list[str]]) -> list[str]:
    op = REGISTRY.get(node.op)
    delta = f"δ = ∂L/∂{node.name}"
    if len(users[node.name]) > 1:
        delta += " = " + " + ".join(f"(from {u})" for u in users[node.name])
    lines = [f"  {node.name}  {_label(node)}" + (f"  (x = {', '.join(node.inputs)})" if node.inputs else ""),
             f"      {delta} = {fmt(_sample(e.grads[node.name]))}"]
    if op is None:  # a graph input
        return lines
    if node.name in e.derivatives:
        lines.append(f"      {op.derivative} = {fmt(_sample(e.derivatives[node.name]))}")
    if node.name in e.jacobians:
        lines.append(f"      J = ∂{node.name}/∂{node.inputs[0]} = {fmt(e.jacobians[node.name])}")
    if node.share and node.params:
        lines.append(f"      its parameters are {node.share}'s: ∂L/∂ there sums over every layer using them")
    for p in node.params if not node.share else ():
        name = node.state_key(p)
        lines.append(f"      ∂L/∂{name} = {op.chain_rule.get(p, '')}{' = ' if p in op.chain_rule else ''}"
                     f"{fmt(e.param_grads[name])}")
    rule = op.chain_rule.get("x", "Jᵀ δ")
    for i in dict.fromkeys(node.inputs):
        share = e.edge_grads.get((i, node.name))
        if share is None:
            continue
        whose = f"∂L/∂{i}" if len(users[i]) == 1 else f"∂L/∂{i}, from {node.name},"
        lines.append(f"      {whose} = {rule} = {fmt(_sample(share))}")
    return lines


def _step_text(e: Explanation) -> str:
    s = e.step
    lines = [f"gradient step W ← W − η·∂L/∂W, η = {s.lr:g}"]
    for name, value in s.params_after.items():
        mark = "  (frozen in the spec: unchanged)" if name in s.frozen else ""
        lines.append(f"  {name} = {fmt(value)}{mark}")
    change = s.loss_after - e.loss
    lines.append(f"  L: {e.loss:.6g} → {s.loss_after:.6g} ({change:+.6g})")
    return "\n".join(lines)


def as_json(e: Explanation) -> dict:
    """Every number at full precision, for scripts and tests."""
    out = {
        "network": e.graph.name, "loss_name": e.loss_name, "loss": e.loss, "output": e.output,
        "target": e.target.tolist(),
        "forward": {k: v.tolist() for k, v in e.values.items()},
        "gradients": {k: v.tolist() for k, v in e.grads.items()},
        "edges": [{"from": a, "to": b, "gradient": g.tolist()} for (a, b), g in e.edge_grads.items()],
        "parameters": {k: {"value": v.tolist(), "gradient": e.param_grads[k].tolist()} for k, v in e.params.items()},
        "derivatives": {k: v.tolist() for k, v in e.derivatives.items()},
        "jacobians": {k: v.tolist() for k, v in e.jacobians.items()},
    }
    if e.step:
        out["step"] = {"lr": e.step.lr, "loss_after": e.step.loss_after,
                       "parameters": {k: v.tolist() for k, v in e.step.params_after.items()}}
    return out


# --- the diagram -----------------------------------------------------------------------

def diagram_notes(e: Explanation) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Text for the diagram backend's hook: each node's forward value (and its weights'
    gradient norms), each edge's gradient. Tensors too big to print are summarised."""
    nodes = {}
    for name, value in e.values.items():
        rows = [f"value {fmt(_sample(value), 4)}", f"δ {fmt(_sample(e.grads[name]), 4)}"]
        rows += [f"∂L/∂{k.rsplit('.', 1)[1]} {fmt(g, 4)}" for k, g in e.param_grads.items()
                 if k.rsplit(".", 1)[0] == name]
        nodes[name] = "\n".join(rows)
    edges = {(a, b): f"← ∂L/∂{a} {fmt(_sample(g), 4)}" for (a, b), g in e.edge_grads.items()}
    return nodes, edges


# --- the command -----------------------------------------------------------------------

def load_model(graph: Graph, weights: str | None, seed: int) -> nn.Module:
    """The lowered module with the spec's initialisation (seeded) or a checkpoint's weights."""
    from ..compiler import to_torch
    from ..compiler.backends import weights as stored

    model = to_torch(graph, seed=seed)
    if weights:
        values = stored.load_checkpoint(weights)
        stored.check(graph, values, weights)
        model.load_state_dict({k: torch.as_tensor(v) for k, v in values.items()}, strict=False)
    return model


def command(graph: Graph, args) -> str:
    """`nncompile explain`: the report's text; pictures are written where asked."""
    import json
    import sys

    from . import gradient_flow as flow

    model = load_model(graph, args.weights, args.seed)
    if args.gradient_flow:
        if args.batch < 1:
            raise UsageError("--batch must be at least 1")
        rows = flow.gradient_flow(graph, model, args.batch, args.loss, args.target, args.seed)
        if args.plot:
            flow.plot({graph.name: rows}, args.plot)
            print(f"wrote {args.plot}", file=sys.stderr)
        return flow.render(rows, f"gradient flow of '{graph.name}': batch of {args.batch}, loss {args.loss}, "
                                 f"seed {args.seed}")
    inputs = parse_input(graph, args.input) if args.input else random_inputs(graph, 1, args.seed)
    e = explain(graph, prepare(graph, model), inputs, args.target, args.loss, args.seed, args.step)
    if args.draw:
        from ..compiler.backends import diagram

        notes, edge_notes = diagram_notes(e)
        try:
            diagram.write(diagram.draw(graph, notes=notes, edge_notes=edge_notes).dot, args.draw)
        except (diagram.DotNotFound, diagram.RenderError) as error:
            raise UsageError(str(error)) from None
        print(f"wrote {args.draw}", file=sys.stderr)
    return json.dumps(as_json(e), indent=2) + "\n" if args.json else render(e)
