"""The losses: one registry that the config, the data checks, training, `explain` and the CLI read.

This module imports no torch (the CLI's `--loss` choices come from here on the `build`
path); runtime/metrics.py's `torch_loss` makes an entry's torch side when training needs it.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple


class Target(Enum):
    """What a loss compares the network's output with."""

    CLASS = "class index"  # an int64 class per sample (or pixel), over the output's dim 1
    BINARY = "binary"  # one output value per sample, targets 0 or 1
    VALUES = "values"  # floats shaped like the output


class LossKind(NamedTuple):  # (not a dataclass: a tenth of the cost to declare, at every start)
    name: str
    takes: str  # what the output is, as the config's help says it ("" for the obvious)
    function: str  # its torch.nn.functional function, looked up when torch is loaded
    target: Target
    formula: str  # L, as the slides write it
    gradient: str  # ∂L/∂ŷ (n: the values averaged: outputs × batch for mse, the batch for the others)
    probabilities: bool = False  # the output must lie in [0, 1] (a sigmoid's)


LOSSES = {kind.name: kind for kind in (
    LossKind("cross_entropy", "on logits", "cross_entropy", Target.CLASS,
             "L = −log softmax(ŷ)_y", "softmax(ŷ) − onehot(y)"),
    LossKind("nll", "on log-probabilities", "nll_loss", Target.CLASS, "L = −ŷ_y", "−onehot(y)"),
    LossKind("bce", "on probabilities (a sigmoid output)", "binary_cross_entropy", Target.BINARY,
             "L = −[y log ŷ + (1 − y) log(1 − ŷ)]", "(ŷ − y) / (ŷ(1 − ŷ))", probabilities=True),
    LossKind("bce_with_logits", "", "binary_cross_entropy_with_logits", Target.BINARY,
             "L = −[y log σ(ŷ) + (1 − y) log(1 − σ(ŷ))]", "σ(ŷ) − y"),
    LossKind("mse", "", "mse_loss", Target.VALUES, "L = mean((ŷ − y)²)", "2(ŷ − y)/n"),
    # Huber's loss as Fast R-CNN regresses boxes with it: quadratic within beta of the target, linear beyond
    LossKind("smooth_l1", "with beta (default 1)", "smooth_l1_loss", Target.VALUES,
             "L = mean(½(ŷ − y)²/β if |ŷ − y| < β else |ŷ − y| − ½β), β = 1 unless a task sets beta",
             "clamp((ŷ − y)/β, −1, 1)/n"),
)}
NAMES = tuple(LOSSES)
HELP = "; ".join(f"{kind.name} {kind.takes}".strip() for kind in LOSSES.values())
