"""Elementwise activations, and softmax over an axis."""

from __future__ import annotations

import math
from typing import Literal

from ..records import dump
from .base import Attrs, NoAttrs, Op, PositiveInt, ShapeError, TorchModule, register


class _Elementwise(Op):
    family = "activation"
    Attrs = NoAttrs
    torch_class: str  # the torch.nn module; its arguments are the op's attributes, same names
    onnx_type: str  # the ONNX operator; its attributes from onnx_attrs

    def infer(self, a, inputs, log):
        return inputs[0]

    def label(self, a):
        return self.name

    def torch(self, a, inputs, out):
        return TorchModule(self.torch_class, kwargs=dump(a))

    def onnx_attrs(self, a) -> dict:
        return {}

    def onnx(self, a, inputs, types, out, emit):
        return emit(self.onnx_type, inputs[0], **self.onnx_attrs(a))


@register
class ReLU(_Elementwise):
    """max(0, x)."""

    name = "relu"
    torch_class = "nn.ReLU"
    onnx_type = "Relu"
    chain_rule = {"x": "δ ⊙ relu'(x)"}
    derivative = "relu'(x) = 1 where x > 0, else 0"
    overwrites_input = True  # threshold_backward reads the result


@register
class ReLU6(_Elementwise):
    """min(max(0, x), 6): ReLU capped at 6, MobileNet's activation."""

    name = "relu6"
    torch_class = "nn.ReLU6"
    chain_rule = {"x": "δ ⊙ relu6'(x)"}
    derivative = "relu6'(x) = 1 where 0 < x < 6, else 0"
    overwrites_input = True  # hardtanh_backward reads the result

    def onnx(self, a, inputs, types, out, emit):
        return emit("Clip", inputs[0], emit.const("min", 0.0, "float32"), emit.const("max", 6.0, "float32"))


@register
class Sigmoid(_Elementwise):
    """σ(x) = 1 / (1 + e^−x)."""

    name = "sigmoid"
    torch_class = "nn.Sigmoid"
    onnx_type = "Sigmoid"
    chain_rule = {"x": "δ ⊙ σ'(x)"}
    derivative = "σ'(x) = σ(x)(1 − σ(x))"


@register
class Tanh(_Elementwise):
    """tanh(x)."""

    name = "tanh"
    torch_class = "nn.Tanh"
    onnx_type = "Tanh"
    chain_rule = {"x": "δ ⊙ tanh'(x)"}
    derivative = "tanh'(x) = 1 − tanh²(x)"


@register
class SiLU(_Elementwise):
    """x·σ(x) (swish): EfficientNet's activation."""

    name = "silu"
    torch_class = "nn.SiLU"

    def onnx(self, a, inputs, types, out, emit):
        return emit("Mul", inputs[0], emit("Sigmoid", inputs[0]))


@register
class Mish(_Elementwise):
    """x·tanh(softplus(x)), softplus(x) = ln(1 + e^x)."""

    name = "mish"
    torch_class = "nn.Mish"

    def onnx(self, a, inputs, types, out, emit):
        return emit("Mul", inputs[0], emit("Tanh", emit("Softplus", inputs[0])))


@register
class HardSigmoid(_Elementwise):
    """min(max(0, x/6 + ½), 1): a piecewise-linear σ, MobileNetV3's gate."""

    name = "hardsigmoid"
    torch_class = "nn.Hardsigmoid"
    onnx_type = "HardSigmoid"

    def onnx_attrs(self, a):
        return {"alpha": 1 / 6, "beta": 0.5}  # ONNX's defaults (0.2, 0.5) are not torch's


@register
class HardSwish(_Elementwise):
    """x·hardsigmoid(x): MobileNetV3's activation."""

    name = "hardswish"
    torch_class = "nn.Hardswish"
    onnx_type = "HardSwish"


class PReLUAttrs(Attrs):
    num_parameters: PositiveInt = 1  # one slope for all channels, or one per channel (C)


