"""Dropout and stochastic depth (regularisation): the identity at inference."""

from __future__ import annotations

from typing import Annotated, Literal

from ..records import Field

from .activation import _Elementwise
from .base import Attrs, register


class DropoutAttrs(Attrs):
    p: Annotated[float, Field(ge=0, le=1)] = 0.5


@register
class Dropout(_Elementwise):
    """Zeroes each value with probability p while training (scaling the rest by 1/(1−p));
    the identity at inference."""

    name = "dropout"
    torch_class = "nn.Dropout"
    onnx_type = "Dropout"  # the identity at inference
    family = "regularization"
    Attrs = DropoutAttrs

    def label(self, a):
        return f"dropout {a.p:g}"


class DropPathAttrs(Attrs):
    p: Annotated[float, Field(ge=0, le=1)]
    mode: Literal["row", "batch"] = "row"  # row: each sample on its own; batch: all or none


@register
class DropPath(_Elementwise):
    """Stochastic depth (torchvision's StochasticDepth): while training, zeroes a whole
    sample with probability p (the residual branch it ends is dropped for that sample) and
    scales the kept ones by 1/(1−p); the identity at inference."""

    name = "drop_path"
    torch_class = "StochasticDepth"
    onnx_type = "Identity"
    family = "regularization"
    Attrs = DropPathAttrs

    def label(self, a):
        return f"drop_path {a.p:g}"
