"""Diagrams: the analysed IR as Graphviz DOT text, and that text rendered by Graphviz's `dot`.

The DOT is written here from the passes' annotations (no graphviz package, no torch); only
rendering to SVG, PNG or PDF (graphviz.py) needs the `dot` binary. Each layer is a box with its name, its
op's label (Op.label), its output shape and its parameter count, coloured by Op.family;
blocks are clusters. Shapes are per sample: the batch dim (the first, usually N) is left
out everywhere except on the inputs and outputs, which show the whole shape, and on
tensors whose first dim is another (R RoIs).

A repeated block call is a stage: one cluster around its instances (`layer1` around
`layer1.0` and `layer1.1–2`), and one level of `depth`. Runs of identical repeated block
instances can be collapsed into one cluster marked "× n" (by default above AUTO_COLLAPSE
layers), and `depth` draws blocks nested deeper than that as single boxes. A spec with
errors still draws: failing layers in red with the diagnostic's message, layers downstream
of them grey with "?".
"""

from __future__ import annotations

import html
import shutil
import textwrap
from collections import defaultdict
from dataclasses import dataclass, field

from ..diagnostics import fmt_int
from ..ir import Graph, Node, Scope, TensorType
from ..ops import REGISTRY
from .graphviz import FORMATS, INSTALL_HINT, DotNotFound, RenderError, svg, write  # noqa: F401  (the backend's API)
from .report import human, levels

AUTO_COLLAPSE = 60  # layers above which a full drawing stops being readable
FONT = "Helvetica,Arial,sans-serif"

# (fill, border) per op family: light fills keep black text readable; the borders carry the hue
PALETTE = {
    "conv": ("#dbe9f7", "#3b6ea8"),
    "pool": ("#ddf1e3", "#2e7d4f"),
    "norm": ("#ece3f5", "#6f4a9e"),
    "activation": ("#fff4d6", "#b7860b"),
    "linear": ("#fde4d3", "#c0561c"),
    "merge": ("#e8eaed", "#5f6368"),
    "shape": ("#f4f4f4", "#8d8d8d"),
    "resize": ("#d9f2f2", "#1f7f7f"),
    "regularization": ("#f8e1ea", "#a8466b"),
}
DEFAULT_STYLE = ("#ffffff", "#5f6368")
TEXT, FAINT = "#1f2328", "#57606a"
TERMINAL = ("#36414d", "#ffffff")  # inputs and outputs: dark fill, white text
BLOCK = ("#ffffff", "#36414d")  # a block drawn as one box
ERROR = ("#fde2e1", "#c62828", "#b71c1c")  # fill, border, text
UNKNOWN = ("#f3f3f3", "#b4b4b4", "#8c8c8c")
CLUSTER_FILLS = ("#f5f7fa", "#e8ecf1")  # alternating by nesting level
CLUSTER_BORDER = "#9aa6b2"


@dataclass
class Drawing:
    """A drawing; in a notebook it shows as SVG, rendered by `dot`, or as its DOT text with
    how to install `dot` when it is not."""

    dot: str
    boxes: int  # boxes drawn (layers, blocks shown as one box, inputs and outputs)
    collapsed: bool  # whether repeated block instances were collapsed

    def _repr_svg_(self) -> str | None:
        return svg(self.dot)

    def _repr_html_(self) -> str | None:
        """Only without `dot` (a notebook prefers HTML to SVG): the DOT and what to install."""
        return None if shutil.which("dot") else self.html()

    def html(self) -> str:
        """The SVG inline, or the DOT text under a note saying how to get the picture."""
        picture = svg(self.dot) if shutil.which("dot") else None
        if picture is not None:
            return picture[picture.index("<svg"):]  # inline: without the XML prologue and doctype
        return (f"<p><b>install graphviz's dot to render this diagram</b>: {_html(INSTALL_HINT)}. "
                f"Its DOT text:</p><pre>{_html(self.dot)}</pre>")


