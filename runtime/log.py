"""What a run shows and keeps: a progress line, a summary per epoch, and its folder.

    runs/<name>/
      config.yaml    the resolved config (reusable with --config; the command in its header)
      spec/          a copy of every spec file the network was built from
      metrics.csv    one row per epoch
      metrics.png    the loss and metric curves (if matplotlib is installed)
      last.pt, best.pt   checkpoints (runtime/checkpoint.py)
      test.json      the test split's figures

A fresh run never touches an existing folder: it takes the first free one of <name>,
<name>-2, <name>-3, … . `--exist-ok` reuses <name> and `--resume` continues it; even then
only the files above are replaced and nothing is removed.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import math
import os
import sys
import threading
import time
from pathlib import Path

import yaml

from ..compiler.atomic import atomic_path, write_bytes, write_text
from ..compiler.expand import UsageError
from ..compiler.ir import Graph


class Progress:
    """Progress on stderr, never stdout (which may carry data): tqdm's live bar on a terminal
    or in a notebook; else (logs, CI, nohup) a plain line every tenth of the work or every
    `plain_every` s, so a long run shows life. Nothing at all for the first `delay` s, so a
    fast command stays quiet.

    Training reports steps with figures (`update`); the compiler's long operations report
    through a hook `(phase, done, total)` (`advance`): export's weights and layers, verify's
    checks. Work that cannot count (dot laying a diagram out, a model being written) shows
    its elapsed time (`ticking`)."""

    PLAIN_EVERY_S = 30.0

    def __init__(self, title: str, total: int | None = None, batch_size: int | None = None, enabled: bool = True,
                 *, delay: float = 0.0, plain_every: float = PLAIN_EVERY_S):
        self.title, self.total, self.batch_size = title, total, batch_size
        self.delay, self.plain_every = delay, plain_every
        self.start = self.last = time.perf_counter()
        self.done, self.phase, self.bar = 0, "", None
        self.next_mark = total / 10 if total else math.inf
        self.plain = enabled
        if enabled and (sys.stderr.isatty() or "ipykernel" in sys.modules):
            try:
                from tqdm.auto import tqdm  # the `train` extra's; without it, plain lines
            except ImportError:
                return
            self.plain = False
            self.bar = tqdm(total=total, desc=title, unit="step", file=sys.stderr, leave=False, dynamic_ncols=True,
                            delay=delay)

    def update(self, done: int, figures: dict[str, float]) -> None:
        """Training: `done` steps of `total`, with the figures so far and the samples a second."""
        now = time.perf_counter()
        shown = "  ".join(f"{k} {v:.4f}" for k, v in figures.items())
        rate = f"{done * self.batch_size / max(now - self.start, 1e-9):,.0f} samples/s"
        self._show(done, now, f"{shown}  {rate}", f"{self.title}  step {done}/{self.total}  {shown}  {rate}")

    def advance(self, phase: str, done: int, total: int) -> None:
        """The compiler's progress hook: `done` of the `total` units of `phase`; a new phase
        (another total, or counting again from the start) starts the bar and the tenths afresh."""
        if phase != self.phase and (total != self.total or done < self.done):
            self.phase, self.total, self.done = phase, total, 0
            self.next_mark = total / 10
            if self.bar is not None:  # not bar.reset(): that draws at once, delay or not
                self.bar.total, self.bar.n, self.bar.last_print_n = total, 0, 0
        self.phase = phase
        now = time.perf_counter()
        elapsed = f"{now - self.start:.1f}s"
        self._show(done, now, phase, f"{self.title} {phase}  {done}/{total}  {elapsed}")

    @contextlib.contextmanager
    def ticking(self, every: float = 0.5):
        """Shows the elapsed time while the block runs (a thread wakes every `every` s: the
        work must release the GIL, as waiting for a subprocess does)."""
        stop = threading.Event()
        if self.bar is not None:
            self.bar.bar_format = "{desc}: {elapsed}"

        def tick():
            while not stop.wait(every):
                now = time.perf_counter()
                if self.bar is not None:
                    self.bar.update(0)  # redraws the elapsed time, after the delay (and close clears it)
                elif self.plain and now - self.start >= self.delay and now - self.last >= self.plain_every:
                    self.last = now
                    print(f"{self.title}  {now - self.start:.1f}s", file=sys.stderr, flush=True)

        thread = threading.Thread(target=tick, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()
            self.close()

    def _show(self, done: int, now: float, postfix: str, line: str) -> None:
        step, self.done = done - self.done, done
        if self.bar is not None:
            self.bar.set_postfix_str(postfix, refresh=False)
            self.bar.update(step)
        elif (self.plain and now - self.start >= self.delay and done < self.total
              and (done >= self.next_mark or now - self.last >= self.plain_every)):
            self.last, self.next_mark = now, (int(done * 10 / self.total) + 1) * self.total / 10
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def seconds(self) -> float:
        return time.perf_counter() - self.start


def summary(row: dict) -> str:
    """`[train] epoch 3/20  loss 0.1234  accuracy 0.9612 | val loss … | 3,201 samples/s 1.2s`"""
    train = "  ".join(f"{k[6:]} {v:.4f}" for k, v in row.items() if k.startswith("train_"))
    val = "  ".join(f"{k[4:]} {v:.4f}" for k, v in row.items() if k.startswith("val_"))
    return (f"[{row['stage']}] epoch {row['epoch']}/{row['epochs']}  {train}" + (f" | val {val}" if val else "")
            + f" | lr {row['lr']:.3g}  {row['samples_per_s']:,.0f} samples/s  {row['seconds']:.1f}s")


class RunFolder:
    def __init__(self, path: Path, note: str = ""):
        self.path = path
        self.note = note  # why the run went to this folder, when it is not the one named

    @classmethod
    def claim(cls, parent: Path, name: str, reuse: bool) -> "RunFolder":
        """parent/name if `reuse`, else the first of name, name-2, name-3, … that does not
        exist; made here, so that no other run can take it too."""
        path = parent / name
        try:
            parent.mkdir(parents=True, exist_ok=True)
            if reuse:
                path.mkdir(exist_ok=True)
                return cls(path)
            for n in itertools.count(1):
                path = parent / (name if n == 1 else f"{name}-{n}")
                try:
                    path.mkdir()
                except FileExistsError:
                    continue
                return cls(path, "" if n == 1 else f"{parent / name} exists; --exist-ok reuses it")
        except OSError as e:
            raise UsageError(f"cannot make the run folder {path}: {e.strerror or e}") from None

    @property
    def last(self) -> Path:
        return self.path / "last.pt"

    @property
    def best(self) -> Path:
        return self.path / "best.pt"

    def start(self, config: dict, graph: Graph, command: str) -> None:
        """Writes the resolved config and a copy of the spec's files (replacing only those)."""
        write_text(self.path / "config.yaml", f"# {command}\n" + yaml.safe_dump(config, sort_keys=False))
        main = Path(graph.file).resolve().parent
        for name in graph.sources.files():
            source = Path(name).resolve()
            relative = Path(os.path.relpath(source, main))
            target = self.path / "spec" / (relative if not relative.parts[0] == ".." else source.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(target, source.read_bytes())

    def write_metrics(self, history: list[dict], plot: bool) -> None:
        """Rewrites metrics.csv from the whole history (a resumed run never duplicates a row);
        redraws the curves if `plot` (at the end of each stage: drawing takes a while)."""
        columns = list(dict.fromkeys(k for row in history for k in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns, restval="")
        writer.writeheader()
        writer.writerows(history)
        write_text(self.path / "metrics.csv", buffer.getvalue())
        if plot:
            self._plot(history)

    def _plot(self, history: list[dict]) -> None:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:  # the plot is optional: say so, and train on
            print("nncompile: note: metrics.png not drawn: matplotlib cannot be imported; "
                  "install it with: pip install 'nncompile[train]'", file=sys.stderr)
            return
        # the total loss and every metric (a multi-task run's box IoU beside its accuracy), not each task's loss
        names = [k[6:] for k in history[0] if k == "train_loss" or k.startswith("train_") and not k.endswith("loss")
                 ][:4] if history else []
        fig, axes = plt.subplots(1, len(names) or 1, figsize=(5 * max(1, len(names)), 3.5), squeeze=False)
        x = range(1, len(history) + 1)
        for ax, name in zip(axes[0], names):
            for split in ("train", "val"):
                values = [row.get(f"{split}_{name}") for row in history]
                if any(v not in (None, "") for v in values):
                    ax.plot(x, [float("nan") if v in (None, "") else v for v in values], label=split)
            ax.set_xlabel("epoch")
            ax.set_title(name)
            ax.legend()
        fig.tight_layout()
        with atomic_path(self.path / "metrics.png") as tmp:
            fig.savefig(tmp, format="png", dpi=80)
        plt.close(fig)
