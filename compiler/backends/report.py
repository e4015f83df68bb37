"""The analysis report: a terminal table, Markdown, and the JSON contract (docs/report-json.md).

Everything here reads what the passes wrote on the nodes; nothing is recomputed.
"""

from __future__ import annotations

from ..diagnostics import fmt_int
from ..ir import GLOBAL, Graph, Node
from ..ops import REGISTRY

SCHEMA_VERSION = 1
DEFINITIONS = [
    "params: values of weights and biases (a shared parameter counts once); frozen = trainable: false",
    "buffers: BatchNorm running mean and variance (PyTorch's int64 num_batches_tracked is left out)",
    "MACs: multiply-accumulates of convolutions and matrix products per sample (batch 1), "
    "as torchvision counts them; FLOPs = 2 × MACs",
    "activations: bytes of every layer's float32 output per sample",
    "RF: receptive field on the input, in input pixels; jump: input pixels between neighbouring outputs",
]


def _rf(value) -> str:
    if value is None:
        return "—"
    if value is GLOBAL:
        return "all"
    h, w = value
    return f"{h}" if h == w else f"{h}×{w}"


def _rf_json(value) -> list[int] | str | None:
    """[h, w], "global" or null (docs/report-json.md)."""
    if isinstance(value, tuple):
        return list(value)
    return None if value is None else value.value


def _jump(value) -> str:
    if value is None:
        return ""
    h, w = (f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return h if h == w else f"{h}×{w}"


def human(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def layer_json(node: Node) -> dict:
    return {
        "name": node.name,
        "op": node.op,
        "label": REGISTRY[node.op].label(node.attrs) if node.attrs is not None else node.op,
        "inputs": list(node.inputs),
        "output_shape": node.type.as_json() if node.type else None,
        "params": node.param_count,
        "trainable_params": node.param_count if node.trainable else 0,
        "param_shapes": {k: list(v) for k, v in node.params.items()},
        "buffers": {k: list(v) for k, v in node.buffers.items()},
        "shares": node.share,
        "trainable": node.trainable,
        "macs": node.macs,
        "receptive_field": _rf_json(node.receptive_field),
        "jump": list(node.jump) if node.jump else None,
        "arithmetic": list(node.arithmetic),
        "notes": list(node.notes),
        "scope": [s.name for s in node.scope],
        "source": node.span.as_json() if node.span else None,
        "error": node.error.message if node.error else None,
    }


def report_json(graph: Graph) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "name": graph.name,
        "doc": graph.doc,
        "file": graph.file,
        "spec_hash": graph.source_hash,
        "params_used": graph.params,
        "inputs": {n: graph.nodes[n].type.as_json() for n in graph.inputs},
        "outputs": {k: graph.nodes[v].type.as_json() if graph.nodes[v].type else None
                    for k, v in graph.outputs.items()},
        "layers": [layer_json(n) for n in graph.nodes.values() if not n.is_input],
        "totals": graph.totals.as_json(),
        "definitions": DEFINITIONS,
        "diagnostics": [d.as_json() for d in graph.warnings + graph.errors],
    }


def _line(graph: Graph, node: Node) -> str:
    """The layer's line; with the file's name when it sits in an imported library."""
    if node.span is None:
        return ""
    if node.span.file == graph.file:
        return str(node.span.line)
    return f"{node.span.file.replace(chr(92), '/').rsplit('/', 1)[-1]}:{node.span.line}"


def _rows(graph: Graph) -> list[list[str]]:
    rows = []
    for node in graph.nodes.values():
        if node.is_input:
            rows.append([f"{node.name} (input)", _line(graph, node), "",
                         str(node.type), "", "", "", _rf(node.receptive_field)])
            continue
        params = fmt_int(node.param_count) if node.params else ""
        if node.share:
            params = f"→ {node.share}"
        elif node.params and not node.trainable:
            params += " frozen"
        arithmetic = "; ".join(node.arithmetic)
        if node.error:
            arithmetic = "ERROR: " + node.error.message.split("): ", 1)[-1]
        rows.append([f"{node.name} ({node.op})", _line(graph, node),
                     ", ".join(node.inputs), str(node.type) if node.type else "?", arithmetic, params,
                     human(node.macs) if node.macs else "", _rf(node.receptive_field)])
    return rows


HEADER = ["layer (op)", "line", "inputs", "output", "arithmetic", "params", "MACs", "RF"]


def _totals_lines(graph: Graph) -> list[str]:
    t = graph.totals
    frozen = t.params - t.trainable_params
    lines = [
        f"params       {fmt_int(t.params)} ({fmt_int(t.trainable_params)} trainable"
        + (f", {fmt_int(frozen)} frozen" if frozen else "") + ")",
        f"buffers      {fmt_int(t.buffers)}",
        f"MACs         {fmt_int(t.macs) if t.macs is not None else 'unknown (symbolic sizes)'}"
        + (f" ({human(t.macs)})" if t.macs else ""),
        f"FLOPs        {fmt_int(t.flops) if t.flops is not None else 'unknown'}" + (f" ({human(t.flops)})" if t.flops else ""),
        f"activations  {fmt_int(t.activation_bytes) + ' bytes' if t.activation_bytes is not None else 'unknown'}"
        + (f" ({human(t.activation_bytes)}B)" if t.activation_bytes else ""),
    ]
    return lines


def render_table(graph: Graph) -> str:
    rows = _rows(graph)
    widths = [max(len(r[i]) for r in rows + [HEADER]) for i in range(len(HEADER))]
    right = {1, 5, 6, 7}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    ins = ", ".join(f"{n} {graph.nodes[n].type}" for n in graph.inputs)
    outs = ", ".join(f"{k} {graph.nodes[v].type}" for k, v in graph.outputs.items())
    out = [f"{graph.name} ({graph.file}): {ins} → {outs}", "", line(HEADER), line(["─" * w for w in widths])]
    out += [line(r) for r in rows]
    out += ["", *_totals_lines(graph), "", *(f"  {d}" for d in DEFINITIONS)]
    return "\n".join(out)


def render_markdown(graph: Graph) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    out = [f"# {graph.name}", ""]
    if graph.doc:
        out += [graph.doc.strip(), ""]
    out += [f"Source: `{graph.file}`", "",
            "| " + " | ".join(HEADER) + " |", "|" + "|".join("---:" if i in (1, 5, 6, 7) else "---"
                                                             for i in range(len(HEADER))) + "|"]
    out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in _rows(graph)]
    out += ["", "```", *_totals_lines(graph), "```", "", *(f"- {d}" for d in DEFINITIONS), ""]
    return "\n".join(out)
