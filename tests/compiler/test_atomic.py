"""Atomic writes: the whole file or the old one, the replaced file's mode (a new file's usual
one), temporary files that say whose they are, and stale ones of dead writers removed."""

import os
import stat
import subprocess
import sys
import threading

import pytest

from nncompile.compiler import atomic
from nncompile.compiler.atomic import atomic_path, remove_stale_temps, temp_name, write_text


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_a_new_file_has_the_umask_mode_learnt_without_os_umask(tmp_path, umask_027, monkeypatch):
    def no_umask(mask):
        raise AssertionError("os.umask changes the mask of every thread")

    monkeypatch.setattr(os, "umask", no_umask)
    write_text(tmp_path / "report.json", "{}")
    assert mode(tmp_path / "report.json") == 0o640


@pytest.mark.parametrize("kept", [0o600, 0o755, 0o444])
def test_an_overwritten_file_keeps_its_mode(tmp_path, kept):
    target = tmp_path / "model.onnx"
    target.write_text("old")
    os.chmod(target, kept)
    write_text(target, "new")
    assert target.read_text() == "new" and mode(target) == kept


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "v3.onnx").write_text("old")
    os.chmod(shared / "v3.onnx", 0o600)
    (tmp_path / "model.onnx").symlink_to(shared / "v3.onnx")
    write_text(tmp_path / "model.onnx", "new")
    assert (tmp_path / "model.onnx").is_symlink() and (shared / "v3.onnx").read_text() == "new"
    assert mode(shared / "v3.onnx") == 0o600
    assert sorted(os.listdir(shared)) == ["v3.onnx"] and sorted(os.listdir(tmp_path)) == ["model.onnx", "shared"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.name.startswith(".model.onnx.nncompile-") and tmp.suffix == ".tmp"
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["model.onnx"]


def test_no_directory_is_created(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        write_text(tmp_path / "missing" / "out.json", "{}")
    assert caught.value.filename == str(tmp_path / "missing" / "out.json")  # not our temporary name
    assert os.listdir(tmp_path) == []


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = tmp_path / f".model.onnx.{atomic.TEMP_MARK}-{dead_pid()}-0123abcd.tmp"
    live = tmp_path / f".model.onnx.{atomic.TEMP_MARK}-{os.getppid()}-0123abcd.tmp"  # pytest's parent runs
    recycled = tmp_path / temp_name("best.pt")  # this pid, but not a file this process is writing
    users = [tmp_path / ".model.onnx.tmp", tmp_path / f".notes.{atomic.TEMP_MARK}-1-xyz.tmp", tmp_path / "model.onnx"]
    for path in [dead, live, recycled, *users]:
        path.write_text("x")
    write_text(tmp_path / "model.onnx", "new")
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in [live, *users])


def test_a_concurrent_writers_temporary_survives(tmp_path):
    """Another thread of this process is mid-write: its temporary file is not stale."""
    writing, finish = threading.Event(), threading.Event()
    seen = []

    def slow_writer():
        with atomic_path(tmp_path / "a.json") as tmp:
            tmp.write_text("{}")
            seen.append(tmp)
            writing.set()
            finish.wait(10)

    thread = threading.Thread(target=slow_writer)
    thread.start()
    writing.wait(10)
    write_text(tmp_path / "b.json", "{}")
    assert seen[0].exists() and remove_stale_temps(tmp_path) == []
    finish.set()
    thread.join()
    assert sorted(os.listdir(tmp_path)) == ["a.json", "b.json"]


def test_an_onnx_model_and_its_external_data_are_replaced_together_or_not_at_all(tmp_path, monkeypatch, in_repo):
    from nncompile.compiler import to_onnx
    from nncompile.compiler.backends import onnx as backend

    path = tmp_path / "ccp.onnx"
    backend.save(to_onnx("specs/ccp.yaml"), path, external_threshold=100_000)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    os.chmod(tmp_path / "ccp.onnx.data", 0o600)

    def disk_full(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(path), "write_bytes", disk_full)  # the model's write fails after the data's
    with pytest.raises(OSError):
        backend.save(to_onnx("specs/ccp.yaml", seed=1), path, external_threshold=100_000)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # the old pair, and no temporaries
    monkeypatch.undo()
    backend.save(to_onnx("specs/ccp.yaml", seed=1), path, external_threshold=100_000)
    assert sorted(os.listdir(tmp_path)) == ["ccp.onnx", "ccp.onnx.data"] and mode(tmp_path / "ccp.onnx.data") == 0o600
    assert (tmp_path / "ccp.onnx.data").read_bytes() != before["ccp.onnx.data"]
