"""Interrupted writes leave nothing behind: `export`, `draw` and `train` killed by SIGKILL at
several moments of a write, and by SIGINT and SIGTERM. A SIGKILL cannot be caught, so its
temporary file stays until the next write into the same directory, which removes it; the
signals that can be caught remove it at once. The `dot` child of `draw` dies with its parent.

Each test polls for the moment it interrupts (the temporary file appearing, growing, `dot`
running) rather than sleeping, so it takes the time the command needs to get there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from suite import CLI_MODULE, ROOT

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds processes through /proc")

MARK = ".nncompile-"
# 4096·2048 + 2048·2048 weights: a 50 MB model, whose write takes long enough to be caught
BIG = "name: big\ninputs: {x: [N, 4096]}\nlayers:\n  - fc1: {op: linear, out_features: 2048}\n" \
      "  - fc2: {op: linear, out_features: 2048}\noutputs: [fc2]\n"


def start(*args, cwd=ROOT) -> subprocess.Popen:
    # SIGINT as a terminal gives it: a child of a shell without job control would ignore it
    return subprocess.Popen([sys.executable, "-m", CLI_MODULE, *map(str, args)], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(condition, process: subprocess.Popen, timeout: float = 120):
    """Polls `condition` until it holds (returns its value); fails if the process ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        assert process.poll() is None, f"exited {process.returncode} first: {process.stderr.read()}"
        time.sleep(0.001)
    raise AssertionError("timed out")


def temps(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if MARK in p.name]


def kill(process: subprocess.Popen) -> None:
    process.kill()
    assert process.wait(30) == -signal.SIGKILL
    process.stderr.close()


@pytest.fixture
def big_spec(tmp_path) -> Path:
    (tmp_path / "big.yaml").write_text(BIG)
    return tmp_path / "big.yaml"


def written(path: Path, at_least: int):
    return lambda: [t for t in temps(path.parent) if t.stat().st_size >= at_least]


@pytest.mark.parametrize("moment", [1, 25_000_000], ids=["write-begins", "write-halfway"])
def test_sigkill_during_export_keeps_the_old_model_and_the_next_export_removes_the_temporary(
        cli, in_repo, tmp_path, big_spec, moment):
    out = tmp_path / "out"
    out.mkdir()
    target = out / "model.onnx"
    target.write_bytes(b"the previous model")
    process = start("export", big_spec, "-o", target)
    wait_for(written(target, moment), process)
    kill(process)
    assert target.read_bytes() == b"the previous model" and len(temps(out)) == 1

    assert cli("export", "specs/xor.yaml", "-o", target).code == 0  # the next run: in this process, to be quick
    assert os.listdir(out) == ["model.onnx"] and target.read_bytes().startswith(b"\x08")  # an ONNX ModelProto


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_sigint_and_sigterm_during_export_remove_the_temporary_at_once(tmp_path, big_spec, signum, code):
    out = tmp_path / "out"
    out.mkdir()
    process = start("export", big_spec, "-o", out / "model.onnx")
    wait_for(written(out / "model.onnx", 1), process)
    process.send_signal(signum)
    assert process.wait(60) == code
    message = process.stderr.read()
    assert "Traceback" not in message and ("interrupted" if signum == signal.SIGINT else "terminated") in message
    assert os.listdir(out) == []


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def laying_out(pid: int) -> bool:
    """`dot` has spent 0.2 s of CPU: it has read all its input and is at work on the layout."""
    try:
        fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") >= 0.2  # utime + stime


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed orphan may wait for a reaper that never comes)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def ladder_spec(tmp_path) -> Path:
    """300 adds, each of the two layers before it (and every third of one 7 back): edges that
    cross, so that `dot`'s layout takes seconds of CPU, and it is caught at work."""
    layers = ["  - a0: {op: linear, out_features: 8, in: x}", "  - a1: {op: linear, out_features: 8, in: x}"]
    layers += [f"  - a{i}: {{op: add, in: [a{i - 1}, a{i - 2 if i % 3 else max(0, i - 7)}]}}" for i in range(2, 300)]
    (tmp_path / "ladder.yaml").write_text("name: ladder\ninputs: {x: [N, 8]}\nlayers:\n" + "\n".join(layers)
                                          + "\noutputs: [a299]\n")
    return tmp_path / "ladder.yaml"


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "SIGINT"])
def test_draw_interrupted_while_dot_runs_takes_dot_with_it(cli, in_repo, tmp_path, ladder_spec, how):
    out = tmp_path / "out"
    out.mkdir()
    target = out / "ladder.svg"  # no bitmap-size warning on stderr, whose closed pipe would kill dot anyway
    process = start("draw", ladder_spec, "-o", target, "--no-collapse")
    dot = wait_for(lambda: children(process.pid), process)[0]
    wait_for(lambda: laying_out(dot), process)
    assert len(temps(out)) == 1, "dot writes our temporary file"
    if how == "SIGKILL":
        kill(process)
    else:
        process.send_signal(getattr(signal, how))
        assert process.wait(30) == 128 + getattr(signal, how)
        process.stderr.close()
    deadline = time.monotonic() + 10
    while running(dot) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not running(dot), "an orphan dot outlived nncompile"
    # dot writes its picture when its layout is done: an empty temporary file says it never was
    assert all(t.stat().st_size == 0 for t in temps(out)), "dot finished the drawing of a dead nncompile"
    assert not target.exists()

    assert cli("draw", "specs/xor.yaml", "-o", target).code == 0
    assert os.listdir(out) == ["ladder.svg"] and b"<svg" in target.read_bytes()


