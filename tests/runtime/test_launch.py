"""`nncompile train --nproc N`: the workers' threads are set explicitly, so torchrun prints no
OMP_NUM_THREADS banner; `--nnodes 2` runs as two machines that meet through torchrun."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from suite import CLI_MODULE

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_meet_through_torchrun_and_rank_0_writes_the_run(tmp_path, in_repo):
    """Two machines, as two local commands on the loopback address (torchrun's static
    rendezvous at --master-addr:--master-port): both finish, one run folder, written by rank 0.
    Both start at once and their output goes to files: a node waits for the other, so running
    them one after the other, or blocking on one's full pipe, would never end."""
    config = tmp_path / "train.yaml"
    config.write_text(f"run: {{dir: {tmp_path / 'runs'}, name: nodes, threads: 1}}\n"
                      "data: {dataset: xor, size: 64, batch_size: 8}\ntrain: {epochs: 1, loss: bce}\n")
    port = str(_free_port())
    nodes = []
    for rank in (0, 1):
        out, err = (open(tmp_path / f"node{rank}.{s}", "w") for s in ("out", "err"))
        command = [sys.executable, "-m", CLI_MODULE, "train", "specs/xor.yaml", "--config", str(config), "--nproc",
                   "1", "--nnodes", "2", "--node-rank", str(rank), "--master-addr", "127.0.0.1", "--master-port", port,
                   "--no-progress"]
        nodes.append(subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                      start_new_session=True))  # a process group of its own, to kill as one
    deadline = time.monotonic() + 240
    try:
        codes = [node.wait(timeout=max(1.0, deadline - time.monotonic())) for node in nodes]
    finally:
        for node in nodes:
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait()
    shown = {f.name: f.read_text() for f in sorted(tmp_path.glob("node*.*"))}
    assert codes == [0, 0], shown
    assert "(2 processes, gloo)" in shown["node0.out"] and "[train] epoch 1/1" in shown["node0.out"]
    assert shown["node1.out"] == ""  # rank 1 trains and reports nothing
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["nodes"]
    rows = (tmp_path / "runs/nodes/metrics.csv").read_text().splitlines()
    assert len(rows) == 2  # a header and the one epoch
    assert {"config.yaml", "last.pt", "best.pt"} <= {p.name for p in (tmp_path / "runs/nodes").iterdir()}
