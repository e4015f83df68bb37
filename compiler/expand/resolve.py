"""Stage 4, resolving: every name a node reads, shares or outputs is followed through the
aliases the walker recorded (a block instance stands for its output, a switched-off layer
for its input) to a node; a chain of aliases that loops is a cycle."""

from __future__ import annotations

from ..diagnostics import Span
from ..ir import Graph
from .problems import Problems


class Links:
    """What the walker learns about names that are not nodes, for resolving."""

    def __init__(self):
        self.aliases: dict[str, str] = {}  # name -> the name it stands for
        self.switched_off: set[str] = set()  # layers whose `when` is false
        self.ref_spans: dict[str, Span] = {}  # qualified name -> where it was first named
        self.layer_spans: dict[str, Span] = {}  # qualified name -> where it is defined
        self.outputs: dict[str, list[str]] = {}  # a layer with several outputs -> their names

    def pass_through(self, name: str, source: str, switched_off: bool = False) -> None:
        """`name` is no node of its own: whatever reads it reads `source`. (A switched-off
        layer, and any layer that could not be expanded, so later layers still resolve: one
        mistake, one error.)"""
        self.aliases[name] = source
        if switched_off:
            self.switched_off.add(name)


class Resolver:
    def __init__(self, graph: Graph, links: Links, problems: Problems):
        self.graph, self.links, self.problems = graph, links, problems

    def follow(self, name: str, span: Span | None) -> str | None:
        """The node a name stands for; None (reported) if it names none."""
        seen = []
        while name not in self.graph.nodes:
            if name in seen:
                self.problems.error(f"layers pass their input to each other in a cycle: "
                                    f"{' → '.join(seen + [name])}", span, "cycle")
                return None
            seen.append(name)
            if name in self.links.outputs:
                outputs = self.links.outputs[name]
                self.problems.error(f"layer '{name}' has {len(outputs)} outputs: read one of them by its index",
                                    span, "bad-input",
                                    [f"its outputs: {', '.join(outputs)}"])
                return None
            if name not in self.links.aliases:
                self.problems.error(f"'{name}' is not a layer", self.links.ref_spans.get(name, span), "unknown-input")
                return None
            name = self.links.aliases[name]
        return name

    def resolve(self) -> None:
        """Every input, share and output names a node."""
        graph = self.graph
        for node in list(graph.nodes.values()):
            resolved = [self.follow(i, node.span_of("in")) for i in node.inputs]
            if None in resolved:
                node.error = node.error or self.problems[-1]
            node.inputs = [r for r in resolved if r]
            if node.share:
                node.share = self.follow(node.share, node.span_of("share"))
        for key, target in list(graph.outputs.items()):
            resolved = self.follow(target, self.links.ref_spans.get(target) or self.links.layer_spans.get(target))
            if resolved:
                graph.outputs[key] = resolved
            else:
                del graph.outputs[key]
