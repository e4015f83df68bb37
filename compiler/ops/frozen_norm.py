"""Frozen batch norm: torchvision's FrozenBatchNorm2d, which its pretrained detectors use in
their backbones (the batches of detection are too small for batch statistics)."""

from __future__ import annotations

from typing import Annotated

from ..records import Field

from .base import Attrs, Op, PositiveInt, ShapeError, TorchModule, check_declared, register


class FrozenBatchNormAttrs(Attrs):
    num_features: PositiveInt | None = None  # inferred (the channel axis) when omitted
    eps: Annotated[float, Field(ge=0)] = 1e-5  # torchvision's default (test_frozen_norm checks it)


@register
class FrozenBatchNorm2d(Op):
    """Batch norm with fixed statistics and affine values, all four buffers, not parameters
    (torchvision.ops.FrozenBatchNorm2d): y = (x − mean) / √(var + eps) · weight + bias, in
    training as at inference."""

    name = "frozen_batchnorm2d"
    family = "norm"
    Attrs = FrozenBatchNormAttrs
    default_init = {"weight": "ones", "bias": "zeros", "running_mean": "zeros", "running_var": "ones"}

    def output_overwritable(self, inputs):
        return True

    def infer(self, a, inputs, log):
        x = inputs[0]
        if x.rank != 4:
            raise ShapeError(f"expects an N×C×H×W input, got {x} (rank {x.rank})")
        check_declared(a, "num_features", x.shape[1], f"'{log.input_names[0]}' has {x.shape[1]} channels ({x})")
        return x

    def buffer_shapes(self, a, inputs, out):
        c = (inputs[0].shape[1],)
        return {"weight": c, "bias": c, "running_mean": c, "running_var": c}  # torchvision's order

    def label(self, a):
        return "frozen BN"

    def torch(self, a, inputs, out):
        return TorchModule("FrozenBatchNorm2d", (inputs[0].shape[1],), dict(eps=a.eps))

    def onnx(self, a, inputs, types, out, emit):
        return emit("BatchNormalization", inputs[0], *(emit.param(b) for b in ("weight", "bias", "running_mean",
                                                                              "running_var")), epsilon=a.eps)
