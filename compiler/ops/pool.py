"""Pooling: max, average, power-average (L2) and adaptive/global average pooling."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ..ir import GLOBAL
from .base import (Attrs, NonNegativePair, Op, Pair, ShapeError, TensorType, TorchExpr, TorchModule,
                   expect_rank, register, window_output)


class WindowAttrs(Attrs):
    kernel: Pair = Field(description="window size in pixels: one number for both axes, or [height, width]")
    stride: Pair | None = Field(None, description="step between windows in pixels: one number for both axes, or [height, width]; default: the kernel "
                                                  "(non-overlapping windows)")
    padding: NonNegativePair = Field((0, 0), description="padding on each side in pixels: one number for both axes, or [height, width]")
    ceil_mode: bool = Field(False, description="round the output size up, as Caffe (PyTorch and ONNX round down)")


class _Window(Op):
    family = "pool"
    what = "pooling window"
    short = "pool"

    def stride(self, a):
        return a.stride or a.kernel

    def infer(self, a, inputs, log):
        x = expect_rank(inputs, 4, "N×C×H×W")
        for k, p in zip(a.kernel, a.padding):
            if p > k // 2:
                raise ShapeError(f"padding {p} is more than half the window {k} (PyTorch refuses it)",
                                 attr="padding")
        spatial = [window_output(n, k, s, p, 1, a.ceil_mode, log, axis, self.what)
                   for n, k, s, p, axis in zip(x.shape[2:], a.kernel, self.stride(a), a.padding, ("H", "W"))]
        return TensorType((*x.shape[:2], *spatial))

    def receptive(self, a, inputs):
        return a.kernel, self.stride(a)

    def onnx_window(self, a) -> dict:
        """The ONNX pooling attributes; ONNX's ceil mode follows PyTorch's rule too (opset ≥ 18)."""
        return dict(kernel_shape=a.kernel, strides=self.stride(a), pads=[*a.padding, *a.padding],
                    ceil_mode=int(a.ceil_mode))

    def label(self, a):
        k, s = a.kernel, self.stride(a)
        size = f"{k[0]}×{k[1]}/{s[0]}"
        return f"{self.short} {size}" + (" ceil" if a.ceil_mode else "")


@register
class MaxPool2d(_Window):
    """Max over each window; `ceil_mode: true` rounds the output size up (Caffe, GoogLeNet)."""

    name = "maxpool2d"
    Attrs = WindowAttrs
    short = "maxpool"

    def torch(self, a, inputs, out):
        return TorchModule("nn.MaxPool2d", (a.kernel,), dict(stride=self.stride(a), padding=a.padding,
                                                            ceil_mode=a.ceil_mode))

    def onnx(self, a, inputs, types, out, emit):
        return emit("MaxPool", inputs[0], **self.onnx_window(a))


class AvgPoolAttrs(WindowAttrs):
    count_include_pad: bool = Field(True, description="average over the padding's zeros too")


@register
class AvgPool2d(_Window):
    """Mean over each window."""

    name = "avgpool2d"
    Attrs = AvgPoolAttrs
    short = "avgpool"

    def torch(self, a, inputs, out):
        return TorchModule("nn.AvgPool2d", (a.kernel,), dict(stride=self.stride(a), padding=a.padding,
                                                            ceil_mode=a.ceil_mode,
                                                            count_include_pad=a.count_include_pad))

    def onnx(self, a, inputs, types, out, emit):
        return emit("AveragePool", inputs[0], count_include_pad=int(a.count_include_pad), **self.onnx_window(a))


class LPPoolAttrs(Attrs):
    norm_type: Annotated[float, Field(gt=0)] = Field(2.0, description="p of the power average (Σxᵖ)^(1/p)")
    kernel: Pair = Field(description="window size in pixels: one number for both axes, or [height, width]")
    stride: Pair | None = Field(None, description="step between windows in pixels: one number for both axes, or [height, width]; default: the kernel")
    ceil_mode: bool = Field(False, description="round the output size up")

    @property
    def padding(self):
        return (0, 0)


@register
class LPPool2d(_Window):
    """Power-average pooling (sum x^p)^(1/p); p = 2 is the slides' L2 pooling."""

    name = "lppool2d"
    Attrs = LPPoolAttrs
    short = "L2pool"

    def label(self, a):
        return super().label(a).replace("L2", f"L{a.norm_type:g}")

    def torch(self, a, inputs, out):
        return TorchModule("nn.LPPool2d", (a.norm_type, a.kernel), dict(stride=self.stride(a),
                                                                       ceil_mode=a.ceil_mode))

    def onnx(self, a, inputs, types, out, emit):
        # torch's formula, (kH·kW · mean of x^p)^(1/p), rather than ONNX's LpPool, (Σ|x|^p)^(1/p):
        # they differ for odd p on negative values and in ceil mode's clipped windows
        powered = emit("Pow", inputs[0], emit.const("p", a.norm_type, "float32"))
        mean = emit("AveragePool", powered, count_include_pad=0, **self.onnx_window(a))
        summed = emit("Mul", mean, emit.const("window", a.kernel[0] * a.kernel[1], "float32"))
        return emit("Pow", summed, emit.const("root", 1 / a.norm_type, "float32"))


