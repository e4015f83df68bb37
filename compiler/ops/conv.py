"""Convolutions: conv2d and conv_transpose2d."""

from __future__ import annotations

from typing import Literal

from ..records import Field

from .. import symbolic
from .base import (Attrs, InferLog, NonNegativePair, Op, Pair, PositiveInt, ShapeError, TensorType,
                   TorchModule, check_declared, expect_rank, register, window_output)


def _k(pair) -> str:
    return f"{pair[0]}×{pair[1]}" if pair[0] != pair[1] else f"{pair[0]}×{pair[0]}"


def _channels(a, x: TensorType, log: InferLog, attr: str = "in_channels") -> int:
    c = x.shape[1]
    return check_declared(a, attr, c, f"'{log.input_names[0]}' has {c} channels ({x})")


def _check_groups(a, in_c: int, out_c: int) -> None:
    for what, value in (("in_channels", in_c), ("out_channels", out_c)):
        if value % a.groups:
            raise ShapeError(f"{what} {value} is not divisible by groups {a.groups}", attr="groups")


class ConvAttrs(Attrs):
    out_channels: PositiveInt = Field(description="output channels (filters)")
    kernel: Pair = Field(description="filter size in pixels (F): one number for both axes, or [height, width]")
    stride: Pair = Field((1, 1), description="step between windows in pixels (S): one number for both axes, or [height, width]")
    padding: NonNegativePair | Literal["same", "valid"] = Field(
        (0, 0), description="zeros added on each side in pixels (P): one number for both axes, or [height, width]; same: keep the size (stride 1); "
                            "valid: none")
    dilation: Pair = Field((1, 1), description="spacing between kernel taps in pixels: one number for both axes, or [height, width]")
    groups: PositiveInt = Field(1, description="independent channel groups; in and out channels divide by it")
    bias: bool = Field(True, description="add a learned bias per output channel")
    in_channels: PositiveInt | None = Field(None, description="input channels, checked against the input; "
                                                              "default: inferred from the input")


