"""The IR: a flat DAG of named nodes, blocks and repeats already expanded.

Nodes are of two kinds: a graph input (`op` is INPUT, `is_input`) and an op (`op` names a
registry entry); the graph's outputs name the nodes they read.
Knowledge about particular ops lives only in the op registry. Passes annotate nodes in
place (type, params, MACs, receptive field, arithmetic) and backends read those
annotations; nothing downstream recomputes a shape.
"""

from __future__ import annotations

import enum
import heapq
import math
from typing import Any

from .diagnostics import Diagnostic, Span

Dim = int | str  # a size, or a symbol such as "N" (a symbolic dim is any size)
INPUT = "input"  # the op of a graph input's node; no registry entry has this name
VALUE_BYTES = {"float32": 4, "int64": 8}  # of one value of each dtype a tensor holds (int64: a max pool's switches)
# A Graph's notebook views (html, diagram), which the backends draw: compiler/__init__.py sets
# this, so the IR imports no backend (they import the IR) and building imports neither.
VIEWS: Any = None


class Coverage(enum.Enum):
    """A receptive field that is no window: every output sees the whole input (a linear
    layer, a global pool, a field wider than any input could be)."""

    GLOBAL = "global"


GLOBAL = Coverage.GLOBAL


class Fields:
    """Equality and repr over the class's __slots__, as a dataclass's (importing dataclasses
    costs ~5 ms at every start, and declaring each class ~0.3 ms more)."""

    __slots__ = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: Any) -> bool:
        return self._values() == other._values() if type(other) is type(self) else NotImplemented

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{name}={getattr(self, name)!r}' for name in self.__slots__)})"


class TensorType(Fields):
    __slots__ = ("shape", "dtype", "plane")

    def __init__(self, shape: tuple[Dim, ...], dtype: str = "float32", plane: tuple[Dim, Dim] | None = None):
        self.shape = shape
        self.dtype = dtype
        # a max pool's switches: the H×W of the plane they index (the pool's input), which their
        # unpooling must restore
        self.plane = plane

    def __hash__(self) -> int:
        return hash(self._values())

    @property
    def rank(self) -> int:
        return len(self.shape)

    def per_sample(self) -> int | None:
        """Values per sample (all dims but the first), None if any is symbolic."""
        dims = self.shape[1:]
        for d in dims:
            if not isinstance(d, int):
                return None
        return math.prod(dims)

    def bytes_per_sample(self) -> int | None:
        """The bytes of a sample's values (an int64 takes 8, a float32 4), None if symbolic."""
        values = self.per_sample()
        return None if values is None else values * VALUE_BYTES[self.dtype]

    def __str__(self) -> str:
        return "×".join(map(str, self.shape))

    def as_json(self) -> list:
        return list(self.shape)


class Scope(Fields):
    """One block instance a node sits in: `layer1.0` of block `lib.basic`, repeat 0 of 2."""

    __slots__ = ("name", "block", "index", "repeat", "span")

    def __init__(self, name: str, block: str, index: int | None = None, repeat: int | None = None,
                 span: Span | None = None):
        self.name, self.block, self.index, self.repeat, self.span = name, block, index, repeat, span

    def __hash__(self) -> int:
        return hash(self._values())


class Node(Fields):
    __slots__ = ("name", "op", "inputs", "attrs", "span", "spans", "scope", "trainable", "share", "init",
                 "self_param", "doc", "type", "params", "buffers", "macs", "arithmetic", "notes",
                 "receptive_field", "jump", "error")

    def __init__(self, name: str, op: str, inputs: list[str] | None = None, *, attrs: Any = None,
                 span: Span | None = None, spans: dict[str, Span] | None = None, scope: tuple[Scope, ...] = (),
                 trainable: bool = True, share: str | None = None, init: dict[str, Any] | None = None,
                 self_param: str | None = None, doc: str | None = None, type: TensorType | None = None):
        self.name = name  # qualified, dotted: "layer1.0.conv1"; also the torch/ONNX name
        self.op = op  # a registry name, or INPUT
        self.inputs = [] if inputs is None else inputs
        self.attrs = attrs  # the op's validated attribute model
        self.span = span  # the layer's name in the YAML
        self.spans = {} if spans is None else spans  # attribute -> where its value is written
        self.scope = scope
        self.trainable = trainable
        self.share = share  # the node whose parameters this one uses
        self.init = {} if init is None else init  # parameter -> init scheme or values
        self.self_param = self_param  # the parameter that is the layer itself (ops/parameter.py), if one is
        self.doc = doc
        # written by passes.infer
        self.type = type
        self.params: dict[str, tuple[int, ...]] = {}
        self.buffers: dict[str, tuple[int, ...]] = {}
        self.macs = 0
        self.arithmetic: list[str] = []
        self.notes: list[str] = []
        self.receptive_field: tuple[int, int] | Coverage | None = None  # (height, width) in input pixels
        self.jump: tuple[float, float] | None = None
        self.error: Diagnostic | None = None

    @property
    def is_input(self) -> bool:
        return self.op == INPUT

    def span_of(self, attribute: str) -> Span | None:
        """Where the attribute's value is written in the YAML, else the layer's name."""
        return self.spans.get(attribute, self.span)

    def state_key(self, name: str) -> str:
        """The state_dict key of this node's parameter or buffer `name`: `layer1.conv1.weight`,
        or the layer's own name for the parameter that is the layer (`class_token`)."""
        return self.name if name == self.self_param else f"{self.name}.{name}"

    @property
    def param_count(self) -> int:
        """Parameters this node owns (a node that shares another's owns none)."""
        return 0 if self.share or not self.params else sum(map(math.prod, self.params.values()))


