"""Reshaping without arithmetic: flatten, reshape, identity, permute, transpose, roll, pad."""

from __future__ import annotations

import math
from typing import Literal

from .. import symbolic
from .base import Attrs, NoAttrs, NonNegativeInt, Op, ShapeError, TensorType, TorchExpr, dims_text, register


class FlattenAttrs(Attrs):
    start_dim: int = 1
    end_dim: int = -1


def _product(dims) -> int | str:
    if all(isinstance(d, int) for d in dims):
        return math.prod(dims)
    return "·".join(str(d) for d in dims)


@register
class Flatten(Op):
    """Joins dims start_dim…end_dim into one (by default everything but the batch)."""

    name = "flatten"
    family = "shape"
    Attrs = FlattenAttrs

    def infer(self, a, inputs, log):
        x = inputs[0]
        start, end = (d % x.rank if -x.rank <= d < x.rank else None for d in (a.start_dim, a.end_dim))
        if start is None or end is None or start > end:
            raise ShapeError(f"start_dim {a.start_dim} / end_dim {a.end_dim} do not fit {x} (rank {x.rank})",
                             attr="start_dim")
        joined = x.shape[start:end + 1]
        size = _product(joined)
        if len(joined) > 1:
            log.arithmetic.append(f"{dims_text(joined)} = {size:,}" if isinstance(size, int) else f"→ {size}")
        return TensorType((*x.shape[:start], size, *x.shape[end + 1:]))

    def label(self, a):
        return "flatten"

    def torch(self, a, inputs, out):
        return TorchExpr(f"torch.flatten({{0}}, {a.start_dim}, {a.end_dim})")

    def onnx(self, a, inputs, types, out, emit):
        x = types[0]
        start, end = a.start_dim % x.rank, a.end_dim % x.rank
        if start == 1 and end == x.rank - 1:  # everything but the batch
            return emit("Flatten", inputs[0], axis=1)
        # 0 keeps a leading dim (the batch may be symbolic), -1 is the joined one
        after = x.shape[end + 1:]
        if not all(isinstance(d, int) for d in after):
            raise NotImplementedError(f"flatten before the symbolic sizes {after} has no ONNX lowering")
        return emit("Reshape", inputs[0], emit.const("shape", [0] * start + [-1, *after]))


class ReshapeAttrs(Attrs):
    shape: list[int]  # per-sample shape (the batch dim is kept); one entry may be -1


@register
class Reshape(Op):
    """Gives each sample a new shape with the same number of values (-1: inferred)."""

    name = "reshape"
    family = "shape"
    Attrs = ReshapeAttrs

    def infer(self, a, inputs, log):
        x = inputs[0]
        total = x.per_sample()
        if total is None:
            raise ShapeError(f"cannot reshape {x}: its per-sample size is symbolic")
        if sum(d == -1 for d in a.shape) > 1 or any(d < -1 or d == 0 for d in a.shape):
            raise ShapeError(f"shape {a.shape}: sizes must be positive, with at most one -1", attr="shape")
        known = math.prod(d for d in a.shape if d != -1)
        shape = list(a.shape)
        if -1 in shape:
            if total % known:
                raise ShapeError(f"cannot reshape {total:,} values into {a.shape}", attr="shape")
            shape[shape.index(-1)] = total // known
        if math.prod(shape) != total:
            raise ShapeError(f"cannot reshape {x} ({total:,} values per sample) into {a.shape} "
                             f"({math.prod(shape):,} values)", attr="shape")
        return TensorType((x.shape[0], *shape))

    def label(self, a):
        return f"reshape {dims_text(a.shape)}"

    def torch(self, a, inputs, out):
        # the batch dim is kept as it comes; the rest is the inferred per-sample shape
        return TorchExpr(f"{{0}}.reshape({{0}}.shape[0], {', '.join(map(str, out.shape[1:]))})")

    def onnx(self, a, inputs, types, out, emit):
        return emit("Reshape", inputs[0], emit.const("shape", [0, *out.shape[1:]]))  # 0: the batch as it comes


