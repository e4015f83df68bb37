"""Modules torch lacks, used by ops' torch lowerings (`TorchModule("Step", …)`).

Each class here is self-contained (it uses only `torch`, `nn` and `F`): the source
generator copies the classes a model needs into its standalone file.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .torch_detection import Anchors, BoxCoder, Detections, RPNProposals  # noqa: F401  (the detection ops')


class Step(nn.Module):
    """1 where x ≥ threshold, else 0. Its gradient is zero almost everywhere, so a backward
    pass through it is refused, naming the layer, rather than silently training nothing."""

    class _Threshold(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, threshold, layer):
            ctx.layer = layer
            return (x >= threshold).to(x.dtype)

        @staticmethod
        def backward(ctx, grad):
            raise RuntimeError(f"layer '{ctx.layer}' uses step, whose gradient is zero almost everywhere: "
                               "it cannot be trained by backpropagation (freeze the layers before it, "
                               "or use sigmoid to train and step to predict)")

    def __init__(self, threshold: float = 0.0, layer: str = "step"):
        super().__init__()
        self.threshold, self.layer = threshold, layer

    def forward(self, x):
        return self._Threshold.apply(x, self.threshold, self.layer)

    def extra_repr(self):
        return f"threshold={self.threshold}"


class Maxout(nn.Linear):
    """max over `pieces` linear maps: one Linear of pieces·out features, whose rows
    k·out … (k+1)·out − 1 are piece k."""

    def __init__(self, in_features: int, out_features: int, pieces: int, bias: bool = True):
        super().__init__(in_features, pieces * out_features, bias)
        self.pieces = pieces

    def forward(self, x):
        y = F.linear(x, self.weight, self.bias)
        return y.unflatten(-1, (self.pieces, -1)).amax(-2)


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of an N×C×H×W map (torchvision's, ConvNeXt's)."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)  # N×H×W×C: normalise the last axis
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps).permute(0, 3, 1, 2)


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth: while training, each sample ('row') or the whole
    batch ('batch') is kept with probability 1 − p and scaled by 1/(1 − p), else zeroed."""

    def __init__(self, p: float, mode: str = "row"):
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise

    def extra_repr(self):
        return f"p={self.p}, mode={self.mode}"


class RoIPool(nn.Module):
    """torchvision.ops.roi_pool (Fast R-CNN; Caffe's and ONNX MaxRoiPool's rule). Each box
    [batch index, x1, y1, x2, y2] in image coordinates is scaled and rounded to whole cells
    (C's round, halves away from zero; both ends included), cut into output_size bins of
    cells ⌊p·b⌋ … ⌈(p+1)·b⌉ (b = box cells / bins), and each bin takes its max (0 if empty)."""

    def __init__(self, output_size, spatial_scale: float):
        super().__init__()
        self.output_size, self.spatial_scale = tuple(output_size), spatial_scale

    def forward(self, x, rois):
        cells = rois[:, 1:] * self.spatial_scale
        cells = torch.sign(cells) * torch.floor(cells.abs() + 0.5)  # not torch.round: halves to even
        rows = self.windows(cells[:, 1], cells[:, 3], self.output_size[0], x.shape[2])  # R × h × H
        cols = self.windows(cells[:, 0], cells[:, 2], self.output_size[1], x.shape[3])  # R × w × W
        boxed = x[rois[:, 0].long()]  # R × C × H × W
        # the max over a rectangle: over its columns (R×C×H×w), then its rows (R×C×h×w)
        across = boxed[:, :, :, None, :].masked_fill(~cols[:, None, None], -torch.inf).amax(-1)
        out = across[:, :, None].masked_fill(~rows[:, None, :, :, None], -torch.inf).amax(3)
        empty = ~(rows.any(-1)[:, :, None] & cols.any(-1)[:, None, :])  # R × h × w
        return out.masked_fill(empty[:, None], 0.0)

    @staticmethod
    def windows(start, end, bins: int, n: int):
        """R × bins × n: whether cell i of an axis of n lies in bin p."""
        bin_size = (end - start + 1).clamp(min=1) / bins
        p = torch.arange(bins, device=start.device, dtype=start.dtype)
        first = (torch.floor(p * bin_size[:, None]) + start[:, None]).clamp(0, n)
        last = (torch.ceil((p + 1) * bin_size[:, None]) + start[:, None]).clamp(0, n)
        cell = torch.arange(n, device=start.device, dtype=start.dtype)
        return (cell >= first[..., None]) & (cell < last[..., None])

    def extra_repr(self):
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}"


