"""The analysis pass: one walk in data-flow order that writes onto every node its output
type, the arithmetic that produced it, its parameters and buffers, MACs and receptive
field. Errors are wrapped here, once, with the layer's location (ops never format
locations); a node downstream of a failed one is skipped silently, so one mistake gives
one diagnostic.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ..diagnostics import Diagnostic
from ..ir import GLOBAL, Graph, Node, TensorType
from ..ops import REGISTRY, InferLog, ShapeError
from ..ops.base import MAX_SIZE

BYTES_PER_VALUE = 4  # a parameter's or buffer's, float32
MAX_SYMBOLIC_TEXT = 200  # a symbolic size's text; each of its numbers is at most 2^40


class Totals(NamedTuple):
    params: int = 0
    trainable_params: int = 0
    buffers: int = 0
    macs: int | None = 0  # None: a symbolic size leaves some layer's count unknown
    activation_bytes: int | None = 0  # per sample: every layer's output (float32 or int64 switches)

    @property
    def flops(self) -> int | None:
        return None if self.macs is None else 2 * self.macs

    def as_json(self) -> dict[str, Any]:
        return {"params": self.params, "trainable_params": self.trainable_params,
                "frozen_params": self.params - self.trainable_params, "buffers": self.buffers,
                "macs": self.macs, "flops": self.flops, "activation_bytes": self.activation_bytes}


def infer(graph: Graph, strict: bool = False) -> Totals:
    try:
        order = graph.topological()
    except ValueError as e:
        cycle = e.args[0]
        first = graph.nodes[cycle[0]]
        graph.errors.append(Diagnostic(f"the layers form a cycle: {' → '.join(cycle + cycle[:1])}",
                                       first.span_of("in"), code="cycle",
                                       notes=["data must flow one way: break the cycle by changing one `in:`"]))
        return Totals()
    for node in order:
        if node.is_input or node.type is None:  # (one typed while expanding is done)
            infer_node(graph, node, strict)
    _check_shares(graph)
    _check_init(graph)
    _warn_unused(graph)
    return totals(graph)


def infer_node(graph: Graph, node: Node, strict: bool = False) -> None:
    """Annotate one node whose inputs are annotated; a failure is recorded on the node and
    in graph.errors. infer() calls it in data-flow order; so does the expander, on demand,
    for the layers upstream of a block that reads its inputs' shapes."""
    if node.is_input:
        spatial = node.type.rank == 4
        node.receptive_field, node.jump = ((1, 1), (1, 1)) if spatial else (None, None)
        return
    if node.error or node.attrs is None:
        return
    inputs = [graph.nodes[i] for i in node.inputs]
    for source in inputs:
        if source.type is None:
            return
    try:
        _infer_node(graph, node, inputs, strict)
    except ShapeError as e:
        _fail(graph, node, e)


def _infer_node(graph: Graph, node: Node, inputs: list[Node], strict: bool) -> None:
    op = REGISTRY[node.op]
    low, high = op.arity
    if not low <= len(inputs) <= (high or len(inputs)):
        wanted = f"{low}" if low == high else f"{low} to {high}" if high else f"at least {low}"
        raise ShapeError(f"takes {wanted} input(s), given {len(inputs)}", attr="in")
    types = [i.type for i in inputs]
    for k, t in enumerate(types):
        if t.dtype != "float32" and k not in op.integer_inputs:
            raise ShapeError(f"its input '{inputs[k].name}' holds integers ({t.dtype}), which {node.op} "
                             "does not read there", attr="in",
                             notes=["a max pool's switches (`pool.1`) go to max_unpool2d as its second input, "
                                    "`in: [values, pool.1]`; the pool's values are `pool.0`"])
    feeder = graph.nodes[inputs[0].inputs[0]] if inputs and inputs[0].inputs else None
    log = InferLog([i.name for i in inputs], strict, feeder.type.shape[1:] if feeder and feeder.type else None)
    attrs = node.attrs
    out = op.infer(attrs, types, log)
    if not types or out is not types[0]:  # (an elementwise op's output is its input's type, checked before)
        _check_sizes(out)
    node.type = out
    node.arithmetic, node.notes = _square(log.arithmetic), log.notes
    node.params, node.self_param = op.param_shapes(attrs, types, out), op.self_param
    node.buffers = op.buffer_shapes(attrs, types, out)
    node.macs = op.macs(attrs, types, out)
    _receptive(node, op.receptive(attrs, types), inputs)