@register
class Identity(Op):
    """Passes its input through unchanged (a named tap, or a placeholder)."""

    name = "identity"
    family = "shape"
    Attrs = NoAttrs

    def infer(self, a, inputs, log):
        return inputs[0]

    def torch(self, a, inputs, out):
        return TorchExpr("{0}")

    def onnx(self, a, inputs, types, out, emit):
        return emit("Identity", inputs[0])


# --- moving and shifting axes ----------------------------------------------------------
# Axes count as torch counts them, the batch N being axis 0 (negative: from the end). These
# ops keep N first and whole: a permutation must leave axis 0 in place, and no transpose,
# slice, split, pad or roll may name it (the batch is the one axis every backend leaves free).

def axis_of(dim: int, x: TensorType, attr: str) -> int:
    """A non-batch axis of x, given as torch would (negative counts from the end)."""
    if not -x.rank <= dim < x.rank:
        raise ShapeError(f"{attr} {dim} is out of range for {x} (rank {x.rank})", attr=attr)
    if dim % x.rank == 0:
        raise ShapeError(f"{attr} {dim} is the batch axis N, which this op leaves alone", attr=attr)
    return dim % x.rank


class PermuteAttrs(Attrs):
    dims: list[int]  # a permutation of every axis, the batch's 0 first (as Tensor.permute)


@register
class Permute(Op):
    """Reorders the axes (as Tensor.permute): `dims: [0, 2, 3, 1]` makes N×C×H×W into
    N×H×W×C. Axis 0, the batch, stays first."""

    name = "permute"
    family = "shape"
    Attrs = PermuteAttrs

    def infer(self, a, inputs, log):
        x = inputs[0]
        dims = [d % x.rank if -x.rank <= d < x.rank else None for d in a.dims]
        if sorted(d for d in dims if d is not None) != list(range(x.rank)) or None in dims:
            raise ShapeError(f"dims {a.dims} is no permutation of the {x.rank} axes of {x}", attr="dims")
        if dims[0] != 0:
            raise ShapeError(f"dims {a.dims} moves the batch axis N; it must stay first (dims[0] = 0)", attr="dims")
        return TensorType(tuple(x.shape[d] for d in dims))

    def label(self, a):
        return f"permute {tuple(a.dims)}"

    def torch(self, a, inputs, out):
        return TorchExpr(f"{{0}}.permute({', '.join(map(str, a.dims))})")

    def onnx(self, a, inputs, types, out, emit):
        return emit("Transpose", inputs[0], perm=[d % types[0].rank for d in a.dims])


class TransposeAttrs(Attrs):
    dim0: int
    dim1: int


@register
class Transpose(Op):
    """Swaps two axes, neither the batch (as Tensor.transpose): ShuffleNet's channel shuffle
    swaps the groups and the channels within a group."""

    name = "transpose"
    family = "shape"
    Attrs = TransposeAttrs

    def infer(self, a, inputs, log):
        x = inputs[0]
        i, j = axis_of(a.dim0, x, "dim0"), axis_of(a.dim1, x, "dim1")
        shape = list(x.shape)
        shape[i], shape[j] = shape[j], shape[i]
        return TensorType(tuple(shape))

    def label(self, a):
        return f"transpose {a.dim0}↔{a.dim1}"

    def torch(self, a, inputs, out):
        return TorchExpr(f"{{0}}.transpose({a.dim0}, {a.dim1})")

    def onnx(self, a, inputs, types, out, emit):
        rank = types[0].rank
        perm = list(range(rank))
        i, j = a.dim0 % rank, a.dim1 % rank
        perm[i], perm[j] = j, i
        return emit("Transpose", inputs[0], perm=perm)


class RollAttrs(Attrs):
    shifts: list[int]
    dims: list[int]  # one per shift


