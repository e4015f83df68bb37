"""`nncompile verify`: one network seen four ways, cross-checked.

The static analysis (shapes, parameter totals), the PyTorch module (its real parameters
and output shapes), the direct ONNX export (onnx.checker, and ONNX's own shape inference
in strict mode against our shapes for every layer) and onnxruntime (its outputs against
torch's with the same weights, on random inputs at a few batch sizes). Each comparison is
a row of the table; any disagreement fails the whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ir import Graph

SKELETON_MAX_BYTES = 4096  # initializers larger than this are dropped before shape inference
# The least output scale a difference is measured against: onnxruntime's float32 sigmoid and
# tanh are approximations with an absolute error near 1e-8, which outputs near 1e-5 (a
# saturated sigmoid) would otherwise turn into a large relative one.
SCALE_FLOOR = 1e-3
SELECTED_SLACK = 0.01  # rows of a data-chosen output (R≤N·1000) that may differ: near-equal scores ranked apart


@dataclass
class Check:
    what: str
    detail: str
    ok: bool


def verify(graph: Graph, batches=(1, 3), tolerance: float = 1e-4, seed: int = 0,
           sizes: dict[str, int] | None = None, progress=None) -> list[Check]:
    """The table's rows. `sizes` gives symbolic input sizes other than the batch a value
    (default backends.onnx.SAMPLE_SIZE). `progress(step, done, total)`, if given, hears of
    each step as it starts."""
    import onnx
    import onnxruntime as ort
    import torch

    from .backends import weights
    from .backends.onnx import batch_sizes, sample_shape, to_onnx
    from .backends.torch import to_torch

    steps = ["torch module", "onnx export", "onnx checker", "onnx shape inference", "onnxruntime session",
             *(f"onnxruntime N={batch}" for batch in batches)]

    def starting(step: str) -> None:
        if progress:
            progress(step, steps.index(step), len(steps))

    starting("torch module")
    totals = graph.totals
    checks = [Check("static analysis", f"{totals.params:,} params, {totals.buffers:,} buffer values; "
                    + ", ".join(f"{o} {graph.nodes[s].type}" for o, s in graph.outputs.items()), True)]
    module = to_torch(graph, seed=seed).eval()
    params = sum(p.numel() for p in module.parameters())  # a shared parameter counts once
    buffers = sum(b.numel() for name, b in module.named_buffers() if not name.endswith(weights.IGNORED_SUFFIXES))
    checks.append(Check("torch parameters", f"{params:,} params, {buffers:,} buffer values",
                        (params, buffers) == (totals.params, totals.buffers)))

    starting("onnx export")
    model = to_onnx(graph, weights=module.state_dict())
    stored = {t.name: int(np.prod(t.dims)) for t in model.graph.initializer}
    # initializers are named `layer.name`, the state_dict's keys but for a free parameter's
    names = {n.state_key(k): f"{n.name}.{k}" for n in graph.nodes.values() for k in {**n.params, **n.buffers}}
    in_onnx = sum(stored[names[k]] for k in weights.expected(graph))
    checks.append(Check("onnx initializers", f"{in_onnx:,} values", in_onnx == totals.params + totals.buffers))
    starting("onnx checker")
    try:
        onnx.checker.check_model(model, full_check=True)
        checks.append(Check("onnx checker (full)", f"opset {model.opset_import[0].version}, "
                            f"{len(model.graph.node)} nodes", True))
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        checks.append(Check("onnx checker (full)", _first_line(e), False))
    starting("onnx shape inference")
    problems, total = shape_disagreements(model, graph)
    checks.append(Check("onnx shape inference (strict)",
                        f"{total - len(problems)}/{total} layer outputs agree" + "".join(f"\n  {p}" for p in problems[:5]),
                        not problems))

    starting("onnxruntime session")
    try:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime refuses the model: say why, as a failed row
        return checks + [Check("onnxruntime session", _first_line(e), False)]
    rng = np.random.default_rng(seed)
    for batch in batches:
        starting(f"onnxruntime N={batch}")
        values = batch_sizes(graph, batch, sizes)
        feeds = sample_feeds(graph, values, rng)
        with torch.no_grad():
            expected = module(*(torch.from_numpy(x) for x in feeds.values()))
        expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
        got = session.run(list(graph.outputs), feeds)
        for (output, source), want, have in zip(graph.outputs.items(), expected, got):
            compare = _compare_selected if _selected(graph.nodes[source].type) else _compare
            checks.append(compare(f"onnxruntime {output} N={batch}",
                                  sample_shape(graph.nodes[source].type, values), want.detach().numpy(), have,
                                  tolerance))  # detach: an output may be a parameter itself
    return checks


def check_sizes(graph: Graph, sizes: dict[str, int]) -> None:
    """`--size` for a symbol no input has would be ignored: refused (UsageError), naming those
    there are (an input written 16*h takes h, not H)."""
    from .diagnostics import did_you_mean
    from .expand import UsageError
    from .symbolic import as_sym

    dims = {s.symbol: s for i in graph.inputs for s in map(as_sym, graph.nodes[i].type.shape) if s is not None}
    for name in sizes:
        if name not in dims:
            known = ", ".join(f"{s.symbol} (in {s})" if s.m > 1 else s.symbol for s in dims.values()) or "none"
            raise UsageError(f"--size {name}: no input has the symbolic size '{name}'{did_you_mean(name, dims)}; "
                             f"the inputs' sizes: {known}")


def sample_feeds(graph: Graph, values: dict[str, int], rng) -> dict[str, np.ndarray]:
    """Random inputs at the sizes `values`: standard normal, but where a layer that reads an
    input needs valid values (boxes inside the image) that layer's op draws them."""
    from .backends.onnx import sample_shape
    from .ops import REGISTRY

    shape = {name: sample_shape(node.type, values) for name, node in graph.nodes.items()}
    feeds = {name: rng.standard_normal(shape[name]).astype(np.float32) for name in graph.inputs}
    for node in graph.nodes.values():
        for k, source in enumerate(node.inputs):
            drawn = REGISTRY[node.op].sample_input(node.attrs, k, [shape[i] for i in node.inputs], rng) \
                if source in feeds else None
            if drawn is not None:
                feeds[source] = drawn
    return feeds


