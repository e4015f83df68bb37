"""Checkpoints: everything a run needs to continue exactly, written atomically.

A checkpoint is a dict of plain tensors, dicts, lists, numbers and strings, so it loads with
`torch.load(path, weights_only=True)`:

    model        the model's state_dict (keys as in the spec: `layer1.conv1.weight`)
    spec_hash    graph.source_hash of the spec (and parameters) the weights belong to
    spec         the spec's name
    optimizer, scheduler, meter, sampler   their state_dicts
    rng          {python, numpy, torch, cuda}: the generators' states
    stage, epoch, step   where the run was: step batches into epoch of stage
    best, history        the best monitored value so far, the per-epoch rows of metrics.csv
    config       the resolved config
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import torch

from ..compiler.atomic import atomic_path
from ..compiler.backends.weights import torch_load
from .config import TrainConfig

FORMAT = "nncompile-checkpoint/1"
MODEL_KEY = "model"


def rng_state() -> dict:
    version, state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(state), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    version, values, gauss = state["python"]
    random.setstate((version, tuple(values), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: Path, state: dict) -> None:
    """Writes a temporary file beside `path`, then renames it over `path`: a run killed
    while saving leaves the previous checkpoint whole."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)


class CheckpointError(Exception):
    """A checkpoint that cannot be used (missing, unreadable, or from another spec)."""


def load(path: Path, spec_hash: str | None = None) -> dict:
    """The checkpoint at `path`; refuses one whose spec differs from `spec_hash`."""
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path} to resume from")
    try:
        state = torch_load(path)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an nncompile checkpoint")
    if spec_hash is not None and state["spec_hash"] != spec_hash:
        raise CheckpointError(f"{path} was trained from a different spec: its spec hash is "
                              f"{state['spec_hash'][:16]}, this spec's is {spec_hash[:16]} (spec '{state['spec']}')")
    return state


# how a run is carried out, not what it learns: a resume may change these freely
HOW_IT_RUNS = {"run.name", "run.dir", "run.device", "run.channels_last", "run.compile", "run.threads",
               "run.checkpoint_every", "data.workers"}
# a resume may train longer (more epochs) or at another learning rate, and says so
TUNABLE = re.compile(r"(train|stages\[\d+\])\.(epochs|lr)")


def _flat(value, key: str = "") -> dict:
    """A config dump as {dotted key: value}; a list of sections (stages) by index."""
    if isinstance(value, dict) and value:
        return {k: v for name, item in value.items() for k, v in _flat(item, f"{key}.{name}" if key else name).items()}
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return {k: v for i, item in enumerate(value) for k, v in _flat(item, f"{key}[{i}]").items()}
    return {key: value}


def check_config(state: dict, config: TrainConfig, folder: Path) -> list[str]:
    """The tunable settings `config` changes from the checkpoint's (`key old → new` lines);
    raises CheckpointError naming every other change, which would make the resumed run
    something other than the run its weights, optimizer and history come from."""
    old, new = _flat(state["config"]), _flat(config.model_dump(mode="json"))
    changed = [key for key in dict.fromkeys([*old, *new]) if key not in HOW_IT_RUNS and old.get(key) != new.get(key)]
    lines = {key: f"{key} {json.dumps(old.get(key))} → {json.dumps(new.get(key))}" for key in changed}
    refused = [lines[key] for key in changed if not TUNABLE.fullmatch(key)]
    before = TrainConfig.model_validate(state["config"]).resolved_stages()
    refused += [f"stage '{b.name}': {b.epochs} → {a.epochs} epochs (a resume may train longer, not shorter)"
                for b, a in zip(before, config.resolved_stages()) if a.epochs < b.epochs]
    if refused:
        raise CheckpointError("\n  ".join([f"cannot resume {folder}: its config differs in what was trained:", *refused,
                                          f"to train with these settings, start a new run (no --resume, or "
                                          f"--set run.name=NEW); to continue this one, resume with its config "
                                          f"(--config {folder / 'config.yaml'}); a resume may change only "
                                          f"the epochs (to train longer), the lr and how it runs (run.device, "
                                          f"run.threads, data.workers …)"]))
    return [lines[key] for key in changed]
