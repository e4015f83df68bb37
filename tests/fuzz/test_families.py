"""Issue 12's hostile inputs, fuzzed family by family through the CLI (in this process):
every command exits 0, 1 or 2, with no traceback and a bounded stderr, and changes no file
but its own (its run folder, its -o output), leaving no temporary file behind.

A few dozen cases a family by default (train cases: a handful, each may train one tiny
epoch); NNCOMPILE_LONG=1 runs twenty times as many, randomly.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings

from fuzz_families import (ARRAYS, MODEL, VICTIM, block_chain, block_chains, config_overrides, expression_spec,
                           expressions, import_chain, import_chains, predict_cases, run_names)
from fuzz_harness import LONG, ROOT, assert_errors_located, assert_no_temp_files, check_cli, run_cli, snapshot, \
    write_case

TRAIN_CONFIG = """run: {name: fuzz, seed: 0, threads: 1}
data: {dataset: xor, size: 16, batch_size: 4}
train: {epochs: 1, loss: bce, optimizer: adam, lr: 0.05, metrics: [accuracy]}
"""


def cases(n: int):
    """Hypothesis settings for a family of n cases (twenty times as many, random, when long)."""
    return settings(max_examples=n * 20 if LONG else n, derandomize=not LONG, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


class Sandbox:
    """A scratch folder: work/ (the working directory, with the spec and config) beside
    victim/ (files no command may touch)."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="nncompile-fuzz-"))
        self.work, self.victim = self.root / "work", self.root / "victim"
        (self.victim / "sub").mkdir(parents=True)
        self.work.mkdir()
        for path in (self.victim / "keep.txt", self.victim / "sub" / "keep.txt", self.work / "notes.txt"):
            path.write_text("the user's own file\n")

    def run(self, argv: list[str], *own: Path) -> tuple[int, str]:
        """The command's (code, stderr), after checking nothing but `own` changed."""
        before = snapshot(self.root, *own)
        code, stderr = run_cli(argv, cwd=self.work)
        assert snapshot(self.root, *own) == before, f"files outside {[str(o) for o in own]} changed\n{stderr[-2000:]}"
        assert_no_temp_files(self.root)
        return code, stderr

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.root, ignore_errors=True)


def train(sandbox: Sandbox, sets: list[str]) -> tuple[int, str]:
    shutil.copy(ROOT / "specs" / "xor.yaml", sandbox.work / "xor.yaml")
    (sandbox.work / "cfg.yaml").write_text(TRAIN_CONFIG)
    argv = ["train", "xor.yaml", "--config", "cfg.yaml", "--no-progress"]
    return sandbox.run(argv + [a for s in sets for a in ("--set", s)], sandbox.work / "runs")


@cases(6)
@given(run_names)
def test_run_names(name):
    with Sandbox() as sandbox:
        code, stderr = train(sandbox, [f"run.name={name.replace(VICTIM, str(sandbox.victim))}"])
        assert_errors_located(stderr)
        if code == 0:  # a name that was accepted is one folder of runs/
            assert [p.parent for p in (sandbox.work / "runs").iterdir()] == [sandbox.work / "runs"]


@cases(8)
@given(config_overrides)
def test_config_values(overrides):
    with Sandbox() as sandbox:
        _, stderr = train(sandbox, [f"{key}={value}" for key, value in overrides])
        assert_errors_located(stderr)


_model: bytes | None = None


def real_model() -> bytes:
    """specs/xor.yaml as ONNX, exported once a session."""
    global _model
    if _model is None:
        with Sandbox() as sandbox:
            code, stderr = sandbox.run(["export", ROOT / "specs" / "xor.yaml", "-o", "m.onnx"], sandbox.work / "m.onnx")
            assert code == 0, stderr
            _model = (sandbox.work / "m.onnx").read_bytes()
    return _model


def write_model(folder: Path, kind: str) -> Path:
    path = folder / "model.onnx"
    good = real_model()
    contents = {MODEL: good, "zero-bytes": b"", "garbage": bytes(range(256)) * 4, "text": b"an onnx model\n",
                "truncated": good[:len(good) // 2],
                "flipped": good[:40] + bytes(b ^ 0xFF for b in good[40:80]) + good[80:]}
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":  # a read would wait for a writer forever
        os.mkfifo(path)
    elif kind in contents:
        path.write_bytes(contents[kind])
    return path


@cases(40)
@given(predict_cases)
@example({"model": MODEL, "inputs": [("huge-int", ".npy")], "output": None, "flags": []})
def test_predict_inputs(case):
    with Sandbox() as sandbox:
        model = write_model(sandbox.work, case["model"])
        inputs = []
        for i, (kind, suffix) in enumerate(case["inputs"]):
            inputs.append(sandbox.work / f"in{i}{suffix}")
            inputs[-1].write_bytes(ARRAYS[kind])
        argv = ["predict", model, "--input", *inputs, *case["flags"]]
        own = []
        if case["output"] == "folder":
            (sandbox.work / "out.npy").mkdir()
            argv += ["-o", "out.npy"]
        elif case["output"]:
            own.append(sandbox.work / case["output"])
            argv += ["-o", case["output"]]
        sandbox.run(argv, *own)


@cases(80)
@given(expressions)
def test_deep_expressions(expression):
    code = check_cli(write_case(expression_spec(expression)))
    assert code == 1 or len(expression) <= 500, "an expression over the 500-character limit was accepted"


@cases(6)
@given(import_chains)
def test_import_chains(chain):
    with Sandbox() as sandbox:
        for name, text in import_chain(chain["length"], chain["end"]).items():
            (sandbox.work / name).write_text(text)
        code, stderr = sandbox.run(["check", "main.yaml"])
        assert code in (0, 1)
        assert_errors_located(stderr)
        if chain["end"] in ("cycle", "self"):
            assert "[import-cycle]" in stderr, stderr[-2000:]
        elif chain["end"] == "missing":
            assert "[import-missing]" in stderr, stderr[-2000:]
        else:
            assert "[import-cycle]" not in stderr and "[import-missing]" not in stderr, stderr[-2000:]


@cases(30)
@given(block_chains)
def test_deep_block_nesting(chain):
    code, stderr = run_cli(["check", write_case(block_chain(chain["depth"], chain["cycle_to"]))])
    assert code in (0, 1)
    assert_errors_located(stderr)
    if chain["cycle_to"] is None:
        assert "calls itself" not in stderr, stderr[-2000:]
    elif chain["depth"] <= 50:
        assert code == 1 and "[block-recursion]" in stderr, stderr[-2000:]
