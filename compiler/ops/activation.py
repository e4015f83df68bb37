"""Elementwise activations, and softmax over an axis."""

from __future__ import annotations

from typing import Literal

from .base import Attrs, NoAttrs, Op, ShapeError, register


class _Elementwise(Op):
    family = "activation"
    Attrs = NoAttrs

    def infer(self, a, inputs, log):
        return inputs[0]

    def label(self, a):
        return self.name


@register
class ReLU(_Elementwise):
    """max(0, x)."""

    name = "relu"


@register
class Sigmoid(_Elementwise):
    """σ(x) = 1 / (1 + e^−x)."""

    name = "sigmoid"


@register
class Tanh(_Elementwise):
    """tanh(x)."""

    name = "tanh"


class LeakyAttrs(Attrs):
    negative_slope: float = 0.1  # the slides' value (PyTorch defaults to 0.01)


@register
class LeakyReLU(_Elementwise):
    """x for x > 0, else slope·x."""

    name = "leaky_relu"
    Attrs = LeakyAttrs

    def label(self, a):
        return f"leaky_relu {a.negative_slope:g}"


class EluAttrs(Attrs):
    alpha: float = 1.0


@register
class ELU(_Elementwise):
    """x for x > 0, else α·(e^x − 1)."""

    name = "elu"
    Attrs = EluAttrs


class GeluAttrs(Attrs):
    approximate: Literal["none", "tanh"] = "none"


@register
class GELU(_Elementwise):
    """x·Φ(x), Φ the standard normal CDF."""

    name = "gelu"
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


@register
class LogSoftmax(_Softmax):
    """log softmax along `dim`; pairs with the negative log-likelihood loss."""

    name = "log_softmax"