def _compare(what: str, static: tuple, want: np.ndarray, have: np.ndarray, tolerance: float) -> Check:
    shapes = {"static": static, "torch": want.shape, "onnxruntime": have.shape}
    agree = want.shape == have.shape and len(static) == len(have.shape) and \
        all(s is None or s == n for s, n in zip(static, have.shape))
    if not agree:
        return Check(what, ", ".join(f"{k} {'×'.join(map(str, s))}" for k, s in shapes.items()), False)
    scale = float(np.abs(want).max()) if want.size else 0.0
    diff = float(np.abs(want.astype(np.float64) - have).max()) if want.size else 0.0
    relative = diff / max(scale, SCALE_FLOOR)
    return Check(what, f"{'×'.join(map(str, have.shape))}, max |Δ| {diff:.2g} = {relative:.2g} of max |y| {scale:.3g}",
                 relative <= tolerance)


def _selected(t) -> bool:
    """Rows the data choose: a first size written with its bound (`R≤N·1000`, the boxes NMS keeps)."""
    return t.rank == 2 and isinstance(t.shape[0], str) and "≤" in t.shape[0]


def _compare_selected(what: str, static: tuple, want: np.ndarray, have: np.ndarray, tolerance: float) -> Check:
    """Rows chosen by ranking scores (top-k, NMS): where two candidates' scores lie closer than
    the float rounding of the layers before, torch and onnxruntime may rank them apart, and
    list two rows the other way round or keep a different box. So the rows are compared as
    sets, and all but SELECTED_SLACK of them must agree; a wrong decoding, a box of the wrong
    image or a count that is not nearly the same still fails."""
    if want.ndim != 2 or have.ndim != 2 or want.shape[1] != have.shape[1] or static[1:] != have.shape[1:]:
        return _compare(what, static, want, have, tolerance)
    rows = max(len(want), len(have))
    scale = float(np.abs(want).max()) if want.size else 0.0
    close = np.ones((len(want), len(have)), dtype=bool)
    for k in range(want.shape[1]):
        close &= np.abs(want[:, k, None].astype(np.float64) - have[None, :, k]) <= tolerance * max(scale, SCALE_FLOOR)
    agree = min(int(close.any(1).sum()), int(close.any(0).sum()))
    in_place = int(np.sum(close.diagonal())) if len(want) == len(have) else 0
    detail = (f"{'×'.join(map(str, have.shape))} (torch {len(want)} rows), {agree}/{rows} rows agree as a set, "
              f"{in_place} in place, within {tolerance:g} of max |y| {scale:.3g}")
    return Check(what, detail, rows - agree <= SELECTED_SLACK * rows)


