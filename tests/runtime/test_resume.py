"""A run killed with SIGKILL mid-epoch and resumed ends with exactly the weights of a run that
was never interrupted (CPU; the spec has dropout, so the RNG states matter too)."""

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.random((640, 1, 8, 8), dtype=np.float32), y=rng.integers(0, 10, 640))
    config = tmp_path / "train.yaml"
    config.write_text(f"run: {{dir: {tmp_path / 'runs'}, checkpoint_every: 5, threads: 1}}\n"
                      "data: {dataset: npz, path: data.npz, batch_size: 16, val_split: 0.1}\n"
                      "train: {epochs: 2, optimizer: sgd, lr: 0.05, schedule: cosine, warmup_epochs: 0.5}\n")
    command = ["nncompile", "train", "specs/digits_cnn.yaml", "--config", str(config), "--no-progress"]

    subprocess.run(command + ["--set", "run.name=whole"], cwd=ROOT, check=True, capture_output=True, timeout=300)

    cut = tmp_path / "runs/cut/last.pt"
    process = subprocess.Popen(command + ["--set", "run.name=cut"], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    while not cut.exists() and process.poll() is None:
        time.sleep(0.002)
    process.kill()  # SIGKILL: no handler runs, nothing is flushed
    assert process.wait() == -9
    killed = torch.load(cut, weights_only=True)
    assert killed["step"] > 0, "the run should have been killed within an epoch"

    resumed = subprocess.run(command + ["--set", "run.name=cut", "--resume"], cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming at stage 1 epoch {killed['epoch'] + 1} step {killed['step']}" in resumed.stdout

    whole, cut_state = (torch.load(tmp_path / f"runs/{name}/last.pt", weights_only=True) for name in ("whole", "cut"))
    assert whole["model"].keys() == cut_state["model"].keys()
    assert all(torch.equal(whole["model"][k], cut_state["model"][k]) for k in whole["model"])
    assert [row["train_loss"] for row in whole["history"]] == [row["train_loss"] for row in cut_state["history"]]