class RoIAlign(nn.Module):
    """torchvision.ops.roi_align (Mask R-CNN) over one map, or MultiScaleRoIAlign over several
    (FPN levels, finest first, `scales` theirs). A box [batch index, x1, y1, x2, y2] is cut into
    output_size bins, each the mean of a grid of bilinear samples (sampling_ratio per axis, or
    ⌈bin size⌉ where 0); `aligned` shifts the box by −½ cell (pixel centres). Over several maps
    a box is taken from level ⌊k0 + log2(√area / s0) + 1e-6⌋, clamped to the maps' levels
    (torchvision's LevelMapper; FPN's eq. 1), first_level being the finest map's."""

    def __init__(self, output_size, scales, sampling_ratio: int = 0, aligned: bool = False,
                 first_level: int = 0, canonical_scale: float = 224.0, canonical_level: int = 4):
        super().__init__()
        self.output_size, self.scales = tuple(output_size), tuple(scales)
        self.sampling_ratio, self.aligned = sampling_ratio, aligned
        self.first_level, self.canonical_scale, self.canonical_level = first_level, canonical_scale, canonical_level

    def forward(self, *inputs):
        *maps, rois = inputs
        if len(maps) == 1:
            return self.align(maps[0], rois, self.scales[0])
        level = self.levels(rois)
        out = maps[0].new_zeros((rois.shape[0], maps[0].shape[1], *self.output_size))
        for k, (x, scale) in enumerate(zip(maps, self.scales)):
            chosen = torch.nonzero(level == k).squeeze(1)
            out[chosen] = self.align(x, rois[chosen], scale)
        return out

    def levels(self, rois):
        """Each box's map, counted from the finest."""
        side = ((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2])).sqrt()
        level = torch.floor(self.canonical_level + torch.log2(side / self.canonical_scale) + 1e-6)
        return (level.clamp(self.first_level, self.first_level + len(self.scales) - 1) - self.first_level).long()

    def align(self, x, rois, scale: float):
        boxes = rois[:, 1:] * scale - (0.5 if self.aligned else 0.0)
        rows = self.weights(boxes[:, 1], boxes[:, 3], self.output_size[0], x.shape[2])  # R × h × H
        cols = self.weights(boxes[:, 0], boxes[:, 2], self.output_size[1], x.shape[3])  # R × w × W
        out = x.new_zeros((rois.shape[0], x.shape[1], *self.output_size))
        image = rois[:, 0].long()
        for b in range(x.shape[0]):  # each image's boxes a few at a time: never R copies of a map in memory
            for chunk in torch.nonzero(image == b).squeeze(1).split(64):
                out[chunk] = torch.einsum("rph,chw,rqw->rcpq", rows[chunk], x[b], cols[chunk])
        return out

    def weights(self, start, end, bins: int, n: int):
        """R × bins × n: row p is the mean of the bilinear weights of bin p's samples over the n
        positions of one axis. A bin's 2-D mean is the product of its axes' means (the sample
        grid is a product and bilinear weights are products), so no sample grid is built."""
        size = end - start
        if not self.aligned:
            size = size.clamp(min=1.0)  # torchvision's legacy rule: boxes of at least one cell
        bin_size = size / bins
        grid = (torch.full_like(size, self.sampling_ratio) if self.sampling_ratio > 0
                else torch.ceil(bin_size))  # samples per bin and axis
        most = max(int(grid.max()), 1) if grid.numel() else 1
        p = torch.arange(bins, device=start.device, dtype=start.dtype)[None, :, None]
        i = torch.arange(most, device=start.device, dtype=start.dtype)[None, None, :]
        step = (bin_size / grid.clamp(min=1.0))[:, None, None]  # between samples (no samples: any)
        at = start[:, None, None] + p * bin_size[:, None, None] + (i + 0.5) * step
        taken = (i < grid[:, None, None]) & (at >= -1.0) & (at <= n)  # samples beyond a cell off the map are 0
        at = at.clamp(min=0.0)
        floor = at.floor()
        low = floor.long().clamp(max=n - 1)
        high = (low + 1).clamp(max=n - 1)
        frac = torch.where(floor >= n - 1, 0.0, at - floor)  # on the last row: that row's value
        weight = taken / grid.clamp(min=1.0)[:, None, None]
        return (F.one_hot(low, n) * ((1 - frac) * weight)[..., None]
                + F.one_hot(high, n) * (frac * weight)[..., None]).sum(2)

    def extra_repr(self):
        return (f"output_size={self.output_size}, scales={self.scales}, sampling_ratio={self.sampling_ratio}, "
                f"aligned={self.aligned}")


class FrozenBatchNorm2d(nn.Module):
    """torchvision.ops.FrozenBatchNorm2d: batch norm whose statistics and affine values are
    buffers, applied as one scale and shift per channel."""

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        for name, fill in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
            self.register_buffer(name, torch.full((num_features,), fill))

    def forward(self, x):
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]

    def extra_repr(self):
        return f"{self.weight.shape[0]}, eps={self.eps}"


