"""Modules torch lacks, used by ops' torch lowerings (`TorchModule("Step", …)`).

Each class here is self-contained (it uses only `torch`, `nn` and `F`): the source
generator copies the classes a model needs into its standalone file.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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
        return torch.einsum("rph,rchw,rqw->rcpq", rows, x[rois[:, 0].long()], cols)

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
