"""Fully connected layers: linear and maxout."""

from __future__ import annotations

from ..records import Field

from ..ir import GLOBAL
from .base import (Attrs, Op, PositiveInt, ShapeError, TensorType, TorchModule, check_declared, dims_text,
                   register)


class LinearAttrs(Attrs):
    out_features: PositiveInt = Field(description="output features (units)")
    bias: bool = Field(True, description="add a learned bias per output feature")
    in_features: PositiveInt | None = Field(None, description="input features, checked against the input; "
                                                              "default: inferred from the input")


def _in_features(a, inputs, log) -> int:
    x = inputs[0]
    if x.rank < 2:
        raise ShapeError(f"expects an N×…×F input, got {x}")
    f = x.shape[-1]
    if a.in_features is None and isinstance(f, int):  # nothing to check, so no message to write
        return f
    carried = f"'{log.input_names[0]}' carries {f:,} values per sample" if isinstance(f, int) else ""
    if x.rank > 2 and isinstance(f, int):
        carried += f" in its last axis ({x}; flatten first to use them all)"
    elif x.rank == 2 and log.producer_shape is not None and len(log.producer_shape) > 1:
        carried += f" ({dims_text(log.producer_shape)})"
    return check_declared(a, "in_features", f, carried)


@register
class Linear(Op):
    """y = W·x + b over the last axis (a fully connected layer)."""

    name = "linear"
    family = "linear"
    Attrs = LinearAttrs
    arity = (1, 1)
    params_are = ("weight", "bias")
    default_init = {"weight": "fan_in_uniform", "bias": "fan_in_uniform"}
    chain_rule = {"weight": "δ xᵀ", "bias": "δ", "x": "Wᵀ δ"}

    def output_overwritable(self, inputs):
        return True

    def infer(self, a: LinearAttrs, inputs, log):
        _in_features(a, inputs, log)
        return TensorType((*inputs[0].shape[:-1], a.out_features))

    def param_shapes(self, a, inputs, out):
        shapes = {"weight": (a.out_features, inputs[0].shape[-1])}
        if a.bias:
            shapes["bias"] = (a.out_features,)
        return shapes

    def macs(self, a, inputs, out):
        rows = out.per_sample()
        return None if rows is None else rows * inputs[0].shape[-1]

    def receptive(self, a, inputs):
        return GLOBAL

    def label(self, a):
        return f"fc {a.out_features}"

    def torch(self, a, inputs, out):
        return TorchModule("nn.Linear", (inputs[0].shape[-1], a.out_features), dict(bias=a.bias))

    def onnx(self, a, inputs, types, out, emit):
        return _affine(a, inputs[0], types[0], emit)


class MaxoutAttrs(LinearAttrs):
    pieces: PositiveInt = Field(2, description="linear pieces per output feature, of which the largest is kept")


@register
class Maxout(Op):
    """max(W1·x + b1, …, Wk·x + bk): k linear pieces, the elementwise maximum kept."""

    name = "maxout"
    family = "linear"
    Attrs = MaxoutAttrs
    params_are = ("weight", "bias")
    default_init = {"weight": "fan_in_uniform", "bias": "fan_in_uniform"}

    def infer(self, a: MaxoutAttrs, inputs, log):
        _in_features(a, inputs, log)
        return TensorType((*inputs[0].shape[:-1], a.out_features))

    def param_shapes(self, a, inputs, out):
        shapes = {"weight": (a.pieces * a.out_features, inputs[0].shape[-1])}
        if a.bias:
            shapes["bias"] = (a.pieces * a.out_features,)
        return shapes

    def macs(self, a, inputs, out):
        rows = out.per_sample()
        return None if rows is None else rows * a.pieces * inputs[0].shape[-1]

    def receptive(self, a, inputs):
        return GLOBAL

    def label(self, a):
        return f"maxout {a.out_features}×{a.pieces}"

    def torch(self, a, inputs, out):
        # rows k·out … (k+1)·out − 1 of the weight are piece k
        return TorchModule("Maxout", (inputs[0].shape[-1], a.out_features, a.pieces), dict(bias=a.bias))

    def onnx(self, a, inputs, types, out, emit):
        y = _affine(a, inputs[0], types[0], emit)  # …×(pieces·out)
        # 0 keeps a leading dim as it is (the batch may be symbolic): …×pieces×out
        pieces = emit("Reshape", y, emit.const("shape", [0] * (types[0].rank - 1) + [a.pieces, a.out_features]))
        return emit("ReduceMax", pieces, emit.const("axes", [-2]), keepdims=0)


def _affine(a, x: str, t, emit) -> str:
    """x·Wᵀ + b with torch's weight layout (out × in): one Gemm for N×F, else MatMul."""
    bias = [emit.param("bias")] if a.bias else []
    if t.rank == 2:
        return emit("Gemm", x, emit.param("weight"), *bias, transB=1)
    y = emit("MatMul", x, emit("Transpose", emit.param("weight")))
    return emit("Add", y, *bias) if bias else y
