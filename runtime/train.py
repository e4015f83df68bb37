"""Training a spec: `nncompile train spec.yaml --config train.yaml`.

The loop of the slides — predict, compute the loss, backpropagate, step, iterate — over the
config's stages, with a checkpoint (last.pt, best.pt) per epoch and every
`run.checkpoint_every` steps, from which `--resume` continues exactly. Under torchrun
(`nncompile train --nproc N`, or `torchrun -m nncompile.cli train …`) it runs
DistributedDataParallel: gloo on CPU, NCCL on GPU, each process a share of every epoch,
process 0 alone printing and writing.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.utils import get_total_norm
from torch.utils.data import DataLoader

from ..compiler import build, to_torch
from ..compiler.atomic import write_text
from ..compiler.diagnostics import Diagnostic, SpecError
from ..compiler.expand import UsageError
from ..compiler.ir import Graph
from . import checkpoint, config as config_module, data as data_module, losses
from .config import Loaded, Reconstruct, Stage
from .ledger import Ledger
from .log import Progress, RunFolder
from .metrics import LossInputError, Meter, TaskMeter, torch_loss
from .objectives import (MultiTask, Reconstruction, Supervised, check_names, reconstruction, reconstruction_taps,
                         select_trainable)
from .tasks import monitored, tasks


@dataclass
class Result:
    model: nn.Module  # the trained network (best.pt's weights if a test split was scored)
    folder: RunFolder
    history: list[dict]
    test: dict | None


@dataclass
class StageRun:
    """What one stage trains with, and which epoch it is in."""

    index: int
    stage: Stage
    model: nn.Module  # the network (its state_dict is what checkpoints keep)
    task: nn.Module  # the objective around it (runtime/objectives.py)
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    sampler: data_module.EpochSampler
    epoch: int = 0

    def state(self, meter: Meter, epoch: int, step: int, batch_size: int) -> dict:
        """What resuming this stage before batch `step` of `epoch` takes (a checkpoint's part)."""
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "decoder": self.task.decoder.state_dict() if isinstance(self.task, Reconstruction) else {},
                "meter": meter.state_dict(), "sampler": self.sampler.state_at(epoch, step * batch_size),
                "stage": self.index, "epoch": epoch, "step": step}


@dataclass
class Process:
    """This process's place in a distributed run (rank 0 of 1 when alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def on_rank0(self, make, device: torch.device):
        """make()'s result on rank 0, or its usage error, shared with every process."""
        if self.world == 1:
            return make()
        shared = [None]
        if self.main:
            try:
                shared = [make()]
            except UsageError as e:
                shared = [e]
        dist.broadcast_object_list(shared, src=0, device=device)
        if isinstance(shared[0], UsageError):
            raise shared[0] if self.main else SystemExit(2)  # reported once, by process 0
        return shared[0]