@pytest.fixture
def wide_run(tmp_path):
    """A training run whose 260k weights (a 3 MB checkpoint with Adam's state) are saved every
    step: (its command, its folder), from tmp_path."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.random((64, 256), dtype=np.float32), y=rng.integers(0, 4, 64))
    (tmp_path / "wide.yaml").write_text("name: wide\ninputs: {x: [N, 256]}\nlayers:\n"
                                        "  - fc1: {op: linear, out_features: 1024}\n  - act: relu\n"
                                        "  - fc2: {op: linear, out_features: 4}\noutputs: [fc2]\n")
    (tmp_path / "train.yaml").write_text(
        "run: {dir: runs, name: wide, checkpoint_every: 1, threads: 1}\n"
        "data: {dataset: npz, path: data.npz, batch_size: 16, val_split: 0.25}\n"
        "train: {epochs: 3, optimizer: adam, lr: 0.001}\n")
    return ["train", "wide.yaml", "--config", "train.yaml", "--no-progress"], tmp_path / "runs" / "wide"


def checkpoint_being_written(folder: Path):
    """A later checkpoint's temporary file beside a whole last.pt."""
    return lambda: (folder / "last.pt").exists() and [t for t in temps(folder) if t.name.startswith(".last.pt.")]


def hidden(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_sigkill_during_a_checkpoint_write_then_resume_leaves_no_temporary(cli, tmp_path, monkeypatch, wide_run):
    command, folder = wide_run
    process = start(*command, cwd=tmp_path)
    wait_for(checkpoint_being_written(folder), process)
    kill(process)
    left = temps(folder)
    monkeypatch.chdir(tmp_path)
    resumed = cli(*command, "--resume")
    assert resumed.code == 0, resumed.err
    assert left and hidden(folder) == [], f"left by the killed run: {[t.name for t in left]}"


def test_sigterm_during_a_checkpoint_write_removes_the_temporary_and_keeps_last_pt(tmp_path, wide_run):
    import torch

    command, folder = wide_run
    process = start(*command, cwd=tmp_path)
    wait_for(checkpoint_being_written(folder), process)
    process.terminate()
    assert process.wait(60) == 143
    assert "Traceback" not in process.stderr.read()
    assert hidden(folder) == []
    assert torch.load(folder / "last.pt", weights_only=True)["format"] == "nncompile-checkpoint/1"  # whole
