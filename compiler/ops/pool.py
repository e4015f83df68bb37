"""Pooling: max (with its switches, and max-unpooling that consumes them), average,
power-average (L2) and adaptive/global average pooling.

A max pool's switches are torch's indices: for each output position, where its maximum sits
in its input plane, h·W + w. ONNX's MaxPool flattens them over N·C·H·W instead, and its
MaxUnpool reads them so: the ONNX lowerings convert at both ends, so every tensor the spec
names holds torch's per-plane index in either backend.
"""

from __future__ import annotations

from typing import Annotated

from ..records import Field

from .. import symbolic
from ..ir import GLOBAL
from .base import (Attrs, NonNegativePair, Op, Pair, ShapeError, TensorType, TorchExpr, TorchModule,
                   expect_rank, register, window_output)

SWITCHES = "int64"  # the dtype of a max pool's switches, as torch returns them


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


class MaxPoolAttrs(WindowAttrs):
    return_indices: bool = Field(False, description="a second output, `layer.1`: the switches, where each "
                                                    "maximum was (its index h·W + w in its input plane)")
    index: int | None = Field(None, description="which output: 0 the values, 1 the switches (set for "
                                                "`layer.k`; written by hand, keeps only that one)")


@register
class MaxPool2d(_Window):
    """Max over each window; `ceil_mode: true` rounds the output size up (Caffe, GoogLeNet).
    With `return_indices: true` it has two outputs: `pool.0`, the values, and `pool.1`, the
    switches (int64, torch's indices) that `max_unpool2d` puts the values back with."""

    name = "maxpool2d"
    Attrs = MaxPoolAttrs
    short = "maxpool"

    def outputs(self, a):
        return 2 if a.return_indices and a.index is None else 1

    @staticmethod
    def switches(a) -> bool:
        """Whether this node is the switches output."""
        return a.index is not None and a.index % 2 == 1

    def infer(self, a, inputs, log):
        if a.index is not None and not (a.return_indices and -2 <= a.index < 2):
            raise ShapeError(f"index {a.index} names no output: the layer has "
                             + ("2 outputs (0: values, 1: switches)" if a.return_indices
                                else "one output (return_indices: true adds the switches)"), attr="index")
        out = super().infer(a, inputs, log)
        return TensorType(out.shape, SWITCHES, plane=inputs[0].shape[2:]) if self.switches(a) else out

    def label(self, a):
        return super().label(a) + (" switches" if self.switches(a) else "")

    def torch(self, a, inputs, out):
        window = dict(stride=self.stride(a), padding=a.padding, ceil_mode=a.ceil_mode)
        if self.switches(a):
            return TorchModule("nn.MaxPool2d", (a.kernel,), dict(window, return_indices=True), call="{m}({0})[1]")
        return TorchModule("nn.MaxPool2d", (a.kernel,), window)

    def onnx(self, a, inputs, types, out, emit):
        if not self.switches(a):
            return emit("MaxPool", inputs[0], **self.onnx_window(a))
        _, flat = emit("MaxPool", inputs[0], outputs=2, **self.onnx_window(a))
        # ONNX's index runs over N·C·H·W: modulo the plane's H·W it is torch's
        return emit("Mod", flat, _plane_size(emit, inputs[0], types[0].shape[2:]))


class MaxUnpoolAttrs(Attrs):
    kernel: Pair = Field(description="the pool's window: one number for both axes, or [height, width]")
    stride: Pair | None = Field(None, description="the pool's stride: one number for both axes, or [height, width]; "
                                                  "default: the kernel")
    padding: NonNegativePair = Field((0, 0), description="the pool's padding: one number for both axes, or [height, width]")
    output_size: Pair | None = Field(None, description="the output's [height, width] where it is not (h − 1)·S − 2P + K "
                                                       "(a third input gives it as that tensor's size instead)")


