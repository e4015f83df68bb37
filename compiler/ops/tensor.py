"""Reshaping without arithmetic: flatten, reshape, identity."""

from __future__ import annotations

import math

from .base import Attrs, NoAttrs, Op, ShapeError, TensorType, TorchExpr, dims_text, register


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