def shape_disagreements(model, graph: Graph) -> tuple[list[str], int]:
    """ONNX's shape inference (strict mode) run on the model without our value_info, against
    our static type of every layer output: (disagreements, layer outputs compared). A
    concrete size must be equal; where ours is symbolic, ONNX's must not be a number."""
    import onnx

    try:
        # data_prop: a shape computed from Shape ops (a parameter expanded to the batch) is followed
        inferred = onnx.shape_inference.infer_shapes(_skeleton(model), strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as e:
        return [_first_line(e)], len(graph.nodes)
    found = {v.name: v.type.tensor_type for v in [*inferred.graph.value_info, *inferred.graph.output]}
    layers = {name: n.type for name, n in graph.nodes.items() if not n.is_input and n.type is not None}
    layers.update({o: graph.nodes[s].type for o, s in graph.outputs.items()})
    problems = []
    for name, ours in layers.items():
        theirs = found.get(name)
        if theirs is None or not theirs.HasField("shape"):
            problems.append(f"{name}: ours {ours}, ONNX inferred no shape")
            continue
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in theirs.shape.dim]
        if len(dims) != ours.rank or any(isinstance(o, int) != isinstance(t, int) or isinstance(o, int) and o != t
                                         for o, t in zip(ours.shape, dims)):
            problems.append(f"{name}: ours {ours}, ONNX's {'×'.join(map(str, dims))}")
    return problems, len(layers)


def _skeleton(model):
    """The model without value_info and without the contents of large initializers: what
    shape inference needs, at no cost of copying VGG's weights."""
    import onnx

    light = onnx.ModelProto(ir_version=model.ir_version, opset_import=model.opset_import)
    g = model.graph
    light.graph.name = g.name
    light.graph.node.extend(g.node)
    light.graph.input.extend(g.input)
    for t in g.initializer:
        if len(t.raw_data) <= SKELETON_MAX_BYTES:
            light.graph.initializer.append(t)
        else:  # an input of the same type and shape says as much to shape inference
            light.graph.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    light.graph.output.extend(onnx.helper.make_tensor_value_info(o.name, o.type.tensor_type.elem_type, None)
                              for o in g.output)
    return light


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def render(checks: list[Check]) -> str:
    width = max(len(c.what) for c in checks)
    lines = []
    for c in checks:
        first, *rest = c.detail.split("\n")
        lines.append(f"{'ok  ' if c.ok else 'FAIL'}  {c.what:<{width}}  {first}")
        lines += [f"{'':6}{'':<{width}}  {r.strip()}" for r in rest]
    failed = sum(not c.ok for c in checks)
    lines.append(f"{len(checks) - failed}/{len(checks)} checks agree" + (f"; {failed} disagree" if failed else ""))
    return "\n".join(lines)