@register
class MaxUnpool2d(Op):
    """Max-unpooling (torch's F.max_unpool2d, ONNX MaxUnpool), DeconvNet's: each value goes
    back where its max pool found it, zeros elsewhere. Inputs: the values and the pool's
    switches (`pool.1`, from `return_indices: true`); a third input, if given, is a tensor
    whose H×W the output takes (the pool's input, when the default size (h − 1)·S − 2P + K
    is not it: an odd size pooled by 2). The output must be as large as the plane the
    switches index, the pool's input. Window attributes as the pool's."""

    name = "max_unpool2d"
    family = "pool"
    Attrs = MaxUnpoolAttrs
    arity = (2, 3)
    integer_inputs = (1,)  # the switches

    def stride(self, a):
        return a.stride or a.kernel

    def infer(self, a, inputs, log):
        x = expect_rank(inputs, 4, "N×C×H×W")
        if inputs[1].shape != x.shape:
            raise ShapeError(f"the switches {inputs[1]} and the values {x} differ in shape: both come from one "
                             "pool's output", attr="in")
        if len(inputs) == 3:
            if a.output_size is not None:
                raise ShapeError("the output size is given twice: by output_size and by a third input",
                                 attr="output_size")
            expect_rank(inputs[2:], 4, "N×C×H×W, whose H×W the output takes")
        spatial = []
        for axis, n, k, s, p, default in zip(("H", "W"), x.shape[2:], a.kernel, self.stride(a), a.padding,
                                             self.default_size(a, x)):
            log.arithmetic.append(f"{axis}: ({n} − 1)·{s} − 2·{p} + {k} = {default}")
            if isinstance(default, int) and default < 1:
                raise ShapeError(f"{axis}: ({n} − 1)·{s} − 2·{p} + {k} = {default}, not a valid size", attr="padding")
            size, source = default, None
            if len(inputs) == 3:
                size, source = inputs[2].shape[2 + len(spatial)], (f"the size of {log.input_names[2]}", "in")
            elif a.output_size is not None:
                if not isinstance(n, int):
                    raise ShapeError(f"output_size fixes a size the symbolic {axis} size {n} may not unpool to",
                                     attr="output_size", notes=["give the pool's input as a third input: "
                                                                "`in: [values, pool.1, conv]` takes its size"])
                size, source = a.output_size[len(spatial)], ("output_size", "output_size")
            if source is not None:
                log.arithmetic[-1] += f"; {size} from {source[0]}"
                if isinstance(size, int) and isinstance(default, int) and not default - s < size < default + s:
                    raise ShapeError(f"{axis}: {size} ({source[0]}) is no size that pooling (window {k}, stride {s}) "
                                     f"brings to {n}: unpooling gives {default}, and torch takes only "
                                     f"{default - s + 1} to {default + s - 1}", attr=source[1])
            spatial.append(size)
        plane = inputs[1].plane
        if plane is not None and tuple(spatial) != plane:
            raise ShapeError(f"the switches index the pool's {plane[0]}×{plane[1]} input, but this unpooling gives "
                             f"{spatial[0]}×{spatial[1]}: the maxima would land elsewhere or outside", attr="in",
                             notes=["give the pool's input as a third input, `in: [values, pool.1, conv]`: the "
                                    "output takes its size"])
        return TensorType((*x.shape[:2], *spatial))

    def default_size(self, a, x: TensorType) -> list:
        """(h − 1)·S − 2P + K on each axis: the size MaxUnpool gives without an output size."""
        sizes = []
        for n, k, s, p in zip(x.shape[2:], a.kernel, self.stride(a), a.padding):
            size = (n - 1) * s - 2 * p + k if isinstance(n, int) else symbolic.scale(n, s, k - 2 * p - s)
            if size is None:
                raise ShapeError(f"the size {n} is symbolic in a form unpooling cannot follow; give the input a "
                                 "concrete size")
            sizes.append(size)
        return sizes

    def receptive(self, a, inputs):
        # as a transposed window: each output sees ⌈K/S⌉ inputs, positions 1/S apart
        return tuple(-(-k // s) for k, s in zip(a.kernel, self.stride(a))), tuple(1 / s for s in self.stride(a))

    def label(self, a):
        k, s = a.kernel, self.stride(a)
        return f"unpool {k[0]}×{k[1]}/{s[0]}"

    def sample_input(self, a, index, shapes, rng):
        """Switches a max pool of random values would give: the values are random, their
        places must lie in their windows, inside the output plane."""
        if index != 1:
            return None
        n, c, h, w = shapes[0]
        out = shapes[2][2:] if len(shapes) == 3 else a.output_size or self.default_size(a, TensorType((n, c, h, w)))
        return _switches(rng, (n, c, h, w), out, a.kernel, self.stride(a), a.padding)

    def torch(self, a, inputs, out):
        switches = "{1}" if inputs[1].dtype == SWITCHES else "{1}.long()"  # a graph input is float32
        size = ", output_size={2}.shape[-2:]" if len(inputs) == 3 else \
            f", output_size={tuple(a.output_size)}" if a.output_size else ""
        return TorchExpr(f"F.max_unpool2d({{0}}, {switches}, {a.kernel}, {self.stride(a)}, {a.padding}{size})")

    def onnx(self, a, inputs, types, out, emit):
        values, switches = inputs[:2]
        if types[1].dtype != SWITCHES:
            switches = emit("Cast", switches, to=7)  # INT64
        window = dict(kernel_shape=a.kernel, strides=self.stride(a), pads=[*a.padding, *a.padding])
        batch_channels = emit("Shape", values, start=0, end=2)
        default, size = self.default_size(a, types[0]), list(out.shape[2:])
        if size == default:  # MaxUnpool's own output size
            spatial = emit.const("output_hw", size) if _concrete(size) else self.onnx_default(a, emit, values)
            return emit("MaxUnpool", values, _flat(emit, switches, batch_channels, spatial), **window)
        # onnxruntime unpools to no size below the default: onto a canvas of the larger of the
        # two, each switch moved to its row and column there, then cropped
        spatial = emit.const("output_hw", size) if _concrete(size) else emit("Shape", inputs[2], start=2, end=4)
        if _concrete(size) and _concrete(default):
            canvas = size if all(o >= d for o, d in zip(size, default)) else list(map(max, size, default))
            canvas = spatial if canvas == size else emit.const("canvas_hw", canvas)
        else:
            canvas = emit("Max", spatial, self.onnx_default(a, emit, values))
        if canvas != spatial:
            width = emit("Slice", spatial, emit.const("w_from", [1]), emit.const("w_to", [2]))
            canvas_width = emit("Slice", canvas, emit.const("w_from", [1]), emit.const("w_to", [2]))
            switches = emit("Add", emit("Mul", emit("Div", switches, width), canvas_width), emit("Mod", switches, width))
        unpooled = emit("MaxUnpool", values, _flat(emit, switches, batch_channels, canvas),
                        emit("Concat", batch_channels, canvas, axis=0), **window)
        if canvas != spatial:
            unpooled = emit("Slice", unpooled, emit.const("origin", [0, 0]), spatial, emit.const("axes", [2, 3]))
        # shape inference leaves MaxUnpool's sizes unknown when given an output_shape: a
        # Reshape to the shape they have says them
        return emit("Reshape", unpooled, emit("Concat", batch_channels, spatial, axis=0))

    def onnx_default(self, a, emit, values: str) -> str:
        """(h − 1)·S − 2P + K of the values' size, as an int64 [2]."""
        stride = self.stride(a)
        return emit("Add", emit("Mul", emit("Shape", values, start=2, end=4), emit.const("stride", list(stride))),
                    emit.const("extent", [k - 2 * p - s for k, s, p in zip(a.kernel, stride, a.padding)]))


def _concrete(sizes) -> bool:
    return all(isinstance(n, int) for n in sizes)


def _flat(emit, switches: str, batch_channels: str, spatial: str) -> str:
    """Per-plane switches as ONNX's MaxUnpool reads them, over N·C·H·W: plane i of an output of
    H×W `spatial` starts at i·H·W."""
    plane = emit("ReduceProd", spatial, keepdims=0)
    end = emit("Mul", emit("ReduceProd", batch_channels, keepdims=0), plane)
    starts = emit("Range", emit.const("zero", 0), end, plane)
    starts = emit("Reshape", starts, emit("Concat", batch_channels, emit.const("ones", [1, 1]), axis=0))
    return emit("Add", switches, starts)


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


def _plane_size(emit, x: str, spatial) -> str:
    """H·W of the N×C×H×W value x, as an int64 [1]: a constant where both are concrete."""
    if all(isinstance(n, int) for n in spatial):
        return emit.const("plane", [spatial[0] * spatial[1]])
    return emit("ReduceProd", emit("Shape", x, start=2, end=4), keepdims=1)


def _switches(rng, shape: tuple, out: tuple, kernel, stride, padding):
    """For each position of a pooled N×C×h×w map, the argmax of its window over a random
    out-sized plane (clipped to the plane), as h·W + w: float32, as a graph input is."""
    import numpy as np  # (verify's and the tests' path only: building imports no NumPy)

    n, c, h, w = shape
    plane = rng.standard_normal((n, c, *out))
    switches = np.empty(shape, np.float32)
    for i in range(h):
        top = max(i * stride[0] - padding[0], 0)
        bottom = min(i * stride[0] - padding[0] + kernel[0], out[0])
        for j in range(w):
            left = max(j * stride[1] - padding[1], 0)
            right = min(j * stride[1] - padding[1] + kernel[1], out[1])
            window = plane[:, :, top:bottom, left:right].reshape(n, c, -1)
            r, q = np.divmod(window.argmax(-1), right - left)
            switches[:, :, i, j] = (top + r) * out[1] + left + q
    return switches


def _averaging(n: int, o: int) -> list[list[float]]:
    """o × n: row i averages PyTorch's adaptive window i of n positions."""
    rows = []
    for i in range(o):
        start, end = i * n // o, -(-(i + 1) * n // o)
        rows.append([1 / (end - start) if start <= j < end else 0.0 for j in range(n)])
    return rows
