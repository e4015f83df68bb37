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

import random
from pathlib import Path

import numpy as np
import torch

from ..compiler.atomic import atomic_path
from ..compiler.backends.weights import torch_load

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