class AdaptiveAttrs(Attrs):
    output_size: Pair = Field(description="the output's size in pixels, whatever the input's: one number for both axes, or [height, width]")


@register
class AdaptiveAvgPool2d(Op):
    """Average pooling to a fixed output size, whatever the input size (torchvision's 6×6
    before AlexNet's classifier, 1×1 before ResNet's)."""

    name = "adaptive_avgpool2d"
    family = "pool"
    Attrs = AdaptiveAttrs

    def infer(self, a, inputs, log):
        x = expect_rank(inputs, 4, "N×C×H×W")
        log.arithmetic.append(f"adaptive: {x.shape[2]}×{x.shape[3]} → {a.output_size[0]}×{a.output_size[1]}")
        return TensorType((*x.shape[:2], *a.output_size))

    def receptive(self, a, inputs):
        sizes = inputs[0].shape[2:]
        if not all(isinstance(n, int) for n in sizes):
            return GLOBAL
        # the largest of PyTorch's adaptive windows: ceil((i+1)·n/o) − floor(i·n/o)
        return (tuple(-(-n // o) + (n % o != 0) for n, o in zip(sizes, a.output_size)),
                tuple(max(1, n // o) for n, o in zip(sizes, a.output_size)))

    def label(self, a):
        return f"adaptive avgpool → {a.output_size[0]}×{a.output_size[1]}"

    def torch(self, a, inputs, out):
        return TorchModule("nn.AdaptiveAvgPool2d", (a.output_size,))

    def onnx(self, a, inputs, types, out, emit):
        sizes = types[0].shape[2:]
        if not all(isinstance(n, int) for n in sizes):
            if a.output_size != (1, 1):
                raise NotImplementedError(f"adaptive pooling of the symbolic size {sizes[0]}×{sizes[1]} "
                                          "has no ONNX lowering but to 1×1")
            return emit("ReduceMean", inputs[0], emit.const("axes", [2, 3]), keepdims=1)
        if all(n % o == 0 for n, o in zip(sizes, a.output_size)):  # equal windows: a plain pool
            window = [n // o for n, o in zip(sizes, a.output_size)]
            return emit("AveragePool", inputs[0], kernel_shape=window, strides=window)
        # unequal windows: a mean over a rectangle is a mean of row means, so x·Awᵀ then Ah·(…)
        # with the averaging matrices of torch's windows [⌊i·n/o⌋, ⌈(i+1)·n/o⌉)
        (rows_h, rows_w) = (_averaging(n, o) for n, o in zip(sizes, a.output_size))
        across = emit("MatMul", inputs[0], emit.const("average_w", list(map(list, zip(*rows_w))), "float32"))
        return emit("MatMul", emit.const("average_h", rows_h, "float32"), across)


class GlobalAttrs(Attrs):
    keepdim: bool = Field(False, description="output N×C×1×1 instead of N×C")


@register
class GlobalAvgPool(Op):
    """Mean over all spatial positions: N×C×H×W → N×C (or N×C×1×1 with keepdim)."""

    name = "global_avgpool"
    family = "pool"
    Attrs = GlobalAttrs

    def infer(self, a, inputs, log):
        x = expect_rank(inputs, 4, "N×C×H×W")
        return TensorType((*x.shape[:2], 1, 1) if a.keepdim else x.shape[:2])

    def receptive(self, a, inputs):
        return GLOBAL

    def label(self, a):
        return "global avgpool"

    def torch(self, a, inputs, out):
        return TorchExpr(f"{{0}}.mean((2, 3), keepdim={a.keepdim})")

    def onnx(self, a, inputs, types, out, emit):
        return emit("ReduceMean", inputs[0], emit.const("axes", [2, 3]), keepdims=int(a.keepdim))


def _averaging(n: int, o: int) -> list[list[float]]:
    """o × n: row i averages PyTorch's adaptive window i of n positions."""
    rows = []
    for i in range(o):
        start, end = i * n // o, -(-(i + 1) * n // o)
        rows.append([1 / (end - start) if start <= j < end else 0.0 for j in range(n)])
    return rows