class ShiftedWindowAttention(nn.Module):
    """torchvision's ShiftedWindowAttention (Swin's W-MSA and SW-MSA), on N×H×W×C: padded to
    whole windows, rolled by −shift (not on an axis one window covers), attended within each
    window with a relative-position bias (and, shifted, a mask keeping apart the tokens the
    roll brought together), then put back. Its own table and index come before qkv and proj
    in the state_dict, as in torchvision's."""

    def __init__(self, dim: int, window_size, shift_size, num_heads: int, qkv_bias: bool = True,
                 proj_bias: bool = True):
        super().__init__()
        self.window_size, self.shift_size, self.num_heads = tuple(window_size), tuple(shift_size), num_heads
        wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        rows, cols = torch.arange(wh * ww).div(ww, rounding_mode="floor"), torch.arange(wh * ww) % ww
        offset_rows, offset_cols = rows[:, None] - rows[None, :], cols[:, None] - cols[None, :]
        self.register_buffer("relative_position_index",
                             ((offset_rows + wh - 1) * (2 * ww - 1) + offset_cols + ww - 1).flatten())
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)

    def forward(self, x):
        n, h, w, c = x.shape
        (wh, ww), heads = self.window_size, self.num_heads
        x = F.pad(x, (0, 0, 0, -w % ww, 0, -h % wh))
        ph, pw = x.shape[1], x.shape[2]
        shift = (self.shift_size[0] if wh < ph else 0, self.shift_size[1] if ww < pw else 0)
        if any(shift):
            x = torch.roll(x, (-shift[0], -shift[1]), (1, 2))
        windows = x.view(n, ph // wh, wh, pw // ww, ww, c).transpose(2, 3).reshape(n, -1, wh * ww, c)  # N×nW×L×C
        q, k, v = self.qkv(windows).unflatten(-1, (3, heads, c // heads)).permute(3, 0, 1, 4, 2, 5)  # N×nW×h×L×d
        scores = (q * (c // heads) ** -0.5) @ k.transpose(-2, -1)
        tokens = wh * ww
        bias = self.relative_position_bias_table[self.relative_position_index].view(tokens, tokens, heads)
        scores = scores + bias.permute(2, 0, 1)
        if any(shift):
            scores = scores + self.mask(ph, pw, shift, x)[:, None]
        out = (scores.softmax(-1) @ v).transpose(2, 3).reshape(n, -1, tokens, c)
        out = self.proj(out).view(n, ph // wh, pw // ww, wh, ww, c).transpose(2, 3).reshape(n, ph, pw, c)
        if any(shift):
            out = torch.roll(out, shift, (1, 2))
        return out[:, :h, :w].contiguous()

    def mask(self, ph: int, pw: int, shift, like):
        """nW×L×L: −100 between tokens of a window from different regions of the unrolled map."""
        (wh, ww), (sh, sw) = self.window_size, shift
        region = like.new_zeros(ph, pw)
        for k, (rows, cols) in enumerate((r, c) for r in (slice(0, -wh), slice(-wh, -sh), slice(-sh, None))
                                         for c in (slice(0, -ww), slice(-ww, -sw), slice(-sw, None))):
            region[rows, cols] = k  # with a zero shift the last band is the whole axis, as torchvision's
        windows = region.view(ph // wh, wh, pw // ww, ww).transpose(1, 2).reshape(-1, wh * ww)
        return (windows[:, None, :] != windows[:, :, None]).to(like.dtype) * -100.0

    def extra_repr(self):
        return f"window_size={self.window_size}, shift_size={self.shift_size}, num_heads={self.num_heads}"


class PatchMerging(nn.Module):
    """torchvision's PatchMerging (Swin's downsampling) on N×H×W×C: zero-padded to even H
    and W, each 2×2 neighbourhood's four C-vectors side by side (4C), LayerNorm, and a Linear
    to 2C without bias; `reduction` registered before `norm`, as torchvision's."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim, eps=eps)

    def forward(self, x):
        x = F.pad(x, (0, 0, 0, x.shape[2] % 2, 0, x.shape[1] % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x))


def list_shared_once(module: nn.Module, keys: dict) -> None:
    """A layer that shares another's parameters (`share:`) holds the very same tensors: the
    state_dict lists them once, under the owner's key (torchvision lists its RPN head once for
    five FPN levels), and loading fills the sharer's keys from the owner's. `keys`: the sharer's
    key -> the owner's."""

    def omit(m, state, prefix, local_metadata):
        for key in keys:
            state.pop(prefix + key, None)

    def fill(m, state, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        for key, owner in keys.items():
            if prefix + owner in state:
                state.setdefault(prefix + key, state[prefix + owner])

    module.register_state_dict_post_hook(omit)
    module.register_load_state_dict_pre_hook(fill)