def start_process(device_setting: str) -> Process:
    """Joins torchrun's process group when launched by it (WORLD_SIZE in the environment)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Process()
    cuda = torch.cuda.is_available() and device_setting != "cpu"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Process(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def pick_device(setting: str, process: Process) -> torch.device:
    if setting == "auto":
        return torch.device(f"cuda:{process.local_rank}" if torch.cuda.is_available() else "cpu")
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"run.device is {setting} but torch sees no CUDA device")
    device = torch.device(setting)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise UsageError(f"run.device is {setting} but torch sees {torch.cuda.device_count()} CUDA devices")
    return device


def schedule(train, steps_per_epoch: int, epochs: int):
    """The lr factor at each optimizer step: linear warm-up, then constant, step or cosine."""
    total, warmup = epochs * steps_per_epoch, train.warmup_epochs * steps_per_epoch

    def factor(step: int) -> float:
        ramp = min(1.0, (step + 1) / warmup) if warmup else 1.0
        if train.schedule == "step":
            return ramp * train.gamma ** (step // steps_per_epoch // train.step_size)
        if train.schedule == "cosine":
            return ramp * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        return ramp

    return factor


def make_optimizer(train, params, lr: float) -> torch.optim.Optimizer:
    if train.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=train.momentum, weight_decay=train.weight_decay)
    if train.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=train.weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=train.weight_decay)


def backward(graph: Graph, loss: torch.Tensor) -> None:
    """loss.backward(); an error a layer raises while differentiating (a step activation's)
    becomes a diagnostic at that layer."""
    try:
        loss.backward()
    except RuntimeError as e:
        named = re.search(r"layer '([^']+)'", str(e))
        node = graph.nodes.get(named.group(1)) if named else None
        if node is None:
            raise
        error = SpecError(Diagnostic(f"cannot train '{graph.name}': {e}", node.span, code="not-differentiable"))
        error.sources = graph.sources
        raise error from None


PEER_GONE = re.compile(r"Connection (closed|reset) by peer")


def resume_state(folder: RunFolder, graph: Graph, config) -> tuple[dict, list[str]]:
    """last.pt, checked against this spec and config, and the changes of config it allows."""
    state = checkpoint.load(folder.last, graph.source_hash)
    return state, checkpoint.check_config(state, config, folder.path)


def resume_schedule(optimizer, scheduler, state: dict, lr: float) -> None:
    """The checkpoint's optimizer and scheduler, stepping at the config's lr over its epochs
    (the scheduler's function): a resume may change both (checkpoint.check_config)."""
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])  # (its base_lrs: the checkpoint's lr)
    scheduler.base_lrs = [lr] * len(optimizer.param_groups)
    for group in optimizer.param_groups:
        group["initial_lr"], group["lr"] = lr, lr * scheduler.lr_lambdas[0](scheduler.last_epoch)


