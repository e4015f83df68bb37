"""The analysis report: a terminal table, Markdown, and the JSON contract (docs/report-json.md).

Everything here reads what the passes wrote on the nodes; nothing is recomputed.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as _string

from ..diagnostics import fmt_int
from ..ir import GLOBAL, Graph, Node, Scope
from ..ops import REGISTRY
from ..passes.infer import BYTES_PER_VALUE
from .indented_json import encode, object_text, objects_text
from .table import BOLD, Column, Row, fit, layout, paint

SCHEMA_VERSION = 1
DEFINITIONS = [
    "params: values of weights and biases (a shared parameter counts once); frozen = trainable: false",
    "buffers: BatchNorm running mean and variance (PyTorch's int64 num_batches_tracked is left out)",
    "MACs: multiply-accumulates of convolutions and matrix products per sample (batch 1), "
    "as torchvision counts them; FLOPs = 2 × MACs",
    "activations: bytes of every layer's output per sample (float32: 4 a value; a max pool's int64 switches: 8)",
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


_LAYER_VALUE = "\n" + "  " * 3  # where a layer's values sit: in the report, its "layers", the layer


def _layer_fields(node: Node, repeated: dict[str, dict]) -> dict[str, str]:
    """A layer's entry in the report (docs/report-json.md): its keys, each with its value's JSON
    text. repeated: by field, the text of a value many layers repeat (a shape), by that value."""
    count = node.param_count
    shape = node.type.shape if node.type else None
    # (a value most layers share, an empty list, no error…, is written without a call)
    return {
        "name": _string(node.name),
        "op": _string(node.op),
        "label": _string(REGISTRY[node.op].label(node.attrs) if node.attrs is not None else node.op),
        "inputs": encode(node.inputs, _LAYER_VALUE),
        "output_shape": _repeated(repeated["output_shape"], shape, node.type.as_json() if node.type else None),
        "params": str(count),
        "trainable_params": str(count) if node.trainable else "0",
        "param_shapes": _repeated(repeated["param_shapes"], tuple(node.params.items()), node.params),
        "buffers": _repeated(repeated["buffers"], tuple(node.buffers.items()), node.buffers),
        "shares": "null" if node.share is None else _string(node.share),
        "trainable": encode(node.trainable, _LAYER_VALUE),
        "macs": str(node.macs) if type(node.macs) is int else encode(node.macs, _LAYER_VALUE),
        "receptive_field": "null" if node.receptive_field is None
                           else encode(_rf_json(node.receptive_field), _LAYER_VALUE),
        "jump": encode(list(node.jump), _LAYER_VALUE) if node.jump else "null",
        "arithmetic": encode(node.arithmetic, _LAYER_VALUE) if node.arithmetic else "[]",
        "notes": encode(node.notes, _LAYER_VALUE) if node.notes else "[]",
        "scope": encode([s.name for s in node.scope], _LAYER_VALUE) if node.scope else "[]",
        "source": encode(node.span.as_json(), _LAYER_VALUE) if node.span else "null",
        "error": "null" if node.error is None else _string(node.error.message),
    }


def _repeated(texts: dict, key, value) -> str:
    """The value's text at a layer's field, encoded once for each of the field's `key`s (its
    hashable form: the dims are ints and names, which compare only to equal text)."""
    text = texts.get(key)
    if text is None:
        text = texts[key] = encode(value, _LAYER_VALUE)
    return text


def render_json(graph: Graph) -> str:
    """The report as `build --format json` prints it: json.dumps(…, indent=2)'s text of the
    contract (docs/report-json.md), each layer written from its node without a dict of values."""
    at = "\n  "  # where the report's values sit
    repeated: dict[str, dict] = {"output_shape": {}, "param_shapes": {}, "buffers": {}}
    return object_text({
        "schema_version": encode(SCHEMA_VERSION, at),
        "name": encode(graph.name, at),
        "doc": encode(graph.doc, at),
        "file": encode(graph.file, at),
        "spec_hash": encode(graph.source_hash, at),
        "params_used": encode(graph.params, at),
        "inputs": encode({n: graph.nodes[n].type.as_json() for n in graph.inputs}, at),
        "outputs": encode({k: graph.nodes[v].type.as_json() if graph.nodes[v].type else None
                           for k, v in graph.outputs.items()}, at),
        "layers": objects_text([_layer_fields(n, repeated) for n in graph.nodes.values() if not n.is_input], at),
        "totals": encode(graph.totals.as_json(), at),
        "definitions": encode(DEFINITIONS, at),
        "diagnostics": encode([d.as_json() for d in graph.warnings + graph.errors], at),
    }, "\n")


def report_json(graph: Graph) -> dict:
    """The report as data: render_json's text read back (the contract is written once)."""
    return json.loads(render_json(graph))


def _line(graph: Graph, span) -> str:
    """The line of a layer or block; with the file's name when it sits in an imported library."""
    if span is None:
        return ""
    if span.file == graph.file:
        return str(span.line)
    return f"{span.file.replace(chr(92), '/').rsplit('/', 1)[-1]}:{span.line}"