@register
class Roll(Op):
    """Shifts values along axes, those pushed off the end coming back at the start (as
    torch.roll; Swin's shifted windows)."""

    name = "roll"
    family = "shape"
    Attrs = RollAttrs

    def infer(self, a, inputs, log):
        x = inputs[0]
        if len(a.shifts) != len(a.dims) or not a.dims:
            raise ShapeError(f"shifts {a.shifts} and dims {a.dims}: give one shift per axis", attr="shifts")
        for d in a.dims:
            axis_of(d, x, "dims")
        return x

    def label(self, a):
        return f"roll {tuple(a.shifts)}"

    def torch(self, a, inputs, out):
        return TorchExpr(f"torch.roll({{0}}, shifts={tuple(a.shifts)}, dims={tuple(a.dims)})")

    def onnx(self, a, inputs, types, out, emit):
        # each axis: the last `shift` values, then the rest (a concrete size takes the shift
        # modulo the size; a symbolic one must be longer than the shift, as torch's is)
        x, rank = inputs[0], types[0].rank
        for dim, shift in zip(a.dims, a.shifts):
            axis, n = dim % rank, types[0].shape[dim % rank]
            cut = -(shift % n) if isinstance(n, int) else -shift
            if cut == 0:
                continue
            axes = emit.const("axes", [axis])
            tail = emit("Slice", x, emit.const("starts", [cut]), emit.const("ends", [2**63 - 1]), axes)
            head = emit("Slice", x, emit.const("starts", [0]), emit.const("ends", [cut]), axes)
            x = emit("Concat", tail, head, axis=axis)
        return x


class PadAttrs(Attrs):
    pads: list[NonNegativeInt]  # torch's F.pad order: (left, right) of the last axis, then of the one before…
    mode: Literal["constant", "reflect", "replicate"] = "constant"
    value: float = 0.0  # the constant mode's value


@register
class Pad(Op):
    """Pads the last axes (as F.pad): `pads` lists (before, after) pairs from the LAST axis
    backwards, so `[1, 1, 2, 2]` pads W by 1 and H by 2 on each side; constant (`value`),
    reflect (mirrored, the edge not repeated) or replicate (the edge repeated). The batch is
    never padded."""

    name = "pad"
    family = "shape"
    Attrs = PadAttrs

    def infer(self, a, inputs, log):
        x = inputs[0]
        if len(a.pads) % 2 or not a.pads or len(a.pads) // 2 >= x.rank:
            raise ShapeError(f"pads {a.pads}: give (before, after) pairs for at most the {x.rank - 1} "
                             f"non-batch axes of {x}", attr="pads")
        shape = list(x.shape)
        for k in range(len(a.pads) // 2):
            axis, before, after = x.rank - 1 - k, a.pads[2 * k], a.pads[2 * k + 1]
            n = shape[axis]
            if a.mode == "reflect" and isinstance(n, int) and max(before, after) >= n:
                raise ShapeError(f"reflect padding {max(before, after)} must be smaller than the size {n} "
                                 f"of axis {axis}", attr="pads")
            shape[axis] = n + before + after if isinstance(n, int) else symbolic.scale(n, 1, before + after)
            if shape[axis] is None:
                raise ShapeError(f"the size {n} is symbolic in a form padding cannot follow", attr="pads")
        return TensorType(tuple(shape))

    def label(self, a):
        return f"pad {tuple(a.pads)}" + ("" if a.mode == "constant" else f" {a.mode}")

    def torch(self, a, inputs, out):
        extra = "" if a.mode == "constant" and a.value == 0 else \
            f", value={a.value!r}" if a.mode == "constant" else f", mode={a.mode!r}"
        return TorchExpr(f"F.pad({{0}}, {tuple(a.pads)}{extra})")

    def onnx(self, a, inputs, types, out, emit):
        rank = types[0].rank
        begin, end = [0] * rank, [0] * rank
        for k in range(len(a.pads) // 2):
            begin[rank - 1 - k], end[rank - 1 - k] = a.pads[2 * k], a.pads[2 * k + 1]
        mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}[a.mode]
        value = emit.const("value", a.value, dtype="float32") if a.mode == "constant" else ""
        return emit("Pad", inputs[0], emit.const("pads", begin + end), value, mode=mode)
