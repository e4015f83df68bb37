"""Why sizes that a layer joins do not meet: a floor upstream.

A U-Net's skip concat meets the encoder's H/8 and the decoder's 2·H/16, which differ when
H mod 16 ≥ 8, because the fourth pool floors an odd H/8. When the sizes a layer joins would
agree for every multiple of some k, the mismatch is that floor's, and the fix is to say H
is such a multiple (`16*h` in the input's shape); this module finds k and the layer whose
floor parted them, for the analysis pass's diagnostic. Between concrete sizes it names the
divisions that rounded on one side's way only.
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

from ..ir import Graph, Node
from ..symbolic import MAX_PERIOD, SymDim, as_sym, multiple_making_equal

SEARCHED = 10_000  # layers looked at upstream of a join, so a huge graph with many failures stays quick


class Floor(NamedTuple):
    """On `axis`, the joined sizes `dims` agree when their symbol is a multiple of `k`;
    `layer` (if one is found) floors `before` to `after` on the way to the deepest of them."""

    axis: int
    dims: tuple[SymDim, ...]
    k: int
    layer: Node | None = None
    before: SymDim | None = None
    after: SymDim | None = None

    @property
    def symbol(self) -> str:
        return self.dims[0].symbol


def floors(graph: Graph, node: Node) -> list[Floor]:
    """Each axis on which the node's inputs have sizes of one symbol that differ only by a
    floor; [] if the inputs differ otherwise (or agree)."""
    types = [graph.nodes[i].type for i in node.inputs]
    if len(types) < 2 or len({t.rank for t in types}) != 1:
        return []
    found = []
    for axis in range(types[0].rank):
        dims = tuple(dict.fromkeys(as_sym(t.shape[axis]) for t in types))
        if len(dims) < 2 or None in dims or len({s.symbol for s in dims}) != 1:
            continue
        k = multiple_making_equal(list(dims))
        if k is not None and k > 1:
            deepest = max(dims, key=lambda s: s.d)
            source = next(i for i, t in zip(node.inputs, types) if as_sym(t.shape[axis]) == deepest)
            bound = max(s.d for s in dims if s != deepest)
            found.append(Floor(axis, dims, k, *_flooring_layer(graph, source, axis, deepest.symbol, bound)))
    return found


def _flooring_layer(graph: Graph, name: str, axis: int, symbol: str, bound: int):
    """The nearest layer upstream of `name` whose output on `axis` divides `symbol` by more
    than `bound` while its inputs there do not: (layer, its input's size, its output's)."""
    seen, queue = set(), deque([name])
    while queue and len(seen) < SEARCHED:
        node = graph.nodes[queue.popleft()]
        if node.name in seen or node.is_input:
            continue
        seen.add(node.name)
        out = _dim(node, axis, symbol)
        ins = [_dim(graph.nodes[i], axis, symbol) for i in node.inputs]
        if out is not None and out.d > bound and ins and all(s is not None and s.d <= bound for s in ins):
            return node, ins[0], out
        queue += [i for i, s in zip(node.inputs, ins) if s is not None]
    return None, None, None


def _dim(node: Node, axis: int, symbol: str) -> SymDim | None:
    if node.type is None or node.type.rank <= axis:
        return None
    s = as_sym(node.type.shape[axis])
    return s if s is not None and s.symbol == symbol else None


def headline(floor: Floor, at_file: str | None) -> str:
    """`⌊H/8⌋ vs 2·⌊H/16⌋ on axis 2: the maxpool2d down4 (line 30) floors ⌊H/8⌋ to ⌊H/16⌋,
    so they differ for some H (H = 24: 3 vs 2) and agree for every multiple of 16`."""
    sizes = " vs ".join(s.floors for s in floor.dims)
    why = ""
    if floor.layer is not None:
        span = floor.layer.span
        where = "" if span is None else f" (line {span.line})" if span.file == at_file else f" ({span})"
        why = f": the {floor.layer.op} {floor.layer.name}{where} floors {floor.before.floors} to {floor.after.floors}"
    return (f"{sizes} on axis {floor.axis}{why}, so they differ for some {floor.symbol}{_example(floor.dims)} and "
            f"agree for every multiple of {floor.k}")


def _example(dims: tuple[SymDim, ...]) -> str:
    """The least size of the symbol at which the dims, all positive, differ: ` (H = 24: 3 vs 2)`."""
    for size in range(1, min(2 * math.lcm(*(s.d for s in dims)), MAX_PERIOD) + 1):
        values = [s.at(size) for s in dims]
        if min(values) >= 1 and len(set(values)) > 1:
            return f" ({dims[0].symbol} = {size}: {' vs '.join(map(str, values))})"
    return ""


def fix(graph: Graph, found: list[Floor]) -> str:
    """How to declare each symbol the multiple it must be: the inputs' shapes rewritten."""
    needed: dict[str, int] = {}
    for floor in found:
        needed[floor.symbol] = max(needed.get(floor.symbol, 1), floor.k)
    units: dict[str, str] = {}  # a plain H becomes k·h: h = H/k

    def written(dim) -> str:
        s = as_sym(dim)
        if s is None or s.symbol not in needed:
            return f"{s.m}*{s.symbol}" if s is not None and s.m > 1 else str(dim)  # as inputs are written
        k = needed[s.symbol]
        if s.m > 1:  # already a multiple, of too small a number
            return f"{s.m * k}*{s.symbol}"
        units[s.symbol] = s.symbol.lower() if s.symbol.lower() != s.symbol else f"{s.symbol}{k}"
        return f"{k}*{units[s.symbol]}"

    shapes = [f"{i} as [{', '.join(map(written, graph.nodes[i].type.shape))}]" for i in graph.inputs
              if any(getattr(as_sym(d), "symbol", None) in needed for d in graph.nodes[i].type.shape)]
    (first, k), *rest = needed.items()
    if len(set(needed.values())) == 1:  # H and W multiples of 16
        what = " and ".join(needed) + (f" multiples of {k}" if rest else f" a multiple of {k}")
    else:  # h a multiple of 2 and W of 8
        what = f"{first} a multiple of {k}" + "".join(f" and {symbol} of {m}" for symbol, m in rest)
    meaning = ", ".join(f"{unit} = {symbol}/{needed[symbol]}" for symbol, unit in units.items())
    return f"declare {what}: write {'; '.join(shapes)}" + (f" ({meaning})" if meaning else "")


