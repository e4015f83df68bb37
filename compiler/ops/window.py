"""Swin's window ops (Liu et al., 2021), as torchvision builds them: shifted-window
attention and patch merging, on channels-last maps N×H×W×C.

Each is one op, not a chain of reshapes, gathers and linears written in the spec, for two
reasons. Its parameters then sit where torchvision's checkpoints have them, in its order:
ShiftedWindowAttention's own relative_position_bias_table and relative_position_index come
before its qkv and proj, and PatchMerging registers its `reduction` before its `norm`
though it applies the norm first; a spec's layers register in data-flow order
(graph.topological()), which cannot say either. And the window arithmetic (padding to
whole windows, the cyclic shift and its mask, cutting the map into windows, kept beside the
batch as N×nW×L×C where torchvision folds them into it, and back) is torchvision's
`shifted_window_attention` function: one line of spec, as multihead_attention is for ViT.

MACs: the four projections (q, k, v and the output: 4·C² per token of the padded map) and,
per window and head, QKᵀ and AV (L·L·C/h each, L = window tokens): 2·L·C per token; the
softmax, the bias and the mask count nothing (as torchvision's published figures count).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ..records import Field

from .. import symbolic
from ..ir import Dim
from .attention import attend
from .base import Attrs, NonNegativePair, Op, Pair, PositiveInt, ShapeError, TensorType, TorchModule, register

END = 2**63 - 1  # ONNX Slice's "to the end"
CHANNELS_LAST = ("the map is read channels-last, N×H×W×C (torchvision's Swin layout): an N×C×H×W map "
                 "needs {op: permute, dims: [0, 2, 3, 1]} first")
MASKED = -100.0  # torchvision's score for a pair of tokens from different regions of a shifted window


def relative_position_index(window: tuple[int, int]) -> np.ndarray:
    """For each pair (i, j) of a window's tokens, flattened row-major i·L + j, the row of the
    bias table that holds their offset: (Δrow + Wh − 1)·(2·Ww − 1) + Δcol + Ww − 1."""
    import numpy as np  # (the lowerings' and initialisation's path only: building imports no NumPy)

    wh, ww = window
    rows, cols = np.divmod(np.arange(wh * ww), ww)
    d_row, d_col = rows[:, None] - rows[None, :], cols[:, None] - cols[None, :]
    return ((d_row + wh - 1) * (2 * ww - 1) + d_col + ww - 1).reshape(-1)


def shift_mask(padded: tuple[int, int], window: tuple[int, int], shift: tuple[int, int]) -> np.ndarray:
    """nW×L×L: 0 where two tokens of a window came from one region of the map before the
    cyclic shift, MASKED where the shift brought them together from opposite edges."""
    import numpy as np

    region = np.zeros(padded)
    bands = [(slice(0, -w), slice(-w, -s), slice(-s, None)) for w, s in zip(window, shift)]
    for k, (rows, cols) in enumerate((r, c) for r in bands[0] for c in bands[1]):
        region[rows, cols] = k  # as torchvision: with a zero shift the last band is the whole axis
    (ph, pw), (wh, ww) = padded, window
    windows = region.reshape(ph // wh, wh, pw // ww, ww).transpose(0, 2, 1, 3).reshape(-1, wh * ww)
    return np.where(windows[:, None, :] != windows[:, :, None], MASKED, 0.0).astype(np.float32)


class WindowAttentionAttrs(Attrs):
    num_heads: PositiveInt = Field(description="attention heads h, among which the C channels split evenly")
    window: Pair = Field((7, 7), description="window size in map positions (torchvision's window_size): one "
                         "number for both axes, or [height, width]")
    shift: NonNegativePair = Field((0, 0), description="cyclic shift before windowing (shift_size): 0 for W-MSA, "
                                   "half the window for SW-MSA; dropped on an axis one window covers")
    qkv_bias: bool = Field(True, description="whether qkv, the Linear C → 3C, has a bias")
    proj_bias: bool = Field(True, description="whether proj, the output Linear, has a bias")


def _padded(n: int, w: int) -> int:
    """n rounded up to whole windows of w, as torchvision pads."""
    return n + -n % w


@register
class ShiftedWindowAttention(Op):
    """Window multi-head self-attention with a relative-position bias, shifted or not (as
    torchvision's ShiftedWindowAttention, Swin's W-MSA and SW-MSA): an N×H×W×C map is padded
    to whole `window`s, rolled by −`shift` (a shift is dropped on an axis the window covers
    whole), cut into windows of L = Wh·Ww tokens, each attended over by `num_heads` heads
    (qkv: Linear C → 3C, scaled by 1/√(C/h), plus the bias table's rows for each pair's
    offset, and with a shift the mask that keeps apart tokens the roll brought together),
    projected (proj), put back, rolled back and cropped: N×H×W×C. Parameters and buffer
    are torchvision's: relative_position_bias_table (2Wh−1)(2Ww−1)×h, relative_position_index
    (L², a constant), qkv.weight/bias, proj.weight/bias. MACs per token of the padded map:
    4·C² for the projections and 2·L·C for QKᵀ and AV."""

    name = "shifted_window_attention"
    family = "window"
    Attrs = WindowAttentionAttrs
    params_are = ("relative_position_bias_table", "qkv.weight", "qkv.bias", "proj.weight", "proj.bias")
    default_init = {"relative_position_bias_table": "zeros", "qkv.weight": "fan_in_uniform",
                    "qkv.bias": "fan_in_uniform", "proj.weight": "fan_in_uniform", "proj.bias": "fan_in_uniform",
                    "relative_position_index": lambda a: relative_position_index(a.window)}

    def infer(self, a, inputs, log):
        x = inputs[0]
        if x.rank != 4:
            raise ShapeError(f"expects a channels-last map N×H×W×C, got {x} (rank {x.rank})", notes=[CHANNELS_LAST])
        width = x.shape[3]
        if not isinstance(width, int):
            raise ShapeError(f"the channel size {width} must be concrete")
        if width % a.num_heads:
            raise ShapeError(f"the {width} channels of {x} do not split into {a.num_heads} heads", attr="num_heads",
                             notes=[CHANNELS_LAST])
        if any(s >= w for s, w in zip(a.shift, a.window)):
            raise ShapeError(f"shift {a.shift} must be smaller than the window {a.window} on each axis", attr="shift")
        return x

    def param_shapes(self, a, inputs, out):
        (wh, ww), c = a.window, inputs[0].shape[3]
        shapes = {"relative_position_bias_table": ((2 * wh - 1) * (2 * ww - 1), a.num_heads),
                  "qkv.weight": (3 * c, c), "qkv.bias": (3 * c,), "proj.weight": (c, c), "proj.bias": (c,)}
        dropped = {name for name, kept in (("qkv.bias", a.qkv_bias), ("proj.bias", a.proj_bias)) if not kept}
        return {k: s for k, s in shapes.items() if k not in dropped}

    def buffer_shapes(self, a, inputs, out):
        return {"relative_position_index": (math.prod(a.window) ** 2,)}

    def macs(self, a, inputs, out):
        _, h, w, c = inputs[0].shape
        if not isinstance(h, int) or not isinstance(w, int):
            return None
        return _padded(h, a.window[0]) * _padded(w, a.window[1]) * (4 * c * c + 2 * math.prod(a.window) * c)

    def label(self, a):
        window, shift = "×".join(map(str, a.window)), a.shift[0] if a.shift[0] == a.shift[1] else a.shift
        return f"window attention {window} ×{a.num_heads} heads" + (f", shift {shift}" if any(a.shift) else "")

    def torch(self, a, inputs, out):
        return TorchModule("ShiftedWindowAttention", (out.shape[3], a.window, a.shift, a.num_heads),
                           {"qkv_bias": a.qkv_bias, "proj_bias": a.proj_bias})

    def onnx(self, a, inputs, types, out, emit):
        c, heads, (wh, ww) = types[0].shape[3], a.num_heads, a.window
        tokens = wh * ww
        frame = _frame(emit, a, inputs[0], types[0])
        x = _roll(emit, frame.padded, frame.shift, back=False)
        # N×rows×Wh×cols×Ww×C → N×nW×L×C: the windows beside the batch
        x = emit("Reshape", x, _dims(emit, "grid", [0, -1, wh, frame.grid[1], ww, c]))
        x = emit("Reshape", emit("Transpose", x, perm=[0, 1, 3, 2, 4, 5]), emit.const("windows", [0, -1, tokens, c]))
        weight = emit.param("qkv.weight")
        bias = emit.param("qkv.bias") if a.qkv_bias else None
        zero = emit.const("axis0", [0])

        def project(k: int) -> str:  # x·W_kᵀ + b_k, split into heads: N×nW×h×L×(C/h)
            start, end = emit.const("start", [k * c]), emit.const("end", [(k + 1) * c])
            y = emit("MatMul", x, emit("Transpose", emit("Slice", weight, start, end, zero)))
            if bias is not None:
                y = emit("Add", y, emit("Slice", bias, start, end, zero))
            y = emit("Reshape", y, emit.const("heads", [0, -1, tokens, heads, c // heads]))
            return emit("Transpose", y, perm=[0, 1, 3, 2, 4])

        index = emit("Cast", emit.param("relative_position_index"), to=7)  # int64
        table = emit("Gather", emit.param("relative_position_bias_table"), index, axis=0)  # L²×h
        offsets = emit("Transpose", emit("Reshape", table, emit.const("pairs", [tokens, tokens, heads])),
                       perm=[2, 0, 1])  # h×L×L
        if frame.mask is not None:  # nW×1×L×L beside the heads' h×L×L
            offsets = emit("Add", offsets, frame.mask)
        y = attend(emit, project(0), project(1), project(2), 5, 1 / math.sqrt(c // heads), offsets)
        y = emit("Reshape", emit("Transpose", y, perm=[0, 1, 3, 2, 4]), emit.const("joined", [0, -1, tokens, c]))
        y = emit("MatMul", y, emit("Transpose", emit.param("proj.weight")))
        if a.proj_bias:
            y = emit("Add", y, emit.param("proj.bias"))
        # back: N×rows×cols×Wh×Ww×C → N×pH×pW×C, rolled back, cropped to H×W
        y = emit("Reshape", y, _dims(emit, "grid", [0, -1, frame.grid[1], wh, ww, c]))
        y = emit("Reshape", emit("Transpose", y, perm=[0, 1, 3, 2, 4, 5]), _dims(emit, "map", [0, frame.size[0], -1, c]))
        y = _roll(emit, y, frame.shift, back=True)
        if frame.static:
            if frame.size != tuple(types[0].shape[1:3]):
                y = emit("Slice", y, emit.const("starts", [0, 0]), emit.const("ends", list(types[0].shape[1:3])),
                         emit.const("axes", [1, 2]))
            return y
        y = emit("Slice", y, emit.const("starts", [0, 0]), emit("Shape", inputs[0], start=1, end=3),
                 emit.const("axes", [1, 2]))
        # sizes made at run time leave ONNX's shape inference no size at all: it learns C here
        return emit("Reshape", y, emit.const("channels", [0, 0, 0, c]))


class _Frame(NamedTuple):
    """The padded map the windows tile, for the ONNX lowering. Sizes are ints where H and W
    are concrete, else 1-element int64 values computed from the input's shape."""

    padded: str  # the input, padded to whole windows
    size: tuple  # (pH, pW)
    grid: tuple  # windows per column and per row
    shift: tuple  # the shift per axis, 0 where one window covers the axis (as torchvision)
    mask: str | None  # nW×1×L×L, or None without a shift
    static: bool


