"""Taking parts of a tensor along one axis: slice, select, and the layers with several
outputs, chunk and split.

A layer with several outputs names each `layer.k` (k = 0, 1, …): `in: parts.1` reads the
second part of the layer `parts`. The expander makes one node per output, each this op
with `index: k` (the node `parts.1`), so the IR, the diagram, the torch module and the ONNX
graph all name it `parts.1`. Written by hand, `index: k` keeps only that output.
"""

from __future__ import annotations

from .. import symbolic
from ..ir import Dim
from .base import Attrs, NonNegativeInt, Op, PositiveInt, ShapeError, TensorType, TorchExpr, register
from .tensor import axis_of

END = 2**63 - 1  # ONNX Slice's "to the end"


def _divide(n: Dim, parts: int, axis: int) -> Dim:
    """n / parts, exactly: a symbolic m·⌊(S + c)/d⌋ + e divides when m and e do."""
    if isinstance(n, int):
        if n % parts:
            raise ShapeError(f"axis {axis} has {n} values, which do not split into {parts} equal parts",
                             attr="chunks")
        return n // parts
    s = symbolic.as_sym(n)
    if s is None or s.m % parts or s.e % parts:
        raise ShapeError(f"the symbolic size {n} of axis {axis} is not known to split into {parts} equal parts",
                         attr="chunks", notes=["give the input a concrete size there"])
    return symbolic.SymDim(s.symbol, s.m // parts, s.c, s.d, s.e // parts, s.a)


def _index(index: int | None, count: int) -> int | None:
    if index is not None and not -count <= index < count:
        raise ShapeError(f"index {index} is out of range: the layer has {count} outputs", attr="index")
    return None if index is None else index % count


class ChunkAttrs(Attrs):
    chunks: PositiveInt
    dim: int = 1
    index: int | None = None  # which part (set by the expander for `layer.k`)


@register
class Chunk(Op):
    """Splits an axis into `chunks` equal parts (as Tensor.chunk, the size dividing
    exactly), outputs `layer.0` … `layer.{chunks−1}`: ShuffleNet's channel split."""

    name = "chunk"
    family = "shape"
    Attrs = ChunkAttrs

    def outputs(self, a):
        return a.chunks if a.index is None else 1

    def infer(self, a, inputs, log):
        x = inputs[0]
        axis = axis_of(a.dim, x, "dim")
        _index(a.index, a.chunks)
        shape = list(x.shape)
        shape[axis] = _divide(x.shape[axis], a.chunks, axis)
        return TensorType(tuple(shape))

    def label(self, a):
        return f"chunk {a.index}/{a.chunks}"

    def torch(self, a, inputs, out):
        return TorchExpr(f"{{0}}.chunk({a.chunks}, dim={a.dim})[{a.index}]")

    def onnx(self, a, inputs, types, out, emit):
        x = types[0]
        axis = a.dim % x.rank
        n = x.shape[axis]
        index = a.index % a.chunks
        if isinstance(n, int):
            size = n // a.chunks
            return _slice(emit, inputs[0], axis, index * size, (index + 1) * size)
        # a symbolic size: the part's bounds are computed from the input's shape at run time
        size = emit("Div", emit("Shape", inputs[0], start=axis, end=axis + 1), emit.const("chunks", [a.chunks]))
        start = emit("Mul", size, emit.const("index", [index]))
        end = emit("Add", start, size)
        return emit("Slice", inputs[0], start, end, emit.const("axes", [axis]))


class SplitAttrs(Attrs):
    sizes: list[PositiveInt]  # the parts' sizes, adding up to the axis's size
    dim: int = 1
    index: int | None = None  # which part (set by the expander for `layer.k`)


@register
class Split(Op):
    """Splits an axis into parts of the given `sizes` (as torch.split with a list),
    outputs `layer.0`, `layer.1`, …"""

    name = "split"
    family = "shape"
    Attrs = SplitAttrs

    def outputs(self, a):
        return len(a.sizes) if a.index is None else 1

    def infer(self, a, inputs, log):
        x = inputs[0]
        axis = axis_of(a.dim, x, "dim")
        n = x.shape[axis]
        if not isinstance(n, int):
            raise ShapeError(f"axis {axis} has the symbolic size {n}; split needs it concrete (chunk divides "
                             "a symbolic size)", attr="sizes")
        if sum(a.sizes) != n:
            raise ShapeError(f"sizes {a.sizes} add up to {sum(a.sizes)}, but axis {axis} of {x} has {n}",
                             attr="sizes")
        shape = list(x.shape)
        shape[axis] = a.sizes[_index(a.index, len(a.sizes)) or 0]
        return TensorType(tuple(shape))

    def label(self, a):
        return f"split {a.index}/{tuple(a.sizes)}"

    def torch(self, a, inputs, out):
        return TorchExpr(f"torch.split({{0}}, {list(a.sizes)}, dim={a.dim})[{a.index}]")

    def onnx(self, a, inputs, types, out, emit):
        index = a.index % len(a.sizes)
        start = sum(a.sizes[:index])
        return _slice(emit, inputs[0], a.dim % types[0].rank, start, start + a.sizes[index])


def _slice(emit, x: str, axis: int, start: int, end: int, step: int = 1) -> str:
    return emit("Slice", x, emit.const("starts", [start]), emit.const("ends", [end]), emit.const("axes", [axis]),
                emit.const("steps", [step]))


class SliceAttrs(Attrs):
    dim: int
    start: int | None = None  # as Python: negative counts from the end; None: from the start
    stop: int | None = None  # None: to the end
    step: PositiveInt = 1


@register
class Slice(Op):
    """`x[..., start:stop:step]` along one axis, as Python slices (negative indices count
    from the end; a positive step, as torch allows): Swin's patch merging takes
    `start: 0, step: 2` and `start: 1, step: 2` of H and W. On a symbolic size the start
    must be non-negative and the stop negative or open."""

    name = "slice"
    family = "shape"
    Attrs = SliceAttrs

    def infer(self, a, inputs, log):
        x = inputs[0]
        axis = axis_of(a.dim, x, "dim")
        n = x.shape[axis]
        shape = list(x.shape)
        if isinstance(n, int):
            shape[axis] = len(range(*slice(a.start, a.stop, a.step).indices(n)))
        else:
            shape[axis] = _symbolic_slice(n, a)
        if shape[axis] == 0:
            raise ShapeError(f"the slice {_text(a)} of axis {axis} ({n}) is empty", attr="start")
        return TensorType(tuple(shape))

    def label(self, a):
        return f"slice {_text(a)}"

    def torch(self, a, inputs, out):
        return TorchExpr(f"{{0}}[{', '.join([':'] * (a.dim % out.rank))}{', ' if a.dim % out.rank else ''}"
                         f"{_text(a)}]")

    def onnx(self, a, inputs, types, out, emit):
        start = 0 if a.start is None else a.start
        stop = END if a.stop is None else a.stop
        return _slice(emit, inputs[0], a.dim % types[0].rank, start, stop, a.step)


def _text(a: SliceAttrs) -> str:
    text = f"{'' if a.start is None else a.start}:{'' if a.stop is None else a.stop}"
    return text if a.step == 1 else f"{text}:{a.step}"


def _symbolic_slice(n: Dim, a: SliceAttrs) -> Dim:
    start = a.start or 0
    if start >= 0 and (a.stop is None or a.stop < 0):
        # ⌈(n + stop − start)/step⌉ = ⌊(n + stop − start − 1)/step⌋ + 1, as a window's size
        out = symbolic.window(n, 1, a.step, (a.stop or 0) - start)
        if out is not None:
            return out
    bound, value = ("start", a.start) if start < 0 else ("stop", a.stop)
    raise ShapeError(f"the slice {_text(a)} of the symbolic size {n} has no closed form: its size depends on "
                     f"whether {n} reaches {abs(value)}", attr=bound,
                     notes=["on a symbolic axis, count the start from the beginning and the stop from the end "
                            "(negative), or leave the stop open"])


class SelectAttrs(Attrs):
    dim: int
    index: int  # as Python: negative counts from the end


@register
class Select(Op):
    """One position along an axis, which is removed (as `x[:, 0]`, Tensor.select): ViT's
    class token is `{op: select, dim: 1, index: 0}`."""

    name = "select"
    family = "shape"
    Attrs = SelectAttrs

    def infer(self, a, inputs, log):
        x = inputs[0]
        axis = axis_of(a.dim, x, "dim")
        n = x.shape[axis]
        if isinstance(n, int) and not -n <= a.index < n:
            raise ShapeError(f"index {a.index} is out of range for axis {axis} of size {n}", attr="index")
        return TensorType(x.shape[:axis] + x.shape[axis + 1:])

    def label(self, a):
        return f"select [{a.index}] of axis {a.dim}"

    def torch(self, a, inputs, out):
        return TorchExpr(f"{{0}}.select({a.dim}, {a.index})")

    def onnx(self, a, inputs, types, out, emit):
        return emit("Gather", inputs[0], emit.const("index", a.index), axis=a.dim % types[0].rank)