def roundings(graph: Graph, node: Node, shown: int = 2) -> list[str]:
    """Concrete sizes: the divisions that rounded on the way to one of the node's inputs only
    (upstream of it, not of the others), nearest first — the floor a U-Net's fourth pool
    takes of an odd size. Each as a note: `down4.0 rounds: H: (9 − 2 + 2·0)/2 + 1 = 4.5 → 4 (floor)`."""
    if len(node.inputs) < 2:  # nothing to part from
        return []
    ancestry = [_ancestors(graph, i) for i in node.inputs]
    notes = []
    for k, own in enumerate(ancestry):
        others = set().union(*(a for j, a in enumerate(ancestry) if j != k))
        for name in own:  # nearest first
            rounded = [line for line in graph.nodes[name].arithmetic if line.endswith(("(floor)", "(ceil)"))]
            if name not in others and rounded and len(notes) < shown:
                notes.append(f"{name} rounds: {'; '.join(rounded)}")
    return notes


def _ancestors(graph: Graph, name: str) -> dict[str, None]:
    """`name` and the nodes upstream of it (the nearest SEARCHED), nearest first, as an ordered set."""
    found, queue = {}, deque([name])
    while queue and len(found) < SEARCHED:
        current = queue.popleft()
        if current not in found:
            found[current] = None
            queue += graph.nodes[current].inputs
    return found
