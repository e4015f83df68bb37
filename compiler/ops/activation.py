"""Elementwise activations, and softmax over an axis."""

from __future__ import annotations

from typing import Literal

from .base import Attrs, NoAttrs, Op, ShapeError, TorchModule, register


class _Elementwise(Op):
    family = "activation"
    Attrs = NoAttrs
    torch_class: str  # the torch.nn module; its arguments are the op's attributes, same names

    def infer(self, a, inputs, log):
        return inputs[0]

    def label(self, a):
        return self.name

    def torch(self, a, inputs, out):
        return TorchModule(self.torch_class, kwargs=a.model_dump())


@register
class ReLU(_Elementwise):
    """max(0, x)."""

    name = "relu"
    torch_class = "nn.ReLU"


@register
class Sigmoid(_Elementwise):
    """σ(x) = 1 / (1 + e^−x)."""

    name = "sigmoid"
    torch_class = "nn.Sigmoid"


@register
class Tanh(_Elementwise):
    """tanh(x)."""

    name = "tanh"
    torch_class = "nn.Tanh"


class LeakyAttrs(Attrs):
    negative_slope: float = 0.1  # the slides' value (PyTorch defaults to 0.01)


@register
class LeakyReLU(_Elementwise):
    """x for x > 0, else slope·x."""

    name = "leaky_relu"
    torch_class = "nn.LeakyReLU"
    Attrs = LeakyAttrs

    def label(self, a):
        return f"leaky_relu {a.negative_slope:g}"


class EluAttrs(Attrs):
    alpha: float = 1.0


@register
class ELU(_Elementwise):
    """x for x > 0, else α·(e^x − 1)."""

    name = "elu"
    torch_class = "nn.ELU"
    Attrs = EluAttrs


class GeluAttrs(Attrs):
    approximate: Literal["none", "tanh"] = "none"


@register
class GELU(_Elementwise):
    """x·Φ(x), Φ the standard normal CDF."""

    name = "gelu"
    torch_class = "nn.GELU"
    Attrs = GeluAttrs


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


class AxisAttrs(Attrs):
    dim: int = -1


class _Softmax(_Elementwise):
    Attrs = AxisAttrs

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


@register
class LogSoftmax(_Softmax):
    """log softmax along `dim`; pairs with the negative log-likelihood loss."""

    name = "log_softmax"
    torch_class = "nn.LogSoftmax"
