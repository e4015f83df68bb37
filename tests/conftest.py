"""Fixtures shared by the whole suite: the repository root, specs written on the fly, and
the CLI run in-process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from suite import CLI_MODULE, ROOT


@pytest.fixture
def in_repo(monkeypatch) -> Path:
    """Run from the repository root, so paths in diagnostics read `specs/ccp.yaml`."""
    monkeypatch.chdir(ROOT)
    return ROOT


@pytest.fixture
def write_spec(tmp_path):
    """write_spec(yaml_text, name="spec.yaml") -> the path of a dedented spec in tmp_path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """cli("build", "spec.yaml", ...) -> CliResult: `nncompile` run in this process."""
    from nncompile.cli import main

    def run(*args) -> CliResult:
        capsys.readouterr()  # drop anything printed before
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse's own usage errors
            code = e.code
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def run_nncompile():
    """run_nncompile("train", "spec.yaml", ..., cwd=…, env={…}, timeout=…) -> CliResult: `nncompile` in a
    subprocess, for what in-process runs cannot show (exit by signal, tracebacks, files left behind)."""

    def run(*args, cwd=None, env=None, timeout=300, stdin=subprocess.DEVNULL) -> CliResult:
        done = subprocess.run([sys.executable, "-m", CLI_MODULE, *map(str, args)], cwd=cwd, stdin=stdin,
                              env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout)
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run
