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
