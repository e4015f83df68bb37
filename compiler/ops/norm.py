"""Normalisation: batch norm (1-D and 2-D), layer norm, local response norm (AlexNet)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import Attrs, Op, PositiveInt, ShapeError, TensorType, TorchModule, check_declared, register


class BatchNormAttrs(Attrs):
    num_features: PositiveInt | None = None  # inferred (the channel axis) when omitted
    eps: Annotated[float, Field(gt=0)] = 1e-5
    momentum: Annotated[float, Field(ge=0, le=1)] = 0.1
    affine: bool = True


class _BatchNorm(Op):
    family = "norm"
    Attrs = BatchNormAttrs
    ranks: tuple[int, ...]
    layout: str
    torch_class: str
    params_are = ("weight", "bias")
    default_init = {"weight": "ones", "bias": "zeros", "running_mean": "zeros", "running_var": "ones"}

    def infer(self, a, inputs, log):
        x = inputs[0]
        if x.rank not in self.ranks:
            raise ShapeError(f"expects a {self.layout} input, got {x} (rank {x.rank})")
        check_declared(a, "num_features", x.shape[1], f"'{log.input_names[0]}' has {x.shape[1]} channels ({x})")
        return x

    def param_shapes(self, a, inputs, out):
        c = inputs[0].shape[1]
        return {"weight": (c,), "bias": (c,)} if a.affine else {}

    def buffer_shapes(self, a, inputs, out):
        c = inputs[0].shape[1]  # num_batches_tracked (one int64) is left out, as documented
        return {"running_mean": (c,), "running_var": (c,)}

    def label(self, a):
        return "batchnorm"

    def torch(self, a, inputs, out):
        return TorchModule(self.torch_class, (inputs[0].shape[1],),
                           dict(eps=a.eps, momentum=a.momentum, affine=a.affine))

    def onnx(self, a, inputs, types, out, emit):
        c = types[0].shape[1]
        scale, shift = ((emit.param("weight"), emit.param("bias")) if a.affine else
                        (emit.const("scale", 1.0, "float32", (c,)), emit.const("shift", 0.0, "float32", (c,))))
        return emit("BatchNormalization", inputs[0], scale, shift, emit.param("running_mean"),
                    emit.param("running_var"), epsilon=a.eps)


@register
class BatchNorm2d(_BatchNorm):
    """Normalises each channel over the batch and spatial positions, then scales and shifts
    (γ, β); keeps running mean and variance for inference."""

    name = "batchnorm2d"
    torch_class = "nn.BatchNorm2d"
    ranks = (4,)
    layout = "N×C×H×W"


@register
class BatchNorm1d(_BatchNorm):
    """Batch norm over features (N×C) or channels of sequences (N×C×L)."""

    name = "batchnorm1d"
    torch_class = "nn.BatchNorm1d"
    ranks = (2, 3)
    layout = "N×C or N×C×L"


class LayerNormAttrs(Attrs):
    normalized_shape: list[PositiveInt] | None = None  # the trailing dims; default: the last one
    eps: Annotated[float, Field(gt=0)] = 1e-5
    elementwise_affine: bool = True


@register
class LayerNorm(Op):
    """Normalises each sample over its trailing dims, then scales and shifts elementwise."""

    name = "layernorm"
    family = "norm"
    Attrs = LayerNormAttrs
    params_are = ("weight", "bias")
    default_init = {"weight": "ones", "bias": "zeros"}

    def normalized(self, a, x: TensorType) -> tuple:
        return tuple(a.normalized_shape) if a.normalized_shape else x.shape[-1:]

    def infer(self, a, inputs, log):
        x = inputs[0]
        trailing = x.shape[-len(a.normalized_shape):] if a.normalized_shape else x.shape[-1:]
        if not all(isinstance(d, int) for d in trailing):
            raise ShapeError(f"cannot normalise over symbolic dims {trailing}")
        if a.normalized_shape and (len(a.normalized_shape) >= x.rank or tuple(a.normalized_shape) != trailing):
            raise ShapeError(f"normalized_shape {a.normalized_shape} does not match the trailing dims of {x}",
                             attr="normalized_shape")
        return x

    def param_shapes(self, a, inputs, out):
        shape = self.normalized(a, inputs[0])
        return {"weight": shape, "bias": shape} if a.elementwise_affine else {}

    def label(self, a):
        return "layernorm"

    def torch(self, a, inputs, out):
        return TorchModule("nn.LayerNorm", (self.normalized(a, inputs[0]),),
                           dict(eps=a.eps, elementwise_affine=a.elementwise_affine))

    def onnx(self, a, inputs, types, out, emit):
        shape = self.normalized(a, types[0])
        affine = [emit.param("weight"), emit.param("bias")] if a.elementwise_affine else \
            [emit.const("scale", 1.0, "float32", shape)]  # the scale is required, the shift not
        return emit("LayerNormalization", inputs[0], *affine, axis=-len(shape), epsilon=a.eps)


class LRNAttrs(Attrs):
    size: PositiveInt = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0  # PyTorch's default; the AlexNet paper used k = 2


@register
class LocalResponseNorm(Op):
    """AlexNet's local response normalisation across `size` neighbouring channels:
    b = a / (k + α/n · Σ a²)^β."""

    name = "local_response_norm"
    family = "norm"
    Attrs = LRNAttrs

    def infer(self, a, inputs, log):
        x = inputs[0]
        if x.rank < 3:
            raise ShapeError(f"expects an N×C×… input, got {x}")
        return x

    def label(self, a):
        return f"LRN {a.size}"

    def torch(self, a, inputs, out):
        return TorchModule("nn.LocalResponseNorm", (a.size,), dict(alpha=a.alpha, beta=a.beta, k=a.k))

    def onnx(self, a, inputs, types, out, emit):
        # ONNX's LRN divides α by the size as torch does; its window is torch's for odd sizes
        if a.size % 2 == 0:
            raise NotImplementedError("onnxruntime's LRN takes odd sizes only, and ONNX centres even "
                                      "windows one channel later than torch")
        return emit("LRN", inputs[0], size=a.size, alpha=a.alpha, beta=a.beta, bias=a.k)
