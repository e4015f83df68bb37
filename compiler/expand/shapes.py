"""Where expansion meets shape inference: a block's expressions may read its inputs' shapes
(`${input.channels * expand}`). The layers upstream are already walked when a block is
called, so their types are inferred on demand, in data-flow order, by the analysis pass's
own `infer_node`: the ops stay the one place that knows a shape rule, and the main pass
later skips what is typed already."""

from __future__ import annotations

from typing import Any

from ..diagnostics import did_you_mean
from ..expr import ExprError, Record, Shape
from ..ir import Graph, Node, TensorType
from ..passes.infer import infer_node
from ..symbolic import as_sym
from .resolve import Links


class ShapeUnknown(Exception):
    """An input's shape is unknown because a layer upstream failed (and was reported): the
    layer reading it is skipped, so one mistake still gives one diagnostic."""

    def __init__(self, node: str):
        super().__init__(node)
        self.node = node  # the untyped node: whatever read the shape now reads it, and is skipped too


class InputTypes:
    """Types of walked layers, inferred when first asked for."""

    def __init__(self, graph: Graph, links: Links, strict: bool):
        self.graph, self.links, self.strict = graph, links, strict
        self.done: set[str] = set()

    def node_of(self, name: str) -> Node | None:
        """The node a name stands for (aliases followed), None if it is not walked yet."""
        seen = set()
        while name not in self.graph.nodes:
            if name in seen or name not in self.links.aliases:
                return None
            seen.add(name)
            name = self.links.aliases[name]
        return self.graph.nodes[name]

    def type_of(self, name: str, reader: str, caller: str) -> TensorType:
        """The type of what `name` stands for; reader is how the expression names it, caller
        the block instance that reads it."""
        node = self.node_of(name)
        if node is not None:
            self.infer_upstream(node)
            if node.type is not None:
                return node.type
            if self.failed_upstream(node):
                raise ShapeUnknown(node.name)
        raise ExprError(f"{reader}: the block '{caller}' reads the shape of '{name}', which depends on a layer "
                        f"defined after it; a block's input must come before the block: reorder the layers")

    def infer_upstream(self, target: Node) -> None:
        """Infer target and the untyped nodes it depends on, inputs first (no recursion)."""
        stack, entered = [(target, False)], set()
        while stack:
            node, ready = stack.pop()
            if node.name in self.done:
                continue
            if not ready:
                if node.name in entered:  # a cycle: reported by the analysis pass
                    continue
                entered.add(node.name)
                stack.append((node, True))
                stack += [(n, False) for n in map(self.node_of, node.inputs) if n is not None]
                continue
            sources = [self.node_of(i) for i in node.inputs]
            if None in sources:
                continue  # reads a layer not walked yet: typed by the analysis pass
            node.inputs = [s.name for s in sources]
            self.done.add(node.name)
            if node.is_input or node.type is None:
                infer_node(self.graph, node, self.strict)

    def failed_upstream(self, target: Node) -> bool:
        stack, seen = [target], set()
        while stack:
            node = stack.pop()
            if node.error is not None:
                return True
            seen.add(node.name)
            stack += [n for n in map(self.node_of, node.inputs) if n is not None and n.name not in seen]
        return False


class TensorView(Record):
    """A block input as expressions see it: `input.channels`, `.height`, `.width`, `.shape[i]`,
    `.rank`. The type is looked up on first use, so a block that reads no shape costs nothing."""

    FIELDS = ("channels", "height", "width", "shape", "rank")

    def __init__(self, types: InputTypes, source: str, local: str, caller: str):
        self.types, self.source, self.local, self.caller = types, source, local, caller
        self.type: TensorType | None = None

    def field(self, name: str) -> Any:
        if name not in self.FIELDS:
            raise ExprError(f"{self.local} has no field '{name}'{did_you_mean(name, self.FIELDS)}; "
                            f"its fields: {', '.join(self.FIELDS)}")
        if self.type is None:
            self.type = self.types.type_of(self.source, f"{self.local}.{name}", self.caller)
        shape = Shape(as_sym(d) or d for d in self.type.shape)  # a symbol stays a symbol
        if name == "shape":
            return shape
        if name == "rank":
            return len(shape)
        wanted = {"channels": (1, "a rank of at least 2 (N, C, …)"), "height": (2, "rank 4 (N, C, H, W)"),
                  "width": (3, "rank 4 (N, C, H, W)")}
        dim, needs = wanted[name]
        if len(shape) <= dim or name != "channels" and len(shape) != 4:
            raise ExprError(f"{self.local}.{name}: {self.local} is {self.type} (rank {len(shape)}); "
                            f"{name} needs {needs}")
        return shape[dim]
