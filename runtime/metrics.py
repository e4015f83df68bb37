"""Losses and the metrics accumulated over an epoch: loss, accuracy, top-5, mean IoU, pixel accuracy.

A Meter keeps sums (not averages), so the sums of several processes or of a resumed epoch
add up to exactly the figures of one uninterrupted process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from . import losses
from .losses import LossKind, Target


def _argmax(out: torch.Tensor) -> torch.Tensor:
    return out.argmax(1)


@dataclass(frozen=True)
class Loss:
    compute: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    predict: Callable[[torch.Tensor], torch.Tensor] | None  # outputs -> class indices, shaped like the targets
    scores: bool = False  # outputs rank classes along dim 1 (top-5 applies)


class LossInputError(ValueError):
    """The network's output is not what its loss takes (bce: probabilities)."""


def _binary(function: Callable) -> Callable:
    return lambda out, y: function(out, y.to(out.dtype).view_as(out))  # 0/1 class indices as the output's values


def _probabilities(compute: Callable, name: str) -> Callable:
    def checked(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        try:
            return compute(out, y)
        except RuntimeError:  # torch refuses values outside [0, 1], NaN included
            if not out.isfinite().all():
                return out.sum() * math.nan  # a diverged output: the run's non-finite check reports it
            raise LossInputError(f"loss '{name}' takes probabilities in [0, 1], but the spec's output ranges over "
                                 f"{out.min():g} … {out.max():g}: end the network with a sigmoid, or use "
                                 "loss bce_with_logits") from None
    return checked


def torch_loss(kind: LossKind) -> Loss:
    """A registry entry's torch side: the loss and the class predictions its output makes."""
    compute = getattr(F, kind.function)
    if kind.target is Target.CLASS:
        return Loss(compute, _argmax, scores=True)
    if kind.target is Target.VALUES:
        return Loss(compute, None)
    threshold = 0.5 if kind.probabilities else 0.0  # a probability's middle, or a logit's
    compute = _binary(compute)
    return Loss(_probabilities(compute, kind.name) if kind.probabilities else compute,
                lambda out: (out >= threshold).long().squeeze(1))


LOSSES = {name: torch_loss(kind) for name, kind in losses.LOSSES.items()}


def check_metrics(loss_name: str, metrics: list[str], classes: int | str) -> str | None:
    """Why these metrics cannot be measured with this loss and output, or None."""
    loss = LOSSES[loss_name]
    if metrics and loss.predict is None:
        return f"metric '{metrics[0]}' needs class predictions; loss '{loss_name}' makes none (use metrics: [])"
    if "top5" in metrics and not (loss.scores and isinstance(classes, int) and classes >= 5):
        return f"top5 needs scores for 5 or more classes; the output has {classes} with loss '{loss_name}'"
    return None


class Meter:
    """Sums over an epoch: loss × samples, samples, correct and top-5 hits over the predicted
    elements (samples, or pixels for masks), and a confusion matrix for IoU."""

    def __init__(self, loss: Loss, metrics: list[str], classes: int):
        self.loss, self.metrics, self.classes = loss, metrics, classes
        self.sums = torch.zeros(5, dtype=torch.float64)  # loss·n, n, correct, top5, elements
        self.confusion = torch.zeros(classes, classes, dtype=torch.float64)

    def update(self, out: torch.Tensor | None, y: torch.Tensor, loss: float) -> None:
        n = len(y)
        self.sums[0] += loss * n
        self.sums[1] += n
        if not self.metrics:  # out may be None (a reconstruction)
            return
        out, y = out.detach().float(), y.detach()
        predicted = self.loss.predict(out)
        self.sums[2] += (predicted == y).sum().item()
        self.sums[4] += y.numel()
        if "top5" in self.metrics:
            top = out.topk(5, dim=1).indices  # N×5(×H×W)
            self.sums[3] += (top == y.unsqueeze(1)).any(1).sum().item()
        if {"mean_iou", "pixel_accuracy"} & set(self.metrics):
            pairs = (y.flatten().long() * self.classes + predicted.flatten()).cpu()
            self.confusion += torch.bincount(pairs, minlength=self.classes ** 2).view(self.classes, -1).double()

    def all_reduce(self) -> None:
        """Sums over every process (DDP), so each reports the global figures."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            for t in (self.sums, self.confusion):
                dist.all_reduce(t)

    def results(self) -> dict[str, float]:
        loss_n, n, correct, top5, elements = self.sums.tolist()
        out = {"loss": loss_n / max(n, 1)}
        for name in self.metrics:
            if name == "accuracy":
                out[name] = correct / max(elements, 1)
            elif name == "top5":
                out[name] = top5 / max(elements, 1)
            elif name == "pixel_accuracy":
                out[name] = float(self.confusion.diag().sum() / self.confusion.sum().clamp(min=1))
            else:  # mean_iou over the classes that occur in the targets or predictions
                hits = self.confusion.diag()
                union = self.confusion.sum(0) + self.confusion.sum(1) - hits
                out[name] = float((hits[union > 0] / union[union > 0]).mean()) if (union > 0).any() else 0.0
        return out

    def state_dict(self) -> dict:
        return {"sums": self.sums.clone(), "confusion": self.confusion.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.sums, self.confusion = state["sums"].clone(), state["confusion"].clone()