@dataclass
class _Box:
    """One drawn box: a layer, or a block beyond the depth limit standing for its layers."""

    key: str
    clusters: tuple[str, ...]  # the (representative) scope names it sits in, outermost first
    nodes: list[Node] = field(default_factory=list)
    block: Scope | None = None  # set when the box stands for a whole block
    instances: int = 1  # of the block, when it stands for a collapsed run of them
    title: str | None = None  # the stage's, when the box stands for all of its instances


@dataclass
class _Cluster:
    scope: Scope
    title: str
    instances: int = 1  # of the block, when it is a collapsed run of them
    children: list = field(default_factory=list)  # _Box and _Cluster, in spec order


def draw(graph: Graph, *, rankdir: str = "TB", depth: int | None = None, collapse: bool | None = None,
         notes: dict[str, str] | None = None, edge_notes: dict[tuple[str, str], str] | None = None) -> Drawing:
    """The graph as DOT. collapse None: collapse when the graph has more than AUTO_COLLAPSE layers.
    notes: lines of text added to a layer's or input's box; edge_notes: to the edge from one
    node to another (by node names), as `nncompile explain` adds values and gradients."""
    notes, edge_notes = notes or {}, edge_notes or {}
    if collapse is None:
        collapse = sum(not n.is_input for n in graph.nodes.values()) > AUTO_COLLAPSE
    scopes = {s.name: s for n in graph.nodes.values() for s in levels(n)}
    alias, runs = _runs(graph, scopes) if collapse else ({}, {})
    batch = _batch(graph)

    boxes: dict[str, _Box] = {}
    box_of: dict[str, str] = {}  # every node -> the key of the box that draws it
    representative: dict[str, str] = {}  # every node -> the node drawn in its place
    hidden: set[str] = set()
    for node in graph.nodes.values():
        name, names = node.name, [s.name for s in levels(node)]
        cut = depth is not None and len(names) > depth
        for level in range(depth + 1 if cut else len(names)):  # outermost first: an instance inside
            rep = alias.get(names[level])                     # a collapsed one moves with it
            if rep:
                old = names[level]
                name = rep + name[len(old):]
                names[level:] = [rep + n[len(old):] for n in names[level:]]
                hidden.add(node.name)
        representative[node.name] = name
        key = names[depth] if cut else name
        box_of[node.name] = key
        if node.name not in hidden and not node.is_input:  # inputs are drawn as terminals
            box = boxes.setdefault(key, _Box(key, tuple(names[:depth] if cut else names),
                                             block=scopes[key] if cut else None,
                                             instances=runs.get(key, 1)))
            box.nodes.append(node)

    edges: dict[tuple[str, str], str] = {}
    leaving: set[str] = set()  # nodes whose output leaves their box
    for node in graph.nodes.values():
        if node.name in hidden:  # its edges repeat the representative's, or join two hidden instances
            continue
        for src in node.inputs:
            if src not in box_of or box_of[src] == box_of[node.name]:
                continue
            leaving.add(representative[src])
            note = edge_notes.get((src, node.name))
            edges.setdefault((box_of[src], box_of[node.name]),
                             _shape(graph.nodes[src].type, batch) + (f"\n{note}" if note else ""))
    for node_name in graph.outputs.values():
        if node_name in box_of:
            leaving.add(representative[node_name])

    # A cluster's title is a node beside the first box that data enters the cluster by (a
    # native cluster label sits where entering edges cross it)
    entry: dict[str, str] = {}
    for a, b in edges:
        for cluster in set(boxes[b].clusters) - set(boxes[a].clusters if a in boxes else ()):
            entry.setdefault(cluster, b)

    lines = [f'digraph "{_esc(graph.name)}" {{', *_header(graph, rankdir)]
    clusters = _cluster_tree(boxes.values(), scopes, runs)
    for name in graph.inputs:
        lines.append(f"  {_id(name)} [{_terminal(name, 'input', graph.nodes[name].type, notes.get(name))}];")
    _emit(clusters, graph, leaving, entry, rankdir, lines, level=0, indent="  ", notes=notes)
    for out, node_name in graph.outputs.items():
        lines.append(f"  {_id('output:' + out)} [{_terminal(out, 'output', graph.nodes[node_name].type)}];")
    lines += [f"  {_id(a)} -> {_id(b)} [label=<{_html(label).replace(chr(10), '<br/>')}>];"
              for (a, b), label in edges.items()]
    lines += [f"  {_id(box_of[n])} -> {_id('output:' + out)};" for out, n in graph.outputs.items() if n in box_of]
    lines.append("}")
    return Drawing("\n".join(lines) + "\n", len(boxes) + len(graph.inputs) + len(graph.outputs), collapse)


