"""Two processes (`--nproc 2`, gloo) agree on the run folder process 0 chose and stop together,
reported once, at a non-finite loss."""

import os

import pytest


@pytest.mark.slow
def test_two_processes_take_a_new_folder_and_stop_together_at_a_nan(tmp_path, run_nncompile, in_repo):
    taken = tmp_path / "runs/ddp"
    taken.mkdir(parents=True)
    (taken / "notes.txt").write_text("a user's")
    config = tmp_path / "train.yaml"
    config.write_text(f"run: {{dir: {tmp_path / 'runs'}, name: ddp, threads: 1}}\n"
                      "data: {dataset: digits, batch_size: 256}\ntrain: {epochs: 1, lr: 1e10}\n")
    result = run_nncompile("train", "specs/digits_cnn.yaml", "--config", config, "--nproc", "2", "--no-progress",
                           env={"OMP_NUM_THREADS": "1"}, timeout=300)
    assert result.code == 1 and "Traceback" not in result.err, result.err
    assert result.out.startswith(f"run folder {taken}-2 ({taken} exists; --exist-ok reuses it) (2 processes, gloo)")
    assert result.err.count("error: training stopped at stage 'train', epoch 1, step ") == 1
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in (tmp_path / "runs/ddp-2").iterdir()) == ["config.yaml", "spec"]
    assert sorted(os.listdir(tmp_path / "runs")) == ["ddp", "ddp-2"]
