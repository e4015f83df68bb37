"""A run stopped at an epoch's end or within an epoch and resumed ends exactly as a run that
was never interrupted: the same weights (bit for bit, on one CPU process; the spec has dropout,
so the RNG states matter too), the same history and the same metrics.csv."""

import csv
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from suite import CLI_MODULE


ROOT = Path(__file__).resolve().parents[2]
TIMING = ("samples_per_s", "seconds")  # the only columns that may differ


def figures(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def write_config(tmp_path, samples: int, checkpoint_every: int, epochs: int) -> Path:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.random((samples, 1, 8, 8), dtype=np.float32),
             y=rng.integers(0, 10, samples))
    config = tmp_path / "train.yaml"
    config.write_text(f"run: {{dir: {tmp_path / 'runs'}, checkpoint_every: {checkpoint_every}, threads: 1}}\n"
                      "data: {dataset: npz, path: data.npz, batch_size: 16, val_split: 0.1}\n"
                      f"train: {{epochs: {epochs}, optimizer: sgd, lr: 0.05, schedule: cosine, warmup_epochs: 0.5}}\n")
    return config


def assert_same_run(runs: Path, whole: str, cut: str) -> None:
    first, second = (torch.load(runs / name / "last.pt", weights_only=True) for name in (whole, cut))
    assert first["model"].keys() == second["model"].keys()
    assert all(torch.equal(first["model"][k], second["model"][k]) for k in first["model"])
    assert figures(first["history"]) == figures(second["history"])
    tables = [figures(list(csv.DictReader(open(runs / name / "metrics.csv")))) for name in (whole, cut)]
    assert tables[0] == tables[1] and len(tables[0]) == len(first["history"])


@pytest.mark.parametrize("stop_at", ["epoch end", "mid-epoch"])
def test_a_resumed_run_records_the_uninterrupted_runs_figures(cli, in_repo, tmp_path, interrupted_after_checkpoint,
                                                               stop_at):
    """Interrupted right after a checkpoint of epoch 2 (its start, or 4 steps in): the resumed
    epoch's loss and accuracy must not mix in the epoch before it."""
    config = write_config(tmp_path, samples=144, checkpoint_every=4, epochs=3)  # 8 steps an epoch
    command = ["train", "specs/digits_cnn.yaml", "--config", config, "--no-progress"]
    assert cli(*command, "--set", "run.name=whole").code == 0

    with interrupted_after_checkpoint(stop_at):
        assert cli(*command, "--set", "run.name=cut").code == 130
    stopped = torch.load(tmp_path / "runs/cut/last.pt", weights_only=True)
    assert (stopped["epoch"], stopped["step"] > 0) == (1, stop_at == "mid-epoch")

    resumed = cli(*command, "--set", "run.name=cut", "--resume")
    assert resumed.code == 0, resumed.err
    assert f"resuming at stage 1 epoch 2 step {stopped['step']}" in resumed.out
    assert_same_run(tmp_path / "runs", "whole", "cut")


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", ["epoch end", "mid-epoch"])
def test_kill_9_then_resume_matches_an_uninterrupted_run(tmp_path, kill_at):
    # 36 steps an epoch: the kill after the first checkpoint (step 5, or the epoch's end) lands before the next
    config = write_config(tmp_path, samples=640, checkpoint_every=5 if kill_at == "mid-epoch" else 0, epochs=2)
    command = [sys.executable, "-m", CLI_MODULE, "train", "specs/digits_cnn.yaml", "--config", str(config),
               "--no-progress"]

    subprocess.run(command + ["--set", "run.name=whole"], cwd=ROOT, check=True, capture_output=True, timeout=300)

    cut = tmp_path / "runs/cut/last.pt"
    process = subprocess.Popen(command + ["--set", "run.name=cut"], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    while not cut.exists() and process.poll() is None:
        time.sleep(0.002)
    process.kill()  # SIGKILL: no handler runs, nothing is flushed
    assert process.wait() == -9
    killed = torch.load(cut, weights_only=True)
    assert (killed["epoch"], killed["step"] > 0) == ((0, True) if kill_at == "mid-epoch" else (1, False))

    resumed = subprocess.run(command + ["--set", "run.name=cut", "--resume"], cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming at stage 1 epoch {killed['epoch'] + 1} step {killed['step']}" in resumed.stdout
    assert_same_run(tmp_path / "runs", "whole", "cut")


def test_a_resume_refuses_a_config_that_changes_what_was_trained(cli, in_repo, tmp_path):
    """Another batch size and optimizer would make the resumed run a different one: refused before
    anything is written, each change named old → new, with the ways on."""
    config = write_config(tmp_path, samples=64, checkpoint_every=0, epochs=1)
    command = ["train", "specs/digits_cnn.yaml", "--config", config, "--no-progress", "--set", "run.name=r"]
    assert cli(*command).code == 0
    folder = tmp_path / "runs/r"
    kept = {name: (folder / name).read_bytes() for name in ("last.pt", "config.yaml", "metrics.csv")}

    changed = cli(*command, "--resume", "--set", "data.batch_size=8", "--set", "train.optimizer=adam",
                  "--set", "train.epochs=2")
    assert changed.code == 2 and "Traceback" not in changed.err
    assert f"cannot resume {folder}" in changed.err
    assert "data.batch_size 16 → 8" in changed.err and 'train.optimizer "sgd" → "adam"' in changed.err
    assert "train.epochs" not in changed.err  # training longer is not the problem
    assert f"--config {folder / 'config.yaml'}" in changed.err
    longer = cli(*command, "--resume", "--set", "train.epochs=2")
    assert longer.code == 0, longer.err
    refused = cli(*command, "--resume", "--set", "train.epochs=1")
    assert refused.code == 2 and "stage 'train': 2 → 1 epochs" in refused.err
    assert {name: (folder / name).read_bytes() for name in kept} != kept  # the longer run did write
    assert (folder / "config.yaml").read_text().count("epochs: 2") == 1


def test_a_resume_trains_longer_at_the_new_lr_and_says_so(cli, in_repo, tmp_path):
    """More epochs and a lower lr are the usual reasons to resume: the new lr is the one the
    optimizer steps with (the checkpoint's scheduler held the old one)."""
    config = write_config(tmp_path, samples=64, checkpoint_every=0, epochs=1)
    config.write_text(config.read_text().replace("schedule: cosine, warmup_epochs: 0.5", "schedule: constant"))
    command = ["train", "specs/digits_cnn.yaml", "--config", config, "--no-progress", "--set", "run.name=r"]
    assert cli(*command).code == 0
    resumed = cli(*command, "--resume", "--set", "train.epochs=3", "--set", "train.lr=0.01")
    assert resumed.code == 0, resumed.err
    assert "resuming with train.epochs 1 → 3" in resumed.out and "resuming with train.lr 0.05 → 0.01" in resumed.out
    rows = list(csv.DictReader(open(tmp_path / "runs/r/metrics.csv")))
    assert [(row["epoch"], float(row["lr"])) for row in rows] == [("1", 0.05), ("2", 0.01), ("3", 0.01)]