def _is_stage(scope: Scope) -> bool:
    return scope.index is None and scope.repeat is not None


# --- collapsing repeated instances -------------------------------------------------------

def _runs(graph: Graph, scopes: dict[str, Scope]) -> tuple[dict[str, str], dict[str, int]]:
    """Runs of consecutive identical instances of a repeated block.

    Returns the instances drawn by another (instance -> the run's first) and, for each
    run's first instance, the number of instances the run covers."""
    members: dict[str, list[Node]] = defaultdict(list)
    for node in graph.nodes.values():
        for s in node.scope:
            members[s.name].append(node)
    calls: dict[str, list[Scope]] = defaultdict(list)
    for s in scopes.values():
        if s.index is not None:
            calls[s.name.rsplit(".", 1)[0]].append(s)
    alias, runs = {}, {}
    for instances in calls.values():
        instances.sort(key=lambda s: s.index)
        first, signature = instances[0], _signature(instances[0], members)
        for s in instances[1:]:
            mine = _signature(s, members)
            if mine == signature:
                alias[s.name] = first.name
                runs[first.name] = s.index - first.index + 1
            else:
                first, signature = s, mine
    return alias, runs


def _signature(instance: Scope, members: dict[str, list[Node]]) -> tuple:
    """What a drawing of the instance shows, with names relative to it."""
    prefix = instance.name + "."

    def rel(name: str | None) -> str | None:
        return name[len(prefix):] if name and name.startswith(prefix) else name and "^"

    return tuple((rel(n.name), n.op, n.attrs, n.type and n.type.shape[1:], n.param_count, n.trainable,
                  rel(n.share), tuple(rel(i) for i in n.inputs), n.error and n.error.message)
                 for n in members[instance.name])


# --- clusters ------------------------------------------------------------------------------

def _cluster_tree(boxes, scopes: dict[str, Scope], runs) -> _Cluster:
    root = _Cluster(Scope("", ""), "")
    made = {"": root}
    for box in boxes:
        parent = root
        for name in box.clusters:
            if name not in made:
                instances = runs.get(name, 1)
                made[name] = _Cluster(scopes[name], _title(scopes[name], parent.scope, instances), instances)
                parent.children.append(made[name])
            parent = made[name]
        parent.children.append(box)
    _merge_whole_runs(root)
    return root


def _merge_whole_runs(cluster: _Cluster) -> None:
    """A stage drawn as one run of all its instances (every instance alike, or a repeat of 1)
    is that run alone, titled as the stage: `layer1 : lib.basic × 2`, not a cluster in a cluster."""
    for i, child in enumerate(cluster.children):
        if not isinstance(child, _Cluster):
            continue
        _merge_whole_runs(child)
        only = child.children[0] if len(child.children) == 1 else None
        if _is_stage(child.scope) and only is not None and only.instances == child.scope.repeat:
            only.title = child.title
            cluster.children[i] = only