COLUMNS = [  # in the table's order; `drop`: the order they go in to fit a narrow terminal
    Column("layer", "layer (op)", wrap=True),
    Column("line", "line", right=True, drop=0),
    Column("inputs", "inputs", wrap=True, drop=2),
    Column("output", "output"),
    Column("arithmetic", "arithmetic", wrap=True, drop=1),
    Column("params", "params", right=True),
    Column("macs", "MACs", right=True),
    Column("rf", "RF", right=True, drop=3),
]
HEADER = [c.title for c in COLUMNS]


def levels(node: Node) -> list[Scope]:
    """The blocks a node sits in, outermost first, each repeated instance inside its stage (the
    repeated call: `layer1` around `layer1.0`). A stage is a Scope with a repeat and no index.
    `build --depth` and `draw --depth` count these levels."""
    out = []
    for s in node.scope:
        if s.index is not None:
            out.append(Scope(s.name.rsplit(".", 1)[0], s.block, None, s.repeat, s.span))
        out.append(s)
    return out


def _layer_cells(graph: Graph, node: Node, inputs: list[str], indent: str = "") -> dict[str, str]:
    if node.is_input:
        return {"layer": f"{node.name} (input)", "line": _line(graph, node.span), "output": str(node.type),
                "rf": _rf(node.receptive_field)}
    params = fmt_int(node.param_count) if node.params else ""
    if node.share:
        params = f"→ {node.share}"
    elif node.params and not node.trainable:
        params += " frozen"
    arithmetic = "; ".join(node.arithmetic)
    if node.error:
        arithmetic = "ERROR: " + node.error.message.split("): ", 1)[-1]
    return {"layer": f"{indent}{node.name} ({node.op})", "line": _line(graph, node.span), "inputs": ", ".join(inputs),
            "output": str(node.type) if node.type else "?", "arithmetic": arithmetic, "params": params,
            "macs": human(node.macs) if node.macs else "", "rf": _rf(node.receptive_field)}


def _block_cells(graph: Graph, block: Scope, nodes: list[Node], inputs: list[str], out: Node,
                 indent: str) -> dict[str, str]:
    """One row for a block: its layers' totals and the output it hands on."""
    kind = f"{block.block} × {block.repeat}" if block.index is None and block.repeat else block.block
    params = sum(n.param_count for n in nodes)
    macs = None if any(n.macs is None for n in nodes) else sum(n.macs for n in nodes)  # None: a symbolic size
    return {"layer": f"{indent}{block.name} ({kind})", "line": _line(graph, block.span), "inputs": ", ".join(inputs),
            "output": str(out.type) if out.type else "?", "arithmetic": f"{len(nodes)} layers",
            "params": fmt_int(params) if params else "", "macs": human(macs) if macs or macs is None else "",
            "rf": _rf(out.receptive_field)}


def _rows(graph: Graph, depth: int | None = None) -> list[Row]:
    """A row per layer; with `depth` (torchinfo's habit), a row per block nested deeper than
    `depth` levels, under a row (bold) for each block around it, indented by level, with totals."""
    if depth is None:  # a row per layer, its inputs named as they are
        return [Row(_layer_cells(graph, node, node.inputs)) for node in graph.nodes.values()]
    row_of, scope_of, members = {}, {}, {}  # node -> its row; row or block -> its Scope, its nodes
    order: list[tuple[str, int]] = []  # (row or block, level) in the table's order
    for node in graph.nodes.values():
        scopes = levels(node)
        cut = depth is not None and len(scopes) > depth
        row_of[node.name] = scopes[depth].name if cut else node.name
        around = scopes[:depth + 1] if cut else scopes[:depth]
        for level, scope in enumerate(around):
            if scope.name not in members:
                scope_of[scope.name] = scope
                order.append((scope.name, level))
            members.setdefault(scope.name, []).append(node)
        if not cut:
            members[node.name] = [node]
            order.append((node.name, len(around)))
    consumers: dict[str, list[str]] = {}
    for node in graph.nodes.values():
        for src in node.inputs:
            consumers.setdefault(src, []).append(node.name)
    rows = []
    for key, level in order:
        nodes = members[key]
        if key not in scope_of:
            inputs = [row_of.get(src, src) for src in nodes[0].inputs]
            rows.append(Row(_layer_cells(graph, nodes[0], inputs, "  " * level)))
            continue
        inside = {n.name for n in nodes}
        inputs = list(dict.fromkeys(row_of.get(src, src) for n in nodes for src in n.inputs if src not in inside))
        out = next((n for n in reversed(nodes) if n.name in graph.outputs.values()
                    or any(c not in inside for c in consumers.get(n.name, ()))), nodes[-1])
        rolled_up = level == depth
        rows.append(Row(_block_cells(graph, scope_of[key], nodes, inputs, out, "  " * level), strong=not rolled_up))
    return rows