def _frame(emit, a: WindowAttentionAttrs, x: str, t: TensorType) -> _Frame:
    _, h, w, _ = t.shape
    if isinstance(h, int) and isinstance(w, int):
        size = (_padded(h, a.window[0]), _padded(w, a.window[1]))
        shift = tuple(s if win < p else 0 for s, win, p in zip(a.shift, a.window, size))
        padded = x if size == (h, w) else emit("Pad", x, emit.const("pads", [0, 0, 0, 0, 0, size[0] - h,
                                                                            size[1] - w, 0]))
        mask = emit.const("shift_mask", shift_mask(size, a.window, shift)[:, None], dtype="float32") \
            if any(shift) else None
        return _Frame(padded, size, tuple(p // win for p, win in zip(size, a.window)), shift, mask, True)
    window = emit.const("window", list(a.window))
    extent = emit("Shape", x, start=1, end=3)
    padding = emit("Mod", emit("Sub", window, emit("Mod", extent, window)), window)
    padded = emit("Pad", x, emit("Concat", emit.const("begins", [0] * 5), padding, emit.const("end", [0]), axis=0))
    extent = emit("Add", extent, padding)
    shift = emit("Where", emit("Less", window, extent), emit.const("shift", list(a.shift)), emit.const("none", [0, 0]))
    size, grid, shifts = (_parts(emit, v) for v in (extent, emit("Div", extent, window), shift))
    mask = _computed_mask(emit, a, size, grid, shifts) if any(a.shift) else None
    return _Frame(padded, size, grid, shifts, mask, False)


def _parts(emit, pair: str) -> tuple[str, str]:
    """A 2-vector's elements, each a 1-element value."""
    return tuple(emit("Slice", pair, emit.const("at", [k]), emit.const("next", [k + 1])) for k in (0, 1))


def _computed_mask(emit, a: WindowAttentionAttrs, size: tuple, grid: tuple, shift: tuple) -> str:
    """shift_mask in ONNX, from sizes known at run time: each position's band on each axis
    (0 before the last window, 1 in it before the shift, 2 in the shift), the region 3·row
    band + column band, compared between the tokens of each window. A zero shift leaves the
    last window's rows one band, apart from the others only across window borders, where
    no mask is looked at: as torchvision's one band."""
    one = emit.const("one", 1)
    bands = []
    for n, s, win, axes in zip(size, shift, a.window, ([1], [0])):
        position = emit("Range", emit.const("zero", 0), emit("Squeeze", n), one)

        def after(start: str) -> str:
            return emit("Cast", emit("GreaterOrEqual", position, start), to=7)

        band = emit("Add", after(emit("Sub", n, emit.const("window", [win]))), after(emit("Sub", n, s)))
        bands.append(emit("Unsqueeze", band, emit.const("axes", axes)))
    region = emit("Add", emit("Mul", bands[0], emit.const("three", 3)), bands[1])  # pH×pW
    region = emit("Reshape", region, emit("Concat", grid[0], emit.const("wh", [a.window[0]]), grid[1],
                                          emit.const("ww", [a.window[1]]), axis=0))
    region = emit("Reshape", emit("Transpose", region, perm=[0, 2, 1, 3]), emit.const("tokens", [-1, math.prod(a.window)]))
    same = emit("Equal", emit("Unsqueeze", region, emit.const("i", [1])), emit("Unsqueeze", region, emit.const("j", [2])))
    mask = emit("Where", same, emit.const("kept", 0.0, dtype="float32"), emit.const("masked", MASKED, dtype="float32"))
    return emit("Unsqueeze", mask, emit.const("heads", [1]))


def _dims(emit, what: str, parts: list) -> str:
    """A shape from ints and 1-element values: a constant where every part is an int."""
    if all(isinstance(p, int) for p in parts):
        return emit.const(what, parts)
    return emit("Concat", *(emit.const(what, [p]) if isinstance(p, int) else p for p in parts), axis=0)


def _roll(emit, x: str, shift: tuple, back: bool) -> str:
    """torch.roll of the padded map by −shift (or by +shift, `back`) on H and W: on each axis
    the values from the cut on, then those before it. No modulo: a shift is less than the
    window, which is at most the padded size."""
    for axis, s in zip((1, 2), shift):
        if isinstance(s, int):
            if s == 0:
                continue
            cut = emit.const("cut", [-s if back else s])
        else:
            cut = emit("Neg", s) if back else s
        axes = emit.const("axes", [axis])
        tail = emit("Slice", x, cut, emit.const("ends", [END]), axes)
        head = emit("Slice", x, emit.const("starts", [0]), cut, axes)
        x = emit("Concat", tail, head, axis=axis)
    return x


class PatchMergingAttrs(Attrs):
    eps: float = Field(1e-5, description="the LayerNorm's epsilon, added to the variance")


@register
class PatchMerging(Op):
    """Halves H and W and doubles C (as torchvision's PatchMerging, Swin's downsampling): an
    N×H×W×C map is zero-padded to even H and W, its 2×2 neighbours put side by side on the
    channels (x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]: 4C), layer-normed
    (norm) and projected to 2C by a Linear without bias (reduction): N×⌈H/2⌉×⌈W/2⌉×2C.
    MACs: the reduction's, 8·C² per output position."""

    name = "patch_merging"
    family = "window"
    Attrs = PatchMergingAttrs
    params_are = ("reduction.weight", "norm.weight", "norm.bias")
    default_init = {"reduction.weight": "fan_in_uniform", "norm.weight": "ones", "norm.bias": "zeros"}

    def infer(self, a, inputs, log):
        x = inputs[0]
        if x.rank != 4:
            raise ShapeError(f"expects a channels-last map N×H×W×C, got {x} (rank {x.rank})")
        n, h, w, c = x.shape
        if not isinstance(c, int):
            raise ShapeError(f"the channel size {c} must be concrete")
        return TensorType((n, _half(h), _half(w), 2 * c))

    def param_shapes(self, a, inputs, out):
        c = inputs[0].shape[3]
        return {"reduction.weight": (2 * c, 4 * c), "norm.weight": (4 * c,), "norm.bias": (4 * c,)}

    def macs(self, a, inputs, out):
        rows = out.per_sample()
        return None if rows is None else rows * 4 * inputs[0].shape[3]

    def label(self, a):
        return "patch merging 2×2"

    def torch(self, a, inputs, out):
        return TorchModule("PatchMerging", (inputs[0].shape[3],), {"eps": a.eps})

    def onnx(self, a, inputs, types, out, emit):
        x = inputs[0]
        _, h, w, _ = types[0].shape
        # pads [0, 0, 0, 0 | 0, H mod 2, W mod 2, 0], computed from the shape where it is symbolic
        if isinstance(h, int) and isinstance(w, int):
            if h % 2 or w % 2:
                x = emit("Pad", x, emit.const("pads", [0, 0, 0, 0, 0, h % 2, w % 2, 0]))
        else:
            odd = emit("Mod", emit("Shape", x, start=1, end=3), emit.const("two", [2, 2]))
            pads = emit("Concat", emit.const("begins", [0, 0, 0, 0, 0]), odd, emit.const("channels", [0]), axis=0)
            x = emit("Pad", x, pads)
        parts = [emit("Slice", x, emit.const("starts", [row, col]), emit.const("ends", [END, END]),
                      emit.const("axes", [1, 2]), emit.const("steps", [2, 2]))
                 for col in (0, 1) for row in (0, 1)]
        joined = emit("Concat", *parts, axis=3)
        normed = emit("LayerNormalization", joined, emit.param("norm.weight"), emit.param("norm.bias"),
                      axis=-1, epsilon=a.eps)
        return emit("MatMul", normed, emit("Transpose", emit.param("reduction.weight")))


def _half(n: Dim) -> Dim:
    """⌈n/2⌉: the rows of the zero-padded map taken two at a time."""
    if isinstance(n, int):
        return -(-n // 2)
    half = symbolic.window(n, 1, 2, 0)
    if half is None:
        raise ShapeError(f"the symbolic size {n} is in a form halving cannot follow; give the input a concrete size")
    return half