def _title(scope: Scope, parent: Scope, instances: int) -> str:
    """A block `layer1 : lib.ccp`; a stage `layer1 : lib.bottleneck × 3`, and inside it its
    instances, `layer1.0` or a run of them `layer1.1–2 × 2`."""
    local = scope.name[len(parent.name) + 1:] if parent.name else scope.name
    if _is_stage(scope):
        return f"<b>{_html(local)}</b> : {_html(scope.block)}" + (f" × {scope.repeat}" if scope.repeat > 1 else "")
    if scope.index is None:
        return f"<b>{_html(local)}</b> : {_html(scope.block)}"
    stage_parent = parent.name.rsplit(".", 1)[0] + "." if "." in parent.name else ""
    local = scope.name[len(stage_parent):]  # the stage's name included: `layer1.0`
    if instances > 1:
        local = f"{local.rsplit('.', 1)[0]}.{scope.index}–{scope.index + instances - 1}"
    return f"<b>{_html(local)}</b>" + (f" × {instances}" if instances > 1 else "")


def _emit(cluster: _Cluster, graph: Graph, leaving: set[str], entry: dict[str, str], rankdir: str,
          lines: list[str], level: int, indent: str, notes: dict[str, str]) -> None:
    for child in cluster.children:
        if isinstance(child, _Box):
            lines.append(f"{indent}{_id(child.key)} [{_box(child, cluster, graph, leaving, notes)}];")
            continue
        name = child.scope.name
        title, first = _id("title:" + name), _id(entry.get(name) or _first_box(child).key)
        # a flat edge puts its tail left of its head (TB), or above it (LR): the title first
        before, after = (title, first) if rankdir == "TB" else (first, title)
        lines += [f"{indent}subgraph {_id('cluster_' + name)} {{",
                  f'{indent}  label=""; style="rounded,filled"; fillcolor="{CLUSTER_FILLS[level % 2]}"; '
                  f'color="{CLUSTER_BORDER}";',
                  f"{indent}  {title} [shape=plain, style=solid, group=title, fontsize=16, label=<{child.title}>];",
                  f"{indent}  {{rank=same; {before} -> {after} [style=invis]}}"]
        _emit(child, graph, leaving, entry, rankdir, lines, level + 1, indent + "  ", notes)
        lines.append(f"{indent}}}")


def _first_box(cluster: _Cluster) -> _Box:
    first = cluster.children[0]
    return first if isinstance(first, _Box) else _first_box(first)


# --- boxes ---------------------------------------------------------------------------------

def _box(box: _Box, cluster: _Cluster, graph: Graph, leaving: set[str], notes: dict[str, str]) -> str:
    if box.block is not None:
        return _block_box(box, cluster, leaving, _batch(graph))
    node = box.nodes[0]
    local = node.name[len(cluster.scope.name) + 1:] if cluster.scope.name else node.name
    label = REGISTRY[node.op].label(node.attrs) if node.attrs is not None else node.op
    rows = [f"<b>{_html(local)}</b>"] + ([_html(label)] if label != local else [])
    if node.error:
        return _failed(rows, node.error.message)
    if node.type is None:
        return _unknown(rows)
    rows.append(_faint(_shape(node.type, _batch(graph))))
    if node.share and node.params:
        rows.append(_faint(f"shares {node.share}"))
    elif node.param_count:
        rows.append(_faint(_params(node.param_count) + ("" if node.trainable else ", frozen")))
    rows += [_html(line) for line in notes.get(node.name, "").splitlines()]
    fill, line = PALETTE.get(REGISTRY[node.op].family, DEFAULT_STYLE)
    style = "rounded,filled" + ("" if node.trainable or not node.params else ",dashed")
    return _attrs(rows, fill, line, style=style)


def _block_box(box: _Box, cluster: _Cluster, leaving: set[str], batch) -> str:
    rows = [box.title or _title(box.block, cluster.scope, box.instances)]
    failed = next((n for n in box.nodes if n.error), None)
    layers = f"{len(box.nodes)} layer{'s' * (len(box.nodes) != 1)}"
    if failed:
        return _failed(rows + [_html(layers)], failed.error.message)
    out = next((n for n in reversed(box.nodes) if n.name in leaving), box.nodes[-1]).type
    if out is None:
        return _unknown(rows + [_html(layers)])
    params = sum(n.param_count for n in box.nodes)
    rows += [_html(layers), _faint(_shape(out, batch))] + ([_faint(_params(params) + " each" * (box.instances > 1))] if params else [])
    return _attrs(rows, *BLOCK, style="rounded,filled", penwidth=2)