@register
class PReLU(Op):
    """x for x > 0, else a·x with a learnt slope a (initially ¼): one for every channel,
    or one per channel of axis 1."""

    name = "prelu"
    family = "activation"
    Attrs = PReLUAttrs
    params_are = ("weight",)
    default_init = {"weight": 0.25}  # nn.PReLU's init

    def infer(self, a, inputs, log):
        x = inputs[0]
        if a.num_parameters != 1 and a.num_parameters != x.shape[1]:
            raise ShapeError(f"num_parameters is {a.num_parameters} but the input {x} has {x.shape[1]} "
                             "channels (axis 1); give 1 or the channel count", attr="num_parameters")
        return x

    def param_shapes(self, a, inputs, out):
        return {"weight": (a.num_parameters,)}

    def label(self, a):
        return "prelu"

    def torch(self, a, inputs, out):
        return TorchModule("nn.PReLU", kwargs={"num_parameters": a.num_parameters})

    def onnx(self, a, inputs, types, out, emit):
        rank = types[0].rank
        # ONNX broadcasts the slope from the last axis: C slopes become C × 1 × 1 …
        slope = emit.param("weight")
        if a.num_parameters > 1 and rank > 2:
            slope = emit("Reshape", slope, emit.const("slope_shape", [a.num_parameters] + [1] * (rank - 2)))
        return emit("PRelu", inputs[0], slope)


class LeakyAttrs(Attrs):
    negative_slope: float = 0.1  # the slides' value (PyTorch defaults to 0.01)


@register
class LeakyReLU(_Elementwise):
    """x for x > 0, else slope·x."""

    name = "leaky_relu"
    torch_class = "nn.LeakyReLU"
    onnx_type = "LeakyRelu"
    Attrs = LeakyAttrs

    def label(self, a):
        return f"leaky_relu {a.negative_slope:g}"

    def onnx_attrs(self, a):
        return {"alpha": a.negative_slope}


class EluAttrs(Attrs):
    alpha: float = 1.0


@register
class ELU(_Elementwise):
    """x for x > 0, else α·(e^x − 1)."""

    name = "elu"
    torch_class = "nn.ELU"
    onnx_type = "Elu"
    Attrs = EluAttrs

    def onnx_attrs(self, a):
        return {"alpha": a.alpha}


class GeluAttrs(Attrs):
    approximate: Literal["none", "tanh"] = "none"


@register
class GELU(_Elementwise):
    """x·Φ(x), Φ the standard normal CDF."""

    name = "gelu"
    torch_class = "nn.GELU"
    Attrs = GeluAttrs

    def onnx(self, a, inputs, types, out, emit):
        # ONNX has Gelu from opset 20 only: torch's own formulas, ½·x·(1 + core)
        x, c = inputs[0], lambda what, v: emit.const(what, v, "float32")
        if a.approximate == "tanh":  # core = tanh(√(2/π)·(x + 0.044715·x³))
            cubic = emit("Mul", emit("Mul", emit("Mul", x, x), x), c("kappa", 0.044715))
            core = emit("Tanh", emit("Mul", emit("Add", x, cubic), c("sqrt_2_over_pi", math.sqrt(2 / math.pi))))
        else:  # core = erf(x/√2)
            core = emit("Erf", emit("Mul", x, c("sqrt_half", math.sqrt(0.5))))
        return emit("Mul", emit("Mul", x, c("half", 0.5)), emit("Add", core, c("one", 1.0)))


class StepAttrs(Attrs):
    threshold: float = 0.0


@register
class Step(_Elementwise):
    """The perceptron's threshold: 1 where x ≥ threshold, else 0. Its gradient is zero
    almost everywhere, so a network using it runs forward but cannot be trained by
    backpropagation."""

    name = "step"
    Attrs = StepAttrs

    def torch(self, a, inputs, out):
        return TorchModule("Step", kwargs={"threshold": a.threshold}, named=True)

    def onnx(self, a, inputs, types, out, emit):
        fired = emit("GreaterOrEqual", inputs[0], emit.const("threshold", a.threshold, "float32"))
        return emit("Cast", fired, to=1)  # 1: float32


class AxisAttrs(Attrs):
    dim: int = -1


class _Softmax(_Elementwise):
    Attrs = AxisAttrs

    def onnx_attrs(self, a):
        return {"axis": a.dim}

    def infer(self, a, inputs, log):
        x = inputs[0]
        if not -x.rank <= a.dim < x.rank:
            raise ShapeError(f"dim {a.dim} is out of range for {x} (rank {x.rank})", attr="dim")
        return x


@register
class Softmax(_Softmax):
    """e^x / Σ e^x along `dim` (default the last axis)."""

    name = "softmax"
    torch_class = "nn.Softmax"
    onnx_type = "Softmax"
    chain_rule = {"x": "Jᵀ δ = s ⊙ (δ − sᵀδ), s = softmax(x), J = diag(s) − s sᵀ"}


@register
class LogSoftmax(_Softmax):
    """log softmax along `dim`; pairs with the negative log-likelihood loss."""

    name = "log_softmax"
    torch_class = "nn.LogSoftmax"
    onnx_type = "LogSoftmax"