def _check_sizes(out: TensorType) -> None:
    for d in out.shape:
        if isinstance(d, int) and d > MAX_SIZE:
            raise ShapeError(f"its output would have a size of {d:.3g}; sizes are limited to 2^40")
        if isinstance(d, str) and len(d) > MAX_SYMBOLIC_TEXT:  # e.g. H/2^k after k stride-2 layers
            raise ShapeError(f"its output size {d[:30]}… has grown too complex to follow symbolically; "
                             "give the input a concrete size")


def _square(lines: list[str]) -> list[str]:
    """'H: x' and 'W: x' with the same x say it once."""
    if len(lines) == 2 and lines[0].startswith("H: ") and lines[1].startswith("W: ") and lines[0][3:] == lines[1][3:]:
        return [lines[0][3:]]
    return lines


def _receptive(node: Node, step, inputs: list[Node]) -> None:
    if step is None and len(inputs) == 1:  # an elementwise op, most layers: its input's field as it is
        node.receptive_field, node.jump = inputs[0].receptive_field, inputs[0].jump
        return
    fields = [i.receptive_field for i in inputs]
    if GLOBAL in fields or (step is GLOBAL and any(fields)):
        node.receptive_field, node.jump = GLOBAL, None
        return
    known = [i for i in inputs if isinstance(i.receptive_field, tuple)]
    if not known or node.type.rank != 4 and step is not None:
        node.receptive_field = node.jump = None
        return
    rf = tuple(max(i.receptive_field[a] for i in known) for a in (0, 1))
    jump = tuple(max(i.jump[a] for i in known) for a in (0, 1))
    if step is not None:
        kernel, stride = step
        rf = tuple(r + (k - 1) * j for r, k, j in zip(rf, kernel, jump))
        jump = tuple(j * s for j, s in zip(jump, stride))
        if max(*rf, *jump) > MAX_SIZE:  # wider than any input can be (and too big for a float)
            node.receptive_field, node.jump = GLOBAL, None
            return
    node.receptive_field = tuple(int(round(r)) for r in rf)
    node.jump = tuple(int(j) if float(j).is_integer() else j for j in jump)


def _fail(graph: Graph, node: Node, e: ShapeError) -> None:
    from . import floors  # (imported here: only a mistake needs it)

    span = node.span_of(e.attr) if e.attr else node.span
    notes = list(e.notes)
    # where the input's shape came from: the nearest layers upstream that did arithmetic
    upstream = graph.nodes[node.inputs[0]] if node.inputs else None
    shown = 0
    while upstream is not None and shown < 2:
        if upstream.arithmetic:
            notes.append(f"{upstream.name}: {'; '.join(upstream.arithmetic)}")
            shown += 1
        upstream = graph.nodes[upstream.inputs[0]] if upstream.inputs else None
    what, code = f"({node.op}): {e.message}", _code_of(e)
    found = floors.floors(graph, node)
    if found:  # sizes that agree for multiples of some k: the floor that parted them leads
        what = f"({node.op}): {floors.headline(found[0], span and span.file)}"
        code = "floor-mismatch"
        notes = [e.message, floors.fix(graph, found), *notes]
    else:
        notes += floors.roundings(graph, node)
    # the outputs of one layer (`parts.0`, `parts.1`) fail alike: one mistake, one diagnostic
    same = next((d for d in graph.errors if d.span == span and d.message.endswith(what)), None)
    node.error = same or Diagnostic(f"layer '{node.name}' {what}", span, notes=notes, code=code)
    if same is None:
        graph.errors.append(node.error)


