"""Losses and the metrics accumulated over an epoch: loss, accuracy, top-5, mean IoU, pixel
accuracy, and the mean IoU of predicted boxes.

A Meter keeps sums (not averages), so the sums of several processes or of a resumed epoch
add up to exactly the figures of one uninterrupted process; a TaskMeter keeps one Meter per
task of a multi-task objective and the sums of the weighted total.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from . import losses
from .losses import LossKind, Target
from .tasks import CLASS_METRICS


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


def torch_loss(kind: LossKind, beta: float | None = None) -> Loss:
    """A registry entry's torch side: the loss and the class predictions its output makes
    (`beta`: smooth_l1's, torch's default 1 if None)."""
    compute = getattr(F, kind.function)
    if beta is not None:
        compute = functools.partial(compute, beta=beta)
    if kind.target is Target.CLASS:
        return Loss(compute, _argmax, scores=True)
    if kind.target is Target.VALUES:
        return Loss(compute, None)
    threshold = 0.5 if kind.probabilities else 0.0  # a probability's middle, or a logit's
    compute = _binary(compute)
    return Loss(_probabilities(compute, kind.name) if kind.probabilities else compute,
                lambda out: (out >= threshold).long().squeeze(1))


LOSSES = {name: torch_loss(kind) for name, kind in losses.LOSSES.items()}


def box_iou(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The IoU of each pair of boxes (x1, y1, x2, y2), N×4 against N×4 -> N: the area both
    cover over the area either covers (a predicted box with x2 < x1 or y2 < y1 covers none)."""
    def area(box):
        return (box[:, 2] - box[:, 0]).clamp(min=0) * (box[:, 3] - box[:, 1]).clamp(min=0)

    corner_low, corner_high = torch.maximum(predicted[:, :2], target[:, :2]), torch.minimum(predicted[:, 2:], target[:, 2:])
    both = (corner_high - corner_low).clamp(min=0).prod(1)
    either = area(predicted) + area(target) - both
    return torch.where(either > 0, both / either.clamp(min=1e-12), torch.zeros_like(both))


class Meter:
    """Sums over an epoch: loss × samples, samples, correct and top-5 hits over the predicted
    elements (samples, or pixels for masks), a confusion matrix for IoU, and the boxes' IoUs."""

    def __init__(self, loss: Loss, metrics: list[str] | tuple[str, ...], classes: int):
        self.loss, self.metrics, self.classes = loss, metrics, classes
        self.sums = torch.zeros(6, dtype=torch.float64)  # loss·n, n, correct, top5, elements, box IoUs
        self.confusion = torch.zeros(classes, classes, dtype=torch.float64)

    def update(self, out: torch.Tensor | None, y: torch.Tensor, loss: float) -> None:
        n = len(y)
        self.sums[0] += loss * n
        self.sums[1] += n
        if not self.metrics:  # out may be None (a reconstruction)
            return
        out, y = out.detach().float(), y.detach()
        if "box_iou" in self.metrics:
            self.sums[5] += box_iou(out, y.float()).sum().item()
        if not CLASS_METRICS & set(self.metrics):
            return
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
        loss_n, n, correct, top5, elements, ious = self.sums.tolist()
        out = {"loss": loss_n / max(n, 1)}
        for name in self.metrics:
            if name == "box_iou":
                out[name] = ious / max(n, 1)
            elif name == "accuracy":
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
        sums = state["sums"]  # a checkpoint from before box_iou kept 5 sums: its IoU sum is 0
        self.sums = torch.cat([sums, sums.new_zeros(len(self.sums) - len(sums))])
        self.confusion = state["confusion"].clone()


class TaskMeter:
    """A multi-task epoch: the weighted total loss, and each task's Meter under its name
    (`loss`, `class.loss`, `class.accuracy`, `box.loss`, `box.box_iou`)."""

    def __init__(self, meters: dict[str, Meter], prefixes: dict[str, str]):
        self.meters, self.prefixes = meters, prefixes
        self.sums = torch.zeros(2, dtype=torch.float64)  # total loss·n, n

    def update(self, out: dict | None, y: dict, loss: float) -> None:
        """out: each output's (tensor, its loss) by name, as objectives.MultiTask gives them (None
        for a reconstruction); y: the targets by name."""
        if not isinstance(y, dict):  # one unnamed target: the one task's
            y = {next(iter(self.meters)): y}
        n = len(next(iter(y.values())))
        self.sums += torch.tensor([loss * n, n], dtype=torch.float64)
        for name, meter in self.meters.items():
            if out is not None:
                meter.update(out[name][0], y[name], float(out[name][1]))

    def all_reduce(self) -> None:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(self.sums)
        for meter in self.meters.values():
            meter.all_reduce()

    def results(self) -> dict[str, float]:
        loss_n, n = self.sums.tolist()
        out = {"loss": loss_n / max(n, 1)}
        for name, meter in self.meters.items():
            if meter.sums[1]:  # a reconstruction stage measures no task
                prefix = self.prefixes[name]  # "" for a lone task: `loss` stays the weighted total
                out |= {prefix + k: v for k, v in meter.results().items() if prefix or k != "loss"}
        return out

    def state_dict(self) -> dict:
        return {"sums": self.sums.clone(), "tasks": {name: m.state_dict() for name, m in self.meters.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.sums = state["sums"].clone()
        for name, meter in self.meters.items():
            meter.load_state_dict(state["tasks"][name])
