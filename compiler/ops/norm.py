"""Normalisation: batch norm (1-D and 2-D), layer norm (trailing dims, or the channels of an
N×C×H×W map), group norm, local response norm (AlexNet)."""

from __future__ import annotations

from typing import Annotated

from ..records import BeforeValidator, Field

from .base import (Attrs, Op, PositiveInt, ShapeError, TensorType, TorchModule, check_declared, expect_rank,
                   register)


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

    def output_overwritable(self, inputs):
        return True

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


def _as_list(value):
    """`normalized_shape: 96` is `[96]`, as torch and `kernel: 3` take it."""
    return [value] if isinstance(value, int) and not isinstance(value, bool) else value


class LayerNormAttrs(Attrs):
    # the trailing dims; default: the last one
    normalized_shape: Annotated[list[PositiveInt], BeforeValidator(_as_list, json_schema_input_type=PositiveInt | list[PositiveInt])] | None = None
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

    def output_overwritable(self, inputs):
        return True

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


class ChannelNormAttrs(Attrs):
    eps: Annotated[float, Field(gt=0)] = 1e-5  # ConvNeXt uses 1e-6
    elementwise_affine: bool = True


@register
class LayerNorm2d(Op):
    """Layer norm over the channels of an N×C×H×W map, at each position on its own
    (torchvision's LayerNorm2d, ConvNeXt's): per-channel scale and shift, as `weight` and `bias`."""

    name = "layernorm2d"
    family = "norm"
    Attrs = ChannelNormAttrs
    params_are = ("weight", "bias")
    default_init = {"weight": "ones", "bias": "zeros"}

    def infer(self, a, inputs, log):
        x = expect_rank(inputs, 4, "N×C×H×W")
        if not isinstance(x.shape[1], int):
            raise ShapeError(f"cannot normalise over a symbolic channel count ({x})")
        return x

    def param_shapes(self, a, inputs, out):
        c = inputs[0].shape[1]
        return {"weight": (c,), "bias": (c,)} if a.elementwise_affine else {}

    def torch(self, a, inputs, out):
        return TorchModule("LayerNorm2d", (inputs[0].shape[1],),
                           dict(eps=a.eps, elementwise_affine=a.elementwise_affine))

    def onnx(self, a, inputs, types, out, emit):
        c = types[0].shape[1]
        affine = [emit.param("weight"), emit.param("bias")] if a.elementwise_affine else \
            [emit.const("scale", 1.0, "float32", (c,))]
        channels_last = emit("Transpose", inputs[0], perm=[0, 2, 3, 1])
        normalised = emit("LayerNormalization", channels_last, *affine, axis=-1, epsilon=a.eps)
        return emit("Transpose", normalised, perm=[0, 3, 1, 2])


class GroupNormAttrs(Attrs):
    num_groups: PositiveInt
    eps: Annotated[float, Field(gt=0)] = 1e-5
    affine: bool = True


@register
class GroupNorm(Op):
    """Normalises each sample over groups of `num_groups` consecutive channels (and all
    positions), then scales and shifts each channel (γ, β)."""

    name = "groupnorm"
    family = "norm"
    Attrs = GroupNormAttrs
    params_are = ("weight", "bias")
    default_init = {"weight": "ones", "bias": "zeros"}

    def output_overwritable(self, inputs):
        return True

    def infer(self, a, inputs, log):
        x = inputs[0]
        if x.rank < 2:
            raise ShapeError(f"expects an N×C×… input, got {x}")
        c = x.shape[1]
        if not isinstance(c, int):
            raise ShapeError(f"cannot group a symbolic channel count ({x})")
        if c % a.num_groups:
            raise ShapeError(f"{c} channels do not divide into {a.num_groups} groups ({c} mod {a.num_groups} = "
                             f"{c % a.num_groups})", attr="num_groups")
        return x

    def param_shapes(self, a, inputs, out):
        c = inputs[0].shape[1]
        return {"weight": (c,), "bias": (c,)} if a.affine else {}

    def label(self, a):
        return f"groupnorm {a.num_groups}"

    def torch(self, a, inputs, out):
        return TorchModule("nn.GroupNorm", (a.num_groups, inputs[0].shape[1]), dict(eps=a.eps, affine=a.affine))

    def onnx(self, a, inputs, types, out, emit):
        # ONNX's GroupNormalization scales per group before opset 21, torch per channel. The
        # statistics are taken over N × groups × (a group's values), and broadcast back per
        # channel by constant shapes, so ONNX's shape inference follows (a Reshape to Shape(x)
        # would lose the spatial sizes)
        x, g, rank = inputs[0], a.num_groups, types[0].rank
        c = types[0].shape[1]
        grouped = emit("Reshape", x, emit.const("grouped", [0, g, -1]))
        axis = emit.const("axis", [2])
        mean = emit("ReduceMean", grouped, axis)  # N × G × 1
        deviation = emit("Sub", grouped, mean)
        variance = emit("ReduceMean", emit("Mul", deviation, deviation), axis)
        per_channel = emit.const("per_channel", [0, c] + [1] * (rank - 2))  # N × C × 1 × 1

        def channels(stat):  # N × G × 1 -> N × C × 1 × 1, each group's value on its channels
            return emit("Reshape", emit("Expand", stat, emit.const("group", [1, 1, c // g])), per_channel)

        std = emit("Sqrt", emit("Add", channels(variance), emit.const("eps", a.eps, "float32")))
        y = emit("Div", emit("Sub", x, channels(mean)), std)
        if not a.affine:
            return y
        along_channels = emit.const("along_channels", [c] + [1] * (rank - 2))
        scaled = emit("Mul", y, emit("Reshape", emit.param("weight"), along_channels))
        return emit("Add", scaled, emit("Reshape", emit.param("bias"), along_channels))


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
