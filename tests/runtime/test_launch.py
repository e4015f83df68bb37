"""`nncompile train --nproc N`: the workers' threads are set explicitly, so torchrun prints no
OMP_NUM_THREADS banner."""

import os

import pytest

from nncompile.runtime.launch import _worker_env


def test_worker_threads_are_the_users_then_run_threads_then_a_share_of_the_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert _worker_env(3, 2)["OMP_NUM_THREADS"] == "3"
    assert _worker_env(None, 2)["OMP_NUM_THREADS"] == str(max(1, os.cpu_count() // 2))
    assert _worker_env(None, 10_000)["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert _worker_env(3, 2)["OMP_NUM_THREADS"] == "5"


@pytest.mark.slow
def test_two_processes_print_no_omp_banner(tmp_path, run_nncompile, in_repo, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    config = tmp_path / "train.yaml"
    config.write_text(f"run: {{dir: {tmp_path / 'runs'}, name: omp}}\n"
                      "data: {dataset: xor, size: 64, batch_size: 8}\ntrain: {epochs: 1, loss: bce}\n")
    result = run_nncompile("train", "specs/xor.yaml", "--config", config, "--nproc", "2", "--no-progress", timeout=300)
    assert result.code == 0, result.err
    assert "(2 processes, gloo)" in result.out
    assert "OMP_NUM_THREADS" not in result.err, result.err


def test_a_global_batch_that_does_not_split_among_the_processes_is_refused_before_any_worker(tmp_path, cli,
                                                                                             in_repo):
    config = tmp_path / "train.yaml"
    config.write_text(f"run: {{dir: {tmp_path / 'runs'}}}\ndata: {{dataset: xor, batch_size: 5}}\n"
                      "train: {loss: bce}\n")
    result = cli("train", "specs/xor.yaml", "--config", config, "--nproc", "2")
    assert result.code == 1 and "Traceback" not in result.err
    assert ("error: data.batch_size 5 is the global batch, split among 2 processes: make it a multiple of 2 "
            "[batch-split]") in result.err
    assert not (tmp_path / "runs").exists()
