"""Two processes on CPU (gloo, DistributedDataParallel) end with identical weights and learn."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_gloo_processes_keep_identical_replicas_and_learn(tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text(f"run: {{dir: {tmp_path / 'runs'}, name: ddp, threads: 1}}\n"
                      "data: {dataset: digits, batch_size: 32, val_split: 0.1}\n"
                      "train: {epochs: 2, lr: 0.003}\n")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               str(Path(__file__).with_name("ddp_worker.py")), "specs/digits_cnn.yaml", str(config), str(tmp_path)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(2 processes, gloo)" in result.stdout
    first, second = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    rows = list(csv.DictReader(open(tmp_path / "runs/ddp/metrics.csv")))
    assert len(rows) == 2 and float(rows[1]["train_loss"]) < float(rows[0]["train_loss"]) < 2.4  # ln 10 ≈ 2.30
