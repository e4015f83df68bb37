"""Where a run writes: one folder name under run.dir, a new folder for a rerun, --exist-ok to
reuse one (replacing only the run's own files), and nothing a user owns ever deleted."""

import argparse
import hashlib
from pathlib import Path

import pytest

XOR = "data: {dataset: xor, size: 16, batch_size: 4}\ntrain: {epochs: 1, loss: bce}\n"


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under folder, by relative path, with a digest of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def config(tmp_path):
    """config(text, name="t") -> a config file whose runs go to tmp_path/runs (with `runs_in_cwd`:
    to runs/ in the working directory, the default)."""

    def write(text: str = XOR, name: str | None = "t", runs_in_cwd: bool = False) -> Path:
        path = tmp_path / "train.yaml"
        run = ["threads: 1"] + [f"dir: {tmp_path / 'runs'}"] * (not runs_in_cwd)
        run += [f"name: {name}"] * (name is not None)
        path.write_text(f"run: {{{', '.join(run)}}}\n" + text)
        return path

    return write


@pytest.fixture
def user_files(tmp_path):
    """A folder of a user's files, and a check that they are all still there, unchanged."""
    folder = tmp_path / "mine"
    (folder / "deep").mkdir(parents=True)
    (folder / "notes.txt").write_text("keep me\n")
    (folder / "deep/last.pt").write_bytes(b"not a checkpoint")
    before = snapshot(folder)
    return folder, lambda: snapshot(folder) == before


def test_a_path_as_run_name_is_refused_and_touches_nothing(run_nncompile, config, user_files, in_repo):
    folder, untouched = user_files
    result = run_nncompile("train", "specs/xor.yaml", "--config", config(name=None), "--no-progress",
                           "--set", f"run.name={folder}")
    assert result.code == 1, result.err
    assert "Traceback" not in result.err
    assert "<command line>:1:16: error: run.name: a run name is one folder name: not empty, not '.' or '..', " \
           "without '/', '\\', NUL or other control characters, got '/" in result.err
    assert untouched()


def test_dot_dot_as_run_name_leaves_the_working_directory_alone(run_nncompile, config, user_files, in_repo):
    folder, untouched = user_files  # runs/.. is the working directory
    result = run_nncompile("train", in_repo / "specs/xor.yaml", "--config", config(name=None, runs_in_cwd=True),
                           "--set", "run.name=..", cwd=folder)
    assert result.code == 1 and "Traceback" not in result.err
    assert "run.name: a run name is one folder name" in result.err and "got '..'" in result.err
    assert untouched()


@pytest.mark.parametrize("name, written", [
    (".", "'.'"), ("a/b", "a/b"), ("a\\\\b", '"a\\\\b"'), ("", "''"), ("nul", '"a\\0b"'), ("tab", '"a\\tb"'),
    ("long", "x" * 256),
])
def test_every_run_name_that_is_not_one_folder_name_is_located(cli, config, in_repo, name, written, tmp_path):
    path = config(name=written)  # in the file, so NUL and backslashes reach the check as written
    result = cli("train", "specs/xor.yaml", "--config", path)
    assert result.code == 1
    assert f"{path}:1:" in result.err and "error: run.name: a run name is one folder name" in result.err
    assert not (tmp_path / "runs").exists()


def test_a_rerun_gets_the_next_free_folder_and_says_so(cli, run_nncompile, config, in_repo, tmp_path):
    path, runs = config(), tmp_path / "runs"
    assert cli("train", "specs/xor.yaml", "--config", path, "--no-progress").code == 0
    first = snapshot(runs / "t")
    (runs / "t-2").mkdir()  # taken: by a user, or another run
    (runs / "t-2/mine.txt").write_text("mine")
    result = run_nncompile("train", "specs/xor.yaml", "--config", path, "--no-progress")
    assert result.code == 0 and "Traceback" not in result.err, result.err
    assert result.out.splitlines()[0] == f"run folder {runs}/t-3 ({runs}/t exists; --exist-ok reuses it)"
    assert snapshot(runs / "t") == first and snapshot(runs / "t-2") == {"mine.txt": snapshot(runs / "t-2")["mine.txt"]}
    assert {"last.pt", "best.pt", "metrics.csv", "config.yaml"} <= set(snapshot(runs / "t-3"))

    resumed = cli("train", "specs/xor.yaml", "--config", path, "--no-progress", "--resume")
    assert resumed.code == 0 and resumed.out.startswith(f"run folder {runs}/t, resuming")
    assert sorted(p.name for p in runs.iterdir()) == ["t", "t-2", "t-3"]


def test_exist_ok_replaces_the_runs_files_and_nothing_else(cli, config, in_repo, tmp_path):
    path, folder = config(), tmp_path / "runs/t"
    assert cli("train", "specs/xor.yaml", "--config", path, "--no-progress").code == 0
    (folder / "notes.txt").write_text("mine")
    (folder / "spec/extra.yaml").write_text("mine too")
    before = snapshot(folder)
    result = cli("train", "specs/xor.yaml", "--config", path, "--no-progress", "--exist-ok", "--set", "train.epochs=2")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == f"run folder {folder}"
    after = snapshot(folder)
    assert set(after) == set(before)
    assert {k for k in after if after[k] != before[k]} == {"config.yaml", "metrics.csv", "metrics.png", "last.pt",
                                                           "best.pt"}


def test_exist_ok_reaches_every_torchrun_worker():
    from nncompile.runtime import launch

    args = argparse.ArgumentParser()
    launch.add_arguments(args)
    args.add_argument("spec")
    args.add_argument("--set", action="append")
    args.add_argument("--allow-path", action="append")
    parsed = args.parse_args(["s.yaml", "--config", "c.yaml", "--exist-ok", "--nproc", "2"])
    assert launch._train_argv(parsed) == ["s.yaml", "--config", "c.yaml", "--exist-ok"]


def test_a_run_folder_that_cannot_be_made_is_a_usage_error(cli, config, in_repo, tmp_path):
    (tmp_path / "runs").write_text("a file where the runs would go")
    result = cli("train", "specs/xor.yaml", "--config", config())
    assert result.code == 2 and f"cannot make the run folder {tmp_path}/runs/t" in result.err


def test_a_reused_folders_older_best_pt_is_not_this_runs(cli, config, in_repo, tmp_path):
    """A run that writes no best.pt (reconstruct stages only) scores the test split with its own
    weights, not with a best.pt an earlier run (here: of another spec) left in the folder."""
    data = "data: {dataset: digits, batch_size: 512, test_split: 0.2}\ntrain: {epochs: 1}\n"
    assert cli("train", "specs/digits_cnn.yaml", "--config", config(data), "--set", "num_classes=12").code == 0
    path = config(data + "stages: [{train: [layer1], objective: {reconstruct: layer1}}]\n")
    result = cli("train", "specs/digits_cnn.yaml", "--config", path, "--no-progress", "--exist-ok")
    assert result.code == 0, result.err
    assert "test  loss" in result.out
