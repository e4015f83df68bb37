"""Two processes (`--nproc 2`, gloo) agree on the run folder process 0 chose and stop together,
reported once, at a non-finite loss."""

import os
import time

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


RANK_1_FAILS = '''
import os
import time
if os.environ.get("RANK") == "1":  # an error only one process meets, in its first epoch
    from nncompile.compiler.expand import UsageError
    from nncompile.runtime import train

    def fail(*args, **kwargs):
        raise UsageError("rank 1 cannot read its share of the data")
    train.Trainer.train_epoch = fail
'''


@pytest.mark.slow
def test_one_process_failing_stops_the_other_with_its_message(tmp_path, run_nncompile, in_repo):
    """Process 0 waits in the first gradient all-reduce for a peer that is gone: it must stop
    too, within seconds, leaving process 1's message alone on stderr (no gloo traceback)."""
    (tmp_path / "inject").mkdir()
    (tmp_path / "inject/sitecustomize.py").write_text(RANK_1_FAILS)
    config = tmp_path / "train.yaml"
    config.write_text(f"run: {{dir: {tmp_path / 'runs'}, name: ddp, threads: 1}}\n"
                      "data: {dataset: digits, batch_size: 64}\ntrain: {epochs: 1}\n")
    started = time.monotonic()
    result = run_nncompile("train", "specs/digits_cnn.yaml", "--config", config, "--nproc", "2", "--no-progress",
                           env={"OMP_NUM_THREADS": "1", "PYTHONPATH": str(tmp_path / "inject")}, timeout=120)
    assert time.monotonic() - started < 60
    assert result.code == 2, result.err
    assert result.err == "nncompile: error: rank 1 cannot read its share of the data\n"