def columns_named(names: list[str] | None) -> list[Column]:
    """The columns of --columns, in the order given; raises ValueError naming an unknown one."""
    if names is None:
        return list(COLUMNS)
    by_key = {c.key: c for c in COLUMNS}
    unknown = [n for n in names if n.lower() not in by_key]
    if unknown or not names:
        raise ValueError(f"unknown column {', '.join(map(repr, unknown))}; the columns are "
                         f"{', '.join(by_key)}" if unknown else "no columns given")
    return [by_key[n.lower()] for n in names]


def _mb(size: int | None) -> str:
    return "unknown" if size is None else f"{size / 10**6:,.2f} MB"


def _totals_lines(graph: Graph) -> list[str]:
    t = graph.totals
    frozen = t.params - t.trainable_params
    params_bytes = (t.params + t.buffers) * BYTES_PER_VALUE
    activations = t.activation_bytes
    lines = [
        f"params       {fmt_int(t.params)} ({fmt_int(t.trainable_params)} trainable"
        + (f", {fmt_int(frozen)} frozen" if frozen else "") + ")",
        f"buffers      {fmt_int(t.buffers)}",
        f"MACs         {fmt_int(t.macs) if t.macs is not None else 'unknown (symbolic sizes)'}"
        + (f" ({human(t.macs)})" if t.macs else ""),
        f"FLOPs        {fmt_int(t.flops) if t.flops is not None else 'unknown'}" + (f" ({human(t.flops)})" if t.flops else ""),
        f"activations  {fmt_int(activations) + ' bytes' if activations is not None else 'unknown'}"
        + (f" ({human(activations)}B)" if activations else ""),
        f"memory       {_mb(params_bytes)} params and buffers, {_mb(activations)} activations per sample "
        f"(float32)",
    ]
    return lines


def render_table(graph: Graph, *, depth: int | None = None, columns: list[str] | None = None,
                 width: int | None = None, color: bool = False) -> str:
    """The terminal report. depth: roll blocks deeper than that up into one row each; columns:
    those to show (default all, dropped least important first to fit `width`); width: the
    characters a line may take (None: as wide as the table is); color: ANSI bold and dim."""
    rows = _rows(graph, depth)
    shown = fit(columns_named(columns), rows, width, dropping=columns is None)
    ins = ", ".join(f"{n} {graph.nodes[n].type}" for n in graph.inputs)
    outs = ", ".join(f"{k} {graph.nodes[v].type}" for k, v in graph.outputs.items())
    title = _fill(f"{graph.name} ({graph.file}): {ins} → {outs}", width, "  ")
    out = [paint(title[:len(graph.name)], BOLD, color) + title[len(graph.name):], "", *layout(shown, rows, width, color)]
    totals = [_fill(line, width, " " * 13) for line in _totals_lines(graph)]
    out += ["", *(paint(line[:13], BOLD, color) + line[13:] for line in totals), "",
            *(_fill(f"  {d}", width, "    ") for d in DEFINITIONS)]
    return "\n".join(out)


def _fill(text: str, width: int | None, indent: str) -> str:
    """The text in lines of at most `width` (None: one line), continued with `indent`."""
    if not width:
        return text
    import textwrap  # (imported here: a pipe's table, the usual one, is not wrapped)

    return textwrap.fill(text, width, subsequent_indent=indent, break_on_hyphens=False)


def render_markdown(graph: Graph, *, depth: int | None = None, columns: list[str] | None = None) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    shown = columns_named(columns)
    out = [f"# {graph.name}", ""]
    if graph.doc:
        out += [graph.doc.strip(), ""]
    out += [f"Source: `{graph.file}`", "",
            "| " + " | ".join(c.title for c in shown) + " |",
            "|" + "|".join("---:" if c.right else "---" for c in shown) + "|"]
    out += ["| " + " | ".join(esc(row.cells.get(c.key, "")) for c in shown) + " |" for row in _rows(graph, depth)]
    out += ["", "```", *_totals_lines(graph), "```", "", *(f"- {d}" for d in DEFINITIONS), ""]
    return "\n".join(out)


def render_html(graph: Graph, *, depth: int | None = 1, columns: list[str] | None = None) -> str:
    """The table as HTML, for notebooks (Graph._repr_html_): rolled up to `depth`, with the totals."""
    import html  # (imported here: only a notebook needs it)

    shown = columns_named(columns)

    def cells(tag: str, values: list[str], strong: bool = False) -> str:
        return "".join(f'<{tag} style="text-align:{"right" if c.right else "left"}">'
                       + (f"<b>{html.escape(v)}</b>" if strong and v else html.escape(v)) + f"</{tag}>"
                       for c, v in zip(shown, values))

    head = f"<tr>{cells('th', [c.title for c in shown])}</tr>"
    body = "".join(f"<tr>{cells('td', [row.cells.get(c.key, '') for c in shown], row.strong)}</tr>"
                   for row in _rows(graph, depth))
    totals = html.escape("\n".join(_totals_lines(graph)))
    return (f"<div><p><b>{html.escape(graph.name)}</b> ({html.escape(graph.file)})</p>"
            f"<table><thead>{head}</thead><tbody>{body}</tbody></table><pre>{totals}</pre></div>")