def _failed(rows: list[str], message: str) -> str:
    text = message.split("): ", 1)[-1]  # the layer's name and op are in the box already
    text = text.replace(" × ", "\u00a0×\u00a0")  # keep products such as 8 × 16 × 16 on one line
    rows += [f'<font color="{ERROR[2]}">{_html(line)}</font>' for line in textwrap.wrap(text, 42)]
    return _attrs(rows, ERROR[0], ERROR[1], style="rounded,filled", penwidth=2.5)


def _unknown(rows: list[str]) -> str:
    rows.append("?")
    return _attrs(rows, UNKNOWN[0], UNKNOWN[1], style="rounded,filled", fontcolor=UNKNOWN[2])


def _terminal(name: str, kind: str, type: TensorType | None, note: str | None = None) -> str:
    rows = [f"<b>{_html(name)}</b>", _html(kind), _html(str(type) if type else "?")]
    rows += [_html(line) for line in (note or "").splitlines()]
    fill, text = TERMINAL
    return _attrs(rows, fill, fill, style="rounded,filled", fontcolor=text)


def _attrs(rows: list[str], fill: str, line: str, **extra) -> str:
    pairs = {"label": f"<{'<br/>'.join(rows)}>", "fillcolor": f'"{fill}"', "color": f'"{line}"',
             **{k: f'"{v}"' for k, v in extra.items()}}
    return ", ".join(f"{k}={v}" for k, v in pairs.items())


def _header(graph: Graph, rankdir: str) -> list[str]:
    params = graph.totals.params if graph.totals else 0
    frozen = params - graph.totals.trainable_params if graph.totals else 0
    subtitle = (f"{fmt_int(params)} params" + (f" ({fmt_int(frozen)} frozen)" if frozen else "")
                + " · shapes per sample (batch dim left out)")
    errors = len(graph.errors)
    if errors:
        subtitle += f' · <font color="{ERROR[2]}">{errors} error{"s" * (errors != 1)}</font>'
    title = f'<<b>{_html(graph.name)}</b><br/><font point-size="14" color="{FAINT}">{subtitle}</font>>'
    return [
        f'  graph [label={title}, labelloc=t, fontname="{FONT}", fontsize=20, fontcolor="{TEXT}", '
        f'rankdir={rankdir}, newrank=true, nodesep=0.35, ranksep=0.4, pad=0.3, bgcolor=white];',
        f'  node [shape=box, style="rounded,filled", fontname="{FONT}", fontsize=14, fontcolor="{TEXT}", '
        f'margin="0.16,0.07", penwidth=1.3, group=flow];',
        f'  edge [fontname="{FONT}", fontsize=12, fontcolor="{FAINT}", color="{FAINT}", arrowsize=0.7, '
        f"penwidth=1.2, weight=8];",
    ]


# --- text --------------------------------------------------------------------------------

def _batch(graph: Graph):
    """The batch dim: the first of the first input's shape (`N`)."""
    first = graph.nodes[graph.inputs[0]].type if graph.inputs else None
    return first.shape[0] if first and first.rank else None


def _shape(type: TensorType | None, batch) -> str:
    """Per sample: the batch dim left out. A tensor of another first dim keeps it, so RoI
    features read `R×256×7×7`."""
    if type is None:
        return "?"
    per_sample = type.rank > 1 and type.shape[0] == batch
    return "×".join(str(d) for d in type.shape[1:]) if per_sample else str(type)


def _params(count: int) -> str:
    return f"{fmt_int(count) if count < 10**6 else human(count)} params"


def _faint(text: str) -> str:
    return f'<font color="{FAINT}">{_html(text)}</font>'


def _html(text: str) -> str:
    return html.escape(str(text), quote=False)


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _id(name: str) -> str:
    return f'"{_esc(name)}"'
