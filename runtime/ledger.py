"""What a training run keeps: the history of epoch rows, the best monitored figure so far,
and the run folder's checkpoints (last.pt, best.pt) and metrics, which process 0 alone writes."""

from __future__ import annotations

from ..compiler.ir import Graph
from . import checkpoint
from .config import TrainConfig
from .log import RunFolder, summary


class Ledger:
    def __init__(self, graph: Graph, config: TrainConfig, main: bool, folder: RunFolder, monitor: str = "loss"):
        self.graph, self.config, self.main, self.folder = graph, config, main, folder
        self.monitor = monitor  # the figure best.pt follows (tasks.monitored): higher is better, but the loss
        self.history: list[dict] = []
        self.best: float | None = None

    def record(self, row: dict, stage, validated: bool) -> bool:
        """Adds an epoch's row; whether it is the best so far on the monitored figure
        (supervised stages only: the first metric, or the loss, on validation data if any)."""
        self.history.append(row)
        if stage.objective != "supervised":
            return False
        figure = row[f"{'val' if validated else 'train'}_{self.monitor}"]
        value = -figure if self.monitor == "loss" else figure
        if self.best is None or value > self.best:
            self.best = value
            return True
        return False

    def publish(self, row: dict, last_epoch: bool) -> None:
        """The epoch's summary line and metrics.csv (with the plot after a stage's last epoch)."""
        if self.main:
            print(summary(row), flush=True)
            self.folder.write_metrics(self.history, plot=last_epoch)

    def save(self, weights: dict, stage_state: dict, best: bool) -> None:
        """last.pt (and best.pt) with the weights, the stage's state (StageRun.state) and the record."""
        if not self.main:
            return
        state = {"model": weights, "spec_hash": self.graph.source_hash, "spec": self.graph.name, **stage_state,
                 "rng": checkpoint.rng_state(), "best": self.best, "history": self.history,
                 "config": self.config.model_dump(mode="json")}
        if best:  # first: a run killed between the two resumes from the older last.pt and redoes both
            checkpoint.save(self.folder.best, state)
        checkpoint.save(self.folder.last, state)

    def best_weights(self) -> dict | None:
        """best.pt's weights if this run wrote it (a reused folder may hold an older run's)."""
        return checkpoint.load(self.folder.best, self.graph.source_hash)["model"] if self.best is not None else None