def _code_of(e: ShapeError) -> str:
    return {"in_features": "in-features", "in_channels": "in-channels", "num_features": "in-channels",
            "kernel": "kernel-too-large", "stride": "inexact-division"}.get(e.attr or "", "shape-mismatch")


def _check_shares(graph: Graph) -> None:
    for node in graph.nodes.values():
        if not node.share or node.type is None:
            continue
        owner = graph.nodes.get(node.share)
        seen = {node.name}
        while owner is not None and owner.share and owner.name not in seen:
            seen.add(owner.name)
            owner = graph.nodes.get(owner.share)
        span = node.span_of("share")
        problem = None
        if owner is None or owner.name in seen and owner.share:
            problem = f"shares with '{node.share}', which is not a layer with parameters of its own"
        elif owner.op != node.op or owner.params != node.params:
            problem = (f"cannot share parameters with '{owner.name}': its parameters are "
                       f"{_shapes(owner.params) or 'none'} ({owner.op}), this layer's are "
                       f"{_shapes(node.params) or 'none'} ({node.op})")
        if problem:
            node.error = Diagnostic(f"layer '{node.name}' ({node.op}) {problem}", span, code="bad-share")
            graph.errors.append(node.error)
        else:
            node.share = owner.name


def _shapes(params: dict) -> str:
    return ", ".join(f"{k} {'×'.join(map(str, v))}" for k, v in params.items())


def _check_init(graph: Graph) -> None:
    for node in graph.nodes.values():
        if not node.init or node.type is None:
            continue
        span = node.span_of("init")
        for name, value in node.init.items():
            if name not in node.params:
                graph.errors.append(Diagnostic(
                    f"layer '{node.name}' ({node.op}) has no parameter '{name}' to initialise",
                    span, notes=[f"its parameters: {', '.join(node.params) or 'none'}"], code="bad-init"))
                continue
            if isinstance(value, list):
                shape = _nested_shape(value)
                if shape != node.params[name]:
                    got = "ragged or non-numeric" if shape is None else "×".join(map(str, shape))
                    graph.errors.append(Diagnostic(
                        f"layer '{node.name}' ({node.op}): the inline {name} is {got} but the parameter is "
                        f"{'×'.join(map(str, node.params[name]))}", span, code="bad-init"))


def _nested_shape(value) -> tuple[int, ...] | None:
    if not isinstance(value, list):
        return () if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    shapes = {_nested_shape(v) for v in value}
    if len(shapes) != 1 or None in shapes:
        return None if value else (0,)
    return (len(value), *shapes.pop())


def _warn_unused(graph: Graph) -> None:
    used, stack = set(), list(graph.outputs.values())
    while stack:
        name = stack.pop()
        if name not in used and name in graph.nodes:
            used.add(name)
            stack += graph.nodes[name].inputs
    warned = set()
    for node in graph.nodes.values():
        if node.name in used:
            continue
        # one warning per top-level layer or block instance, however many nodes it holds
        unit, span = (node.scope[0].name, node.scope[0].span) if node.scope else (node.name, node.span)
        if unit in warned:
            continue
        warned.add(unit)
        what = "input" if node.is_input else "layer"
        graph.warnings.append(Diagnostic(f"{what} '{unit}' is never used: no output depends on it",
                                         span, severity="warning", code="unused"))


def totals(graph: Graph) -> Totals:
    params = trainable = buffers = 0
    macs: int | None = 0
    activation_bytes: int | None = 0
    for node in graph.nodes.values():
        if node.is_input:
            continue
        count = node.param_count
        params += count
        if node.trainable:
            trainable += count
        if node.buffers:
            buffers += sum(map(math.prod, node.buffers.values()))
        if macs is not None:
            macs = None if node.macs is None else macs + node.macs
        if activation_bytes is not None:
            per_sample = node.type.bytes_per_sample() if node.type else None
            activation_bytes = None if per_sample is None else activation_bytes + per_sample
    return Totals(params, trainable, buffers, macs, activation_bytes)
