"""The op registry. Each family module registers its ops where they are defined; this
list of imports is the one place that says which families exist."""

from . import activation, attention, conv, detection, dropout, frozen_norm, index, linear, merge, norm, parameter, pool, resize, roi, tensor, window  # noqa: F401  (registration)
from .base import REGISTRY, InferLog, Op, ShapeError

__all__ = ["REGISTRY", "InferLog", "Op", "ShapeError"]
