"""Ops that join several tensors: add, multiply (with broadcasting) and concat."""

from __future__ import annotations

from .base import Attrs, NoAttrs, Op, ShapeError, TensorType, TorchExpr, inputs_joined, register


def broadcast(inputs: list[TensorType], names: list[str]) -> TensorType:
    """NumPy broadcasting, with an error that lists every input's shape."""
    rank = max(t.rank for t in inputs)
    out = []
    for axis in range(rank):
        sizes = {t.shape[axis - rank + t.rank] for t in inputs if axis - rank + t.rank >= 0} - {1}
        if len(sizes) > 1:
            listed = ", ".join(f"'{n}' {t}" for n, t in zip(names, inputs))
            raise ShapeError(f"input shapes do not match (axis {axis}: {' vs '.join(map(str, sorted(sizes, key=str)))}): "
                             f"{listed}", notes=_batch_misaligned(inputs, names, rank))
        out.append(sizes.pop() if sizes else 1)
    return TensorType(tuple(out))


def _batch_misaligned(inputs: list[TensorType], names: list[str], rank: int) -> list[str]:
    """The squeeze-excitation mistake: a pooled N×C gating an N×C×H×W map. Broadcasting lines
    shapes up from the last axis, so the short input's batch axis meets a spatial one."""
    widest = next(n for n, t in zip(names, inputs) if t.rank == rank)
    return [f"'{name}' {t} has rank {t.rank} and '{widest}' rank {rank}: broadcasting lines shapes up from the "
            f"last axis, so the batch axis of '{name}' meets axis {rank - t.rank}; to scale each channel, give it "
            f"shape {'×'.join(map(str, t.shape))}{'×1' * (rank - t.rank)}: pool with `keepdim: true` "
            "(global_avgpool) or adaptive_avgpool2d to 1×1 without a flatten, or a reshape"
            for name, t in zip(names, inputs) if t.rank < rank and t.shape[0] == "N"]


class _Elementwise(Op):
    family = "merge"
    Attrs = NoAttrs
    arity = (2, None)
    operator: str  # the Python operator that joins the inputs
    onnx_type: str  # the binary ONNX operator, applied left to right as Python does

    def infer(self, a, inputs, log):
        return broadcast(inputs, log.input_names)

    def torch(self, a, inputs, out):
        return TorchExpr(inputs_joined(inputs, f" {self.operator} "))

    def onnx(self, a, inputs, types, out, emit):
        result = inputs[0]
        for other in inputs[1:]:
            result = emit(self.onnx_type, result, other)
        return result


@register
class Add(_Elementwise):
    """Elementwise sum of two or more inputs (a residual connection's join)."""

    name = "add"
    operator = "+"
    onnx_type = "Add"
    chain_rule = {"x": "δ, to every input"}

    def output_overwritable(self, inputs):
        return inputs > 1

    def label(self, a):
        return "+"


@register
class Multiply(_Elementwise):
    """Elementwise product of two or more inputs (gating, attention weights)."""

    name = "multiply"
    operator = "*"
    onnx_type = "Mul"

    def label(self, a):
        return "×"


class ConcatAttrs(Attrs):
    axis: int = 1  # channels


@register
class Concat(Op):
    """Joins inputs along `axis` (channels by default: Inception's four branches)."""

    name = "concat"
    family = "merge"
    Attrs = ConcatAttrs
    arity = (1, None)

    def output_overwritable(self, inputs):
        return inputs > 1

    def infer(self, a, inputs, log):
        rank = inputs[0].rank
        if not -rank <= a.axis < rank or a.axis % rank == 0:
            raise ShapeError(f"axis {a.axis} is out of range (rank {rank}; axis 0 is the batch)", attr="axis")
        axis = a.axis % rank
        for name, t in zip(log.input_names, inputs):
            if t.rank != rank or t.shape[:axis] + t.shape[axis + 1:] != inputs[0].shape[:axis] + inputs[0].shape[axis + 1:]:
                listed = ", ".join(f"'{n}' {t}" for n, t in zip(log.input_names, inputs))
                raise ShapeError(f"inputs must match in every axis but {axis}: {listed}")
        sizes = [t.shape[axis] for t in inputs]
        total = sum(sizes) if all(isinstance(s, int) for s in sizes) else "+".join(map(str, sizes))
        if len(sizes) > 1:
            log.arithmetic.append(" + ".join(map(str, sizes)) + f" = {total}")
        return TensorType((*inputs[0].shape[:axis], total, *inputs[0].shape[axis + 1:]))

    def label(self, a):
        return "concat"

    def torch(self, a, inputs, out):
        return TorchExpr(f"torch.cat([{inputs_joined(inputs, ', ')}], dim={a.axis})")

    def onnx(self, a, inputs, types, out, emit):
        return emit("Concat", *inputs, axis=a.axis)