class Graph(Fields):
    __slots__ = ("name", "file", "doc", "nodes", "inputs", "outputs", "params", "source_hash", "warnings",
                 "errors", "totals", "sources")

    def __init__(self, name: str, file: str, doc: str | None = None, *, errors: list[Diagnostic] | None = None):
        self.name, self.file, self.doc = name, file, doc
        self.nodes: dict[str, Node] = {}  # in spec order
        self.inputs: list[str] = []
        self.outputs: dict[str, str] = {}  # output name -> node name
        self.params: dict[str, Any] = {}  # resolved top-level params
        self.source_hash = ""  # sha256 of every file read and the params
        self.warnings: list[Diagnostic] = []
        self.errors = [] if errors is None else errors
        self.totals: Any = None  # passes.Totals, once analysed
        self.sources: Any = None  # diagnostics.SourceCache of the files read

    def add(self, node: Node) -> Node:
        self.nodes[node.name] = node
        return node

    def to_networkx(self):
        """The graph as a networkx.DiGraph (node attribute `node`), for graph algorithms."""
        import networkx as nx  # off the `build` fast path: importing it costs more than a build

        g = nx.DiGraph()
        g.add_nodes_from((name, {"node": n}) for name, n in self.nodes.items())
        g.add_edges_from((src, n.name) for n in self.nodes.values() for src in n.inputs if src in self.nodes)
        return g

    def topological(self) -> list[Node]:
        """Nodes in data-flow order, the spec's order where data flow leaves a choice.
        Raises ValueError naming a cycle if there is one."""
        placed = set()
        for name, node in self.nodes.items():
            for source in node.inputs:
                if source not in placed and source in self.nodes:  # read before it is made: sort
                    return self._sorted()
            placed.add(name)
        return list(self.nodes.values())  # as most specs are written: the spec's order is the data flow's

    def _sorted(self) -> list[Node]:
        """topological()'s order, by Kahn's algorithm taking the first layer in the spec of those ready."""
        index = {name: i for i, name in enumerate(self.nodes)}
        waiting = {name: len({i for i in n.inputs if i in index}) for name, n in self.nodes.items()}
        consumers: dict[str, list[str]] = {}
        for n in self.nodes.values():
            for src in {i for i in n.inputs if i in index}:
                consumers.setdefault(src, []).append(n.name)
        ready = [index[name] for name, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        names, order = list(self.nodes), []
        while ready:
            name = names[heapq.heappop(ready)]
            order.append(self.nodes[name])
            for user in consumers.get(name, ()):
                waiting[user] -= 1
                if waiting[user] == 0:
                    heapq.heappush(ready, index[user])
        if len(order) < len(self.nodes):
            raise ValueError(self.find_cycle())
        return order

    def find_cycle(self) -> list[str]:
        import networkx as nx

        return [edge[0] for edge in nx.find_cycle(self.to_networkx())]

    # --- in a REPL and a notebook: the views come from the backends, which sit above the IR ---

    def __repr__(self) -> str:
        def typed(names) -> str:
            return ", ".join(f"{name} {self.nodes[node].type or '?'}" for name, node in names)

        t = self.totals
        totals = f"{t.params:,} params, {t.macs:,} MACs" if t and t.macs is not None else \
            f"{t.params:,} params" if t else "not analysed"
        errors = len(self.errors)
        return (f"<Graph {self.name}: {typed((n, n) for n in self.inputs)} → {typed(self.outputs.items())}; "
                f"{totals}; {errors} error{'s' * (errors != 1)}>")

    def diagram(self, *, depth: int | None = None, rankdir: str = "TB", collapse: bool | None = None):
        """The diagram as `nncompile draw` draws it; a notebook shows it as SVG (needs `dot`)."""
        return VIEWS.diagram(self, depth=depth, rankdir=rankdir, collapse=collapse)

    def _repr_html_(self) -> str | None:
        """A notebook's view: the summary table at depth 1 with the totals, then the diagram."""
        return VIEWS.html(self) if self.totals is not None else None

    def _repr_svg_(self) -> str | None:
        return self.diagram(depth=1)._repr_svg_() if self.totals is not None else None
