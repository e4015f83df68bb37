"""The objective's tasks: which output of the spec each loss trains, with its weight and the
metrics measured on it, checked against the spec before any data is loaded.

    train: {loss: cross_entropy}                                        # one output, one task
    train: {loss: {class: cross_entropy, box: {loss: smooth_l1, weight: 5}}, metrics: [accuracy, box_iou]}

A single loss name trains the spec's only output; a mapping names a loss for every output
(the total is the weighted sum), and the dataset's targets are matched to the outputs by
name. Each metric is measured on every task that can measure it. This module imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..compiler.diagnostics import Diagnostic, SpecError, did_you_mean
from ..compiler.ir import Graph
from .config import Loaded, TaskLoss
from .losses import LOSSES, Target

CLASS_METRICS = frozenset({"accuracy", "top5", "mean_iou", "pixel_accuracy"})  # they compare predicted classes


@dataclass(frozen=True)
class Task:
    output: str  # the spec's output it trains
    loss: str  # its name in runtime/losses.py
    weight: float
    beta: float | None  # smooth_l1's
    metrics: tuple[str, ...]
    classes: int | str  # what its predictions range over (2 for a binary loss; a symbol if open)
    per_sample: tuple  # the output's shape for one sample
    where: tuple  # the config path of its loss, to locate errors
    prefix: str = ""  # how its figures are named: "" alone, "box." beside others

    def figure(self, name: str) -> str:
        return self.prefix + name


def metric_problem(metric: str, loss: str, classes, per_sample: tuple) -> str | None:
    """Why `metric` cannot be measured on an output trained with `loss`, or None."""
    if metric == "box_iou":
        if LOSSES[loss].target is not Target.VALUES or tuple(per_sample) != (4,):
            return (f"metric 'box_iou' compares boxes: an N×4 output (x1, y1, x2, y2) trained with a loss on values "
                    f"(mse, smooth_l1); this one is N×{'×'.join(map(str, per_sample))} with loss '{loss}'")
        return None
    if LOSSES[loss].target is Target.VALUES:
        return f"metric '{metric}' needs class predictions; loss '{loss}' makes none (use metrics: [])"
    if metric == "top5" and not (LOSSES[loss].target is Target.CLASS and isinstance(classes, int) and classes >= 5):
        return f"top5 needs scores for 5 or more classes; the output has {classes} with loss '{loss}'"
    return None


def _classes(loss: str, per_sample: tuple) -> int | str:
    # one output value for a binary loss stands for two classes
    return 2 if LOSSES[loss].target is Target.BINARY or not per_sample else per_sample[0]


def tasks(loaded: Loaded, graph: Graph) -> list[Task]:
    """The config's tasks on `graph`, checked: every loss names an output and every output has one,
    beta only for smooth_l1, every metric measurable (on each task, or on one of several)."""
    train = loaded.config.train
    shapes = {name: graph.nodes[node].type.shape[1:] for name, node in graph.outputs.items()}
    if isinstance(train.loss, str):
        if len(shapes) != 1:  # located at the spec's last output: the config's one loss leaves it untrained
            at = loaded.span("train", "loss")
            error = SpecError(Diagnostic(
                f"'{graph.name}' has {len(shapes)} outputs ({', '.join(shapes)}) but train.loss is one loss, "
                f"'{train.loss}'", graph.nodes[graph.outputs[list(shapes)[-1]]].span, code="train-io",
                notes=[f"train.loss is {f'set at {at}' if at else 'the default'}; give a loss per output, by name: "
                       "{" + ", ".join(f"{n}: …" for n in shapes) + "}"]))
            error.sources = graph.sources
            raise error
        (output, per_sample), = shapes.items()
        task = Task(output, train.loss, 1.0, None, (), _classes(train.loss, per_sample), per_sample, ("train", "loss"))
        for metric in train.metrics:
            problem = metric_problem(metric, train.loss, task.classes, per_sample)
            if problem:
                raise loaded.error(problem, "train", "metrics", code="bad-metric")
        return [replace(task, metrics=tuple(train.metrics))]
    found = []
    for output, entry in train.loss.items():
        where = ("train", "loss", output)
        if output not in shapes:
            raise loaded.error(f"'{graph.name}' has no output '{output}'{did_you_mean(output, shapes)}; its outputs: "
                               f"{', '.join(shapes)}", *where, key=True, code="unknown-output")
        entry = entry if isinstance(entry, TaskLoss) else TaskLoss(loss=entry)
        if entry.beta is not None and entry.loss != "smooth_l1":
            raise loaded.error(f"beta is smooth_l1's; loss '{entry.loss}' takes none", *where, "beta",
                               code="bad-config")
        per_sample = shapes[output]
        found.append(Task(output, entry.loss, entry.weight, entry.beta, (), _classes(entry.loss, per_sample),
                          per_sample, where, prefix=f"{output}." if len(shapes) > 1 else ""))
    missing = [name for name in shapes if name not in train.loss]
    if missing:
        raise loaded.error(f"output '{missing[0]}' of '{graph.name}' has no loss: train.loss names a loss for every "
                           f"output ({', '.join(shapes)})", "train", "loss", code="unknown-output")
    measured = {task.output: [] for task in found}
    for i, metric in enumerate(train.metrics):
        fits = [task for task in found if not metric_problem(metric, task.loss, task.classes, task.per_sample)]
        if not fits:
            raise loaded.error(metric_problem(metric, found[0].loss, found[0].classes, found[0].per_sample)
                               if len(found) == 1 else
                               f"metric '{metric}' fits no output's task: "
                               + "; ".join(f"{t.output}: {metric_problem(metric, t.loss, t.classes, t.per_sample)}"
                                           for t in found), "train", "metrics", i, code="bad-metric")
        for task in fits:
            measured[task.output].append(metric)
    order = list(shapes)  # the spec's order: the model returns its outputs so
    return sorted((replace(t, metrics=tuple(measured[t.output])) for t in found),
                  key=lambda t: order.index(t.output))


def monitored(found: list[Task], metrics: list[str]) -> str:
    """The figure best.pt follows: the first metric (on the first task that measures it), else the loss."""
    if not metrics:
        return "loss"
    return next(t.figure(metrics[0]) for t in found if metrics[0] in t.metrics)