@register
class Conv2d(Op):
    """2-D convolution over an N×C×H×W input: out = (N − F + 2P)/S + 1 per spatial axis.

    `padding: same` keeps the size (stride 1; any odd extra goes right/bottom, as in
    PyTorch); `groups` splits channels into independent groups (AlexNet's two towers)."""

    name = "conv2d"
    family = "conv"
    Attrs = ConvAttrs
    params_are = ("weight", "bias")
    default_init = {"weight": "fan_in_uniform", "bias": "fan_in_uniform"}

    def output_overwritable(self, inputs):
        return True

    def pads(self, a: ConvAttrs) -> tuple[tuple[int, int], tuple[int, int]]:
        """(before, after) padding per spatial axis."""
        if a.padding == "valid":
            return (0, 0), (0, 0)
        if a.padding == "same":
            total = [d * (k - 1) for k, d in zip(a.kernel, a.dilation)]
            return tuple((t // 2, t - t // 2) for t in total)
        return tuple((p, p) for p in a.padding)

    def infer(self, a: ConvAttrs, inputs, log):
        x = expect_rank(inputs, 4, "N×C×H×W")
        in_c = _channels(a, x, log)
        _check_groups(a, in_c, a.out_channels)
        if a.padding == "same" and a.stride != (1, 1):
            raise ShapeError("padding 'same' needs stride 1 (as in PyTorch)", attr="padding")
        spatial = [window_output(n, k, s, p, d, False, log, axis, pad_right=q)
                   for n, k, s, (p, q), d, axis in zip(x.shape[2:], a.kernel, a.stride, self.pads(a),
                                                       a.dilation, ("H", "W"))]
        return TensorType((x.shape[0], a.out_channels, *spatial))

    def param_shapes(self, a, inputs, out):
        shapes = {"weight": (a.out_channels, inputs[0].shape[1] // a.groups, *a.kernel)}
        if a.bias:
            shapes["bias"] = (a.out_channels,)
        return shapes

    def macs(self, a, inputs, out):
        hw = _spatial_count(out)
        return None if hw is None else hw * a.out_channels * inputs[0].shape[1] // a.groups * a.kernel[0] * a.kernel[1]

    def receptive(self, a, inputs):
        return tuple(d * (k - 1) + 1 for k, d in zip(a.kernel, a.dilation)), a.stride

    def label(self, a):
        extra = "".join([f" d{a.dilation[0]}" if a.dilation != (1, 1) else "",
                         f" g{a.groups}" if a.groups > 1 else ""])
        return f"conv {_k(a.kernel)}/{a.stride[0]}{extra}, {a.out_channels}"

    def torch(self, a, inputs, out):
        # padding in numbers, never 'same': torch.onnx.export writes 'same' as auto_pad, which
        # onnxruntime refuses with a dilation; one more after than before is an F.pad first, as
        # nn.Conv2d's own 'same' does it
        (top, bottom), (left, right) = self.pads(a)
        symmetric = top == bottom and left == right
        return TorchModule("nn.Conv2d", (inputs[0].shape[1], a.out_channels, a.kernel),
                           dict(stride=a.stride, padding=(top, left) if symmetric else 0, dilation=a.dilation,
                                groups=a.groups, bias=a.bias),
                           call=None if symmetric else f"{{m}}(F.pad({{0}}, ({left}, {right}, {top}, {bottom})))")

    def onnx(self, a, inputs, types, out, emit):
        (top, bottom), (left, right) = self.pads(a)  # 'same' may pad one more after than before
        return emit("Conv", inputs[0], *_weights(a, emit), kernel_shape=a.kernel, strides=a.stride,
                    pads=[top, left, bottom, right], dilations=a.dilation, group=a.groups)


class ConvTransposeAttrs(Attrs):
    out_channels: PositiveInt = Field(description="output channels")
    kernel: Pair = Field(description="filter size in pixels: one number for both axes, or [height, width]")
    stride: Pair = Field((1, 1), description="upsampling step in pixels: one number for both axes, or [height, width]")
    padding: NonNegativePair = Field((0, 0), description="pixels cropped from each side of the output: one number for both axes, or [height, width]")
    output_padding: NonNegativePair = Field((0, 0), description="pixels added to one side of the output, to reach "
                                                                "an exact size: one number for both axes, or [height, width]")
    dilation: Pair = Field((1, 1), description="spacing between kernel taps in pixels: one number for both axes, or [height, width]")
    groups: PositiveInt = Field(1, description="independent channel groups; in and out channels divide by it")
    bias: bool = Field(True, description="add a learned bias per output channel")
    in_channels: PositiveInt | None = Field(None, description="input channels, checked against the input; "
                                                              "default: inferred from the input")


@register
class ConvTranspose2d(Op):
    """Transposed ("fractionally strided") convolution, the learned upsampling of FCN:
    out = (N − 1)·S − 2P + D·(F − 1) + output_padding + 1."""

    name = "conv_transpose2d"
    family = "conv"
    Attrs = ConvTransposeAttrs
    params_are = ("weight", "bias")
    default_init = {"weight": "fan_in_uniform", "bias": "fan_in_uniform"}

    def output_overwritable(self, inputs):
        return True

    def infer(self, a: ConvTransposeAttrs, inputs, log):
        x = expect_rank(inputs, 4, "N×C×H×W")
        in_c = _channels(a, x, log)
        _check_groups(a, in_c, a.out_channels)
        spatial = []
        for n, k, s, p, op, d, axis in zip(x.shape[2:], a.kernel, a.stride, a.padding, a.output_padding,
                                           a.dilation, ("H", "W")):
            if op >= max(s, d):
                raise ShapeError(f"output_padding {op} must be smaller than stride {s} or dilation {d}",
                                 attr="output_padding")
            expr = f"({n} − 1)·{s} − 2·{p} + {d * (k - 1)} + {op} + 1"
            if isinstance(n, int):
                out = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
                if out < 1:
                    raise ShapeError(f"{axis}: {expr} = {out}, not a valid size", attr="padding")
            else:
                out = symbolic.scale(n, s, d * (k - 1) + op + 1 - 2 * p - s)
                if out is None:
                    raise ShapeError(f"the {axis} size {n} is symbolic in a form this op cannot follow")
            log.arithmetic.append(f"{axis}: {expr} = {out}")
            spatial.append(out)
        return TensorType((x.shape[0], a.out_channels, *spatial))

    def param_shapes(self, a, inputs, out):
        shapes = {"weight": (inputs[0].shape[1], a.out_channels // a.groups, *a.kernel)}
        if a.bias:
            shapes["bias"] = (a.out_channels,)
        return shapes

    def macs(self, a, inputs, out):
        hw = _spatial_count(inputs[0])
        return None if hw is None else hw * inputs[0].shape[1] * a.out_channels // a.groups * a.kernel[0] * a.kernel[1]

    def receptive(self, a, inputs):
        # each output sees ceil(F/S) input positions; positions get 1/S apart
        return tuple(-(-(d * (k - 1) + 1) // s) for k, s, d in zip(a.kernel, a.stride, a.dilation)), \
            tuple(1 / s for s in a.stride)

    def label(self, a):
        return f"deconv {_k(a.kernel)}/{a.stride[0]}, {a.out_channels}"

    def torch(self, a, inputs, out):
        return TorchModule("nn.ConvTranspose2d", (inputs[0].shape[1], a.out_channels, a.kernel),
                           dict(stride=a.stride, padding=a.padding, output_padding=a.output_padding,
                                groups=a.groups, bias=a.bias, dilation=a.dilation))

    def onnx(self, a, inputs, types, out, emit):
        # the weight is in_channels × out_channels/groups × kH × kW in ONNX as in torch
        return emit("ConvTranspose", inputs[0], *_weights(a, emit), kernel_shape=a.kernel, strides=a.stride,
                    pads=[*a.padding, *a.padding], output_padding=a.output_padding, dilations=a.dilation,
                    group=a.groups)


def _weights(a, emit) -> list[str]:
    return [emit.param("weight")] + ([emit.param("bias")] if a.bias else [])


def _spatial_count(t: TensorType) -> int | None:
    """H·W of an N×C×H×W type; None when symbolic (the MAC count is then unknown)."""
    h, w = t.shape[2:]
    return h * w if isinstance(h, int) and isinstance(w, int) else None
