"""Dropout (regularisation)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

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