class Trainer:
    def __init__(self, graph: Graph, loaded: Loaded, *, resume: bool = False, exist_ok: bool = False,
                 command: str = "nncompile train", progress: bool = True):
        self.graph, self.loaded, self.config = graph, loaded, loaded.config
        self.resume, self.exist_ok, self.command, self.show_progress = resume, exist_ok, command, progress
        run, train = self.config.run, self.config.train
        self.stages = self.config.resolved_stages()
        for i, stage in enumerate(self.stages):
            check_names(loaded, graph, i, stage)
        self.tasks = tasks(loaded, graph)
        self.multi = not isinstance(train.loss, str)  # a loss per output, by name
        self.losses = {t.output: torch_loss(losses.LOSSES[t.loss], t.beta) for t in self.tasks}
        if run.threads:
            torch.set_num_threads(run.threads)
        self.process = start_process(run.device)
        self.device = pick_device(run.device, self.process)
        self.batch = config_module.process_batch(loaded, self.process.world)
        self.splits = data_module.load(loaded, graph)
        named = RunFolder(Path(run.dir) / (run.name or graph.name))  # until run() claims a folder
        self.ledger = Ledger(graph, self.config, self.process.main, named, monitored(self.tasks, train.metrics))

    # --- data ----------------------------------------------------------------------

    def loader(self, dataset, shuffle: bool) -> tuple[DataLoader, data_module.EpochSampler]:
        sampler = data_module.EpochSampler(len(dataset), self.config.run.seed, shuffle,
                                           self.process.rank, self.process.world)
        # its own generator: a DataLoader otherwise draws its workers' base seed from the global
        # RNG each epoch, which would make dropout after a resume differ
        return DataLoader(dataset, batch_size=self.batch, sampler=sampler,
                          num_workers=self.config.data.workers, pin_memory=self.device.type == "cuda",
                          generator=torch.Generator().manual_seed(self.config.run.seed)), sampler

    def to_device(self, x: torch.Tensor, y: torch.Tensor | dict):
        layout = torch.channels_last if self.config.run.channels_last and x.dim() == 4 else torch.contiguous_format
        if isinstance(y, dict):  # a target per output
            y = {name: t.to(self.device, non_blocking=True) for name, t in y.items()}
        else:
            y = y.to(self.device, non_blocking=True)
        return x.to(self.device, non_blocking=True, memory_format=layout), y

    def objective(self, model: nn.Module) -> nn.Module:
        """The supervised objective around the network: its loss, or the weighted sum of its tasks'."""
        if not self.multi:
            return Supervised(model, self.losses[self.tasks[0].output])
        return MultiTask(model, list(self.graph.outputs),
                         {t.output: (self.losses[t.output], t.weight) for t in self.tasks})

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16,
                              enabled=self.device.type == "cuda" and self.config.run.bf16)

    # --- the run -------------------------------------------------------------------

    def run(self) -> Result:
        run = self.config.run
        state, changes = resume_state(self.ledger.folder, self.graph, self.config) if self.resume else (None, [])
        torch.manual_seed(run.seed + self.process.rank)
        model = to_torch(self.graph, seed=run.seed).to(self.device)
        if run.channels_last:
            model = model.to(memory_format=torch.channels_last)
        spec_frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
        forward = torch.compile(model) if run.compile else model
        if state is not None:
            model.load_state_dict(state["model"])
            self.ledger.history, self.ledger.best = state["history"], state["best"]
        self.check_stages(model, spec_frozen, state["stage"] if state else 0)
        named = self.ledger.folder.path
        self.ledger.folder = self.process.on_rank0(
            lambda: RunFolder.claim(named.parent, named.name, reuse=self.resume or self.exist_ok), self.device)
        folder = self.ledger.folder
        if self.process.main:
            folder.start(self.config.model_dump(mode="json"), self.graph, self.command)
            where = f" ({folder.note})" if folder.note else ""
            where += f" ({self.process.world} processes, {dist.get_backend()})" if self.process.world > 1 else ""
            print(f"run folder {folder.path}{where}" + (f", resuming at stage {state['stage'] + 1} epoch "
                                                       f"{state['epoch'] + 1} step {state['step']}" if state else ""))
            print("".join(f"resuming with {change}\n" for change in changes), end="")
        train_loader, sampler = self.loader(self.splits.train, shuffle=True)
        for index, stage in enumerate(self.stages):
            if state is not None and index < state["stage"]:
                continue
            trained = select_trainable(model, spec_frozen, stage)
            if isinstance(stage.objective, Reconstruct):
                task = reconstruction(self.loaded, self.graph, index, stage.objective, model, run.seed)
            else:
                task = self.objective(forward)
            task.to(self.device)
            params = [p for p in task.parameters() if p.requires_grad]
            optimizer = make_optimizer(self.config.train, params, stage.lr)
            steps = math.ceil(sampler.per_rank / self.batch)  # a whole epoch's
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule(self.config.train, steps, stage.epochs))
            meter = self.meter(stage)
            first_epoch, first_step = 0, 0
            if state is not None and index == state["stage"]:
                resume_schedule(optimizer, scheduler, state, stage.lr)
                if state["decoder"]:
                    task.decoder.load_state_dict(state["decoder"])
                meter.load_state_dict(state["meter"])
                sampler.load_state_dict(state["sampler"])
                first_epoch, first_step = state["epoch"], state["step"]
                checkpoint.set_rng_state(state["rng"])
                state = None
            wrapped = task
            if self.process.world > 1:
                wrapped = nn.parallel.DistributedDataParallel(
                    task, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                    find_unused_parameters=isinstance(stage.objective, Reconstruct))
            if self.process.main:
                epochs = f"{stage.epochs} epoch{'s' * (stage.epochs != 1)}"
                print(f"stage '{stage.name}': {epochs}, {trained:,} parameters trained"
                      + (f", objective: reconstruct {stage.objective.reconstruct}"
                         if isinstance(stage.objective, Reconstruct) else ""))
            at = StageRun(index, stage, model, task, optimizer, scheduler, sampler)
            for epoch in range(first_epoch, stage.epochs):
                at.epoch = epoch
                if not first_step:  # else the checkpoint's sampler state says where the epoch stood
                    sampler.set_epoch(epoch)
                self.train_epoch(wrapped, train_loader, meter, first_step, at)
                first_step = 0
                meter = self.meter(stage)
        test = self.score_test(model)
        return Result(model, folder, self.ledger.history, test)

    def check_stages(self, model: nn.Module, spec_frozen: set[str], first: int) -> None:
        """The stages from `first` on can run: checked before the run folder is made, so a
        mistake in a later stage costs no folder and no training."""
        for index, stage in enumerate(self.stages[first:], first):
            if not select_trainable(model, spec_frozen, stage):
                raise self.loaded.error(f"stage '{stage.name}' trains no parameter of '{self.graph.name}'",
                                        "stages", index, code="nothing-to-train")
            if isinstance(stage.objective, Reconstruct):
                reconstruction_taps(self.loaded, self.graph, index, stage.objective, model)

    def meter(self, stage) -> Meter | TaskMeter:
        supervised = stage.objective == "supervised"
        meters = {t.output: Meter(self.losses[t.output], t.metrics if supervised else [],
                                  t.classes if isinstance(t.classes, int) else 1) for t in self.tasks}
        if not self.multi:
            return meters[self.tasks[0].output]
        return TaskMeter(meters, {t.output: t.prefix for t in self.tasks})

    def train_epoch(self, wrapped, loader, meter, first_step: int, at: StageRun) -> None:
        stage, epoch = at.stage, at.epoch
        self.splits.set_epoch(epoch)
        steps = first_step + len(loader)
        progress = Progress(f"[{stage.name}] epoch {epoch + 1}/{stage.epochs}", steps, self.batch,
                            enabled=self.show_progress and self.process.main)
        every = self.config.run.checkpoint_every
        wrapped.train()
        samples = 0
        for step, (x, y) in enumerate(loader, start=first_step + 1):
            x, y = self.to_device(x, y)
            loss, out = self.forward(wrapped, x, y)
            at.optimizer.zero_grad(set_to_none=True)
            backward(self.graph, loss)
            self.check_finite(at, epoch, step, loss)
            at.optimizer.step()
            at.scheduler.step()
            value = float(loss.detach())
            meter.update(out, y, value)
            samples += len(x)
            progress.update(step - first_step, {"loss": value})
            if every and step % every == 0 and step < steps:
                self.save(at, meter, epoch, step)
        progress.close()
        seconds = progress.seconds()
        meter.all_reduce()
        row = {"stage": stage.name, "epoch": epoch + 1, "epochs": stage.epochs,
               "lr": at.optimizer.param_groups[0]["lr"]}
        row |= {f"train_{k}": v for k, v in meter.results().items()}
        if self.splits.val is not None:
            row |= {f"val_{k}": v for k, v in self.evaluate(at.task, self.splits.val, stage).items()}
        row |= {"samples_per_s": samples * self.process.world / max(seconds, 1e-9), "seconds": seconds}
        improved = self.ledger.record(row, stage, validated=self.splits.val is not None)
        self.save(at, self.meter(stage), epoch + 1, 0, best=improved)  # the next epoch's meter starts empty
        self.ledger.publish(row, last_epoch=epoch + 1 == stage.epochs)

    def forward(self, task: nn.Module, x: torch.Tensor, y: torch.Tensor):
        """(loss, output); an output the loss cannot take is an error at the config's loss."""
        try:
            with self.autocast():
                return task(x, y)
        except LossInputError as e:
            raise self.loaded.error(str(e), "train", "loss", code="bad-loss") from None

    def check_finite(self, at: StageRun, epoch: int, step: int, loss: torch.Tensor) -> None:
        """Stops the run before a non-finite loss or gradient reaches the weights: one fused
        check (the largest |gradient|) and one sync a step, and every process stops alike."""
        grads = [p.grad for group in at.optimizer.param_groups for p in group["params"] if p.grad is not None]
        figures = torch.stack([loss.detach().float().reshape(()),
                               get_total_norm(grads, math.inf).float().to(loss.device)])
        stop = (~figures.isfinite()).any().int()
        if self.process.world > 1:
            dist.all_reduce(stop, op=dist.ReduceOp.MAX)
        if stop:
            value, largest = figures.tolist()
            problem = (f"the loss is {value}" if not math.isfinite(value) else f"a gradient is {largest}"
                       if not math.isfinite(largest) else "another process's loss is not finite")
            self.diverged(at, f"epoch {epoch + 1}, step {step}", problem)

    def diverged(self, at: StageRun, when: str, problem: str) -> None:
        """Stops a run at a non-finite figure, every process alike; process 0 reports it,
        located at the lr it trained with."""
        if not self.process.main:
            raise SystemExit(1)
        lr_key = ("stages", at.index, "lr") if self.loaded.is_set("stages", at.index, "lr") else ("train", "lr")
        lr_name = f"stages[{at.index}].lr" if lr_key[0] == "stages" else "train.lr"
        decay = self.config.train.weight_decay
        raise self.loaded.error(
            f"training stopped at stage '{at.stage.name}', {when}: {problem}",
            *(lr_key if self.loaded.is_set(*lr_key) else ()), code="non-finite",  # unlocated if lr is the default
            notes=[f"the learning rate is {at.stage.lr:g} ({lr_name}): try a lower one"
                   + (f" (or a lower train.weight_decay than {decay:g})" if decay else ""),
                   "no checkpoint was written with these weights: last.pt and best.pt, if any, are from before"])

    def evaluate(self, task: nn.Module, dataset, stage) -> dict[str, float]:
        loader, _ = self.loader(dataset, shuffle=False)
        meter = self.meter(stage)
        task.eval()
        with torch.no_grad():
            for x, y in loader:
                x, y = self.to_device(x, y)
                loss, out = self.forward(task, x, y)
                meter.update(out, y, float(loss))
        task.train()
        meter.all_reduce()
        return meter.results()

    def save(self, at: StageRun, meter: Meter, epoch: int, step: int, best: bool = False) -> None:
        """Checkpoints the run before batch `step` of `epoch`, unless its weights have diverged."""
        weights = at.model.state_dict()
        if not get_total_norm([t for t in weights.values() if t.is_floating_point()], math.inf).isfinite():
            when = f"epoch {epoch + 1}, step {step}" if step else f"the end of epoch {epoch}"
            self.diverged(at, when, "the weights are no longer finite")  # alike everywhere: DDP keeps replicas equal
        self.ledger.save(weights, at.state(meter, epoch, step, self.batch), best)

    def score_test(self, model: nn.Module) -> dict | None:
        """The test split, scored once at the end with best.pt's weights (else the last)."""
        if self.splits.test is None:
            return None
        if self.process.world > 1:
            dist.barrier()  # best.pt is complete before anyone reads it
        best = self.ledger.best_weights()
        if best is not None:
            model.load_state_dict(best)
        results = self.evaluate(self.objective(model), self.splits.test, self.stages[-1])
        if self.process.main:
            print("test  " + "  ".join(f"{k} {v:.4f}" for k, v in results.items()), flush=True)
            write_text(self.ledger.folder.path / "test.json", json.dumps(results, indent=2) + "\n")
        return results


def train(spec: str | Path, config: str | Path, *, params: dict | None = None, overrides: dict | None = None,
          resume: bool = False, exist_ok: bool = False, allow_paths=(), command: str = "nncompile train",
          progress: bool = True) -> Result:
    """Trains `spec` as `config` says (overrides: dotted config paths -> YAML values); a fresh
    run goes to a new folder unless `exist_ok` (runtime/log.py, RunFolder.claim).
    Raises SpecError (located diagnostics) or UsageError before training if anything is wrong."""
    loaded = config_module.load(config, overrides)
    graph = build(spec, params, allow_paths=allow_paths)
    try:
        return Trainer(graph, loaded, resume=resume, exist_ok=exist_ok, command=command, progress=progress).run()
    except checkpoint.CheckpointError as e:
        raise UsageError(str(e)) from None
    except RuntimeError as e:  # gloo's, in a collective, when another process has failed
        if not (dist.is_initialized() and PEER_GONE.search(str(e))):
            raise
        raise SystemExit(1) from None  # that process says why; a traceback here would bury it
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()

