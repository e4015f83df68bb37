"""The fuzz contract, checked for one spec text at a time.

Every outcome of compiling a spec must be a successful analysis or located diagnostics
(a SpecError, or graph.errors, each with file:line:col); never another exception, never a
hang, and through the CLI never a traceback and never an exit code other than 0 or 1.

Cases are written into a scratch copy of specs/ (so relative imports of specs/lib resolve
as they do for the real specs) and compiled in this process under a wall-clock limit.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import tempfile
from pathlib import Path

from nncompile.compiler import analyse
from nncompile.compiler.backends import report
from nncompile.compiler.cli import main as cli_main
from nncompile.compiler.diagnostics import SpecError, Span

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted(p for p in (ROOT / "specs").rglob("*.yaml"))
LONG = os.environ.get("NNCOMPILE_FUZZ") == "long"
CASE_SECONDS = 20  # far above any legitimate case (the slowest hits the 250,000-node bound)


class Hang(BaseException):
    """A case ran past CASE_SECONDS (a BaseException so no `except Exception` swallows it)."""


@contextlib.contextmanager
def time_limit(seconds: float):
    def expire(signum, frame):
        raise Hang(f"no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_scratch: Path | None = None


def scratch() -> Path:
    """A copy of specs/ shared by every case of the session (cases write one file each)."""
    global _scratch
    if _scratch is None:
        _scratch = Path(tempfile.mkdtemp(prefix="nncompile-fuzz-")) / "specs"
        shutil.copytree(ROOT / "specs", _scratch)
    return _scratch


def write_case(content: str | bytes, beside: Path | None = None) -> Path:
    """Write a case where `beside` (a spec of specs/) lives, so its imports resolve."""
    folder = scratch() / (beside.parent.relative_to(ROOT / "specs") if beside else Path())
    path = folder / "fuzz_case.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    return path


def assert_located(diagnostics, what: str) -> None:
    for d in diagnostics:
        assert isinstance(d.span, Span), f"{what}: a diagnostic without a location: {d.message!r}"
        assert d.span.line >= 1 and d.span.col >= 1, f"{what}: a bad location {d.span}: {d.message!r}"
        assert d.message and d.render(None)


def check_api(path: Path) -> str:
    """Compile path; returns 'ok' or 'errors' and fails the test on anything else."""
    with time_limit(CASE_SECONDS):
        try:
            graph = analyse(path)
        except SpecError as e:
            assert_located(e.diagnostics, "SpecError")
            for d in e.diagnostics:
                d.render(getattr(e, "sources", None))
            return "errors"
        assert_located(graph.errors, "graph.errors")
        for d in graph.errors + graph.warnings:
            d.render(graph.sources)
        if graph.errors:
            return "errors"
        # a spec that analyses must also report: the totals and every shape must print
        report.render_table(graph)
        report.report_json(graph)
        return "ok"


def check_cli(path: Path, *flags: str) -> int:
    """`nncompile build path` in this process: exit 0 or 1, no traceback, every error
    line on stderr located."""
    out, err = io.StringIO(), io.StringIO()
    with time_limit(CASE_SECONDS), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(["build", str(path), *flags])
    stderr = err.getvalue()
    assert code in (0, 1), f"exit code {code}\n{stderr}"
    assert "Traceback" not in stderr + out.getvalue()
    for line in stderr.splitlines():
        if ": error: " in line:
            where = line.split(": error: ")[0].rsplit(":", 2)
            assert len(where) == 3 and where[1].isdigit() and where[2].isdigit(), f"unlocated: {line}"
    if code == 1:
        assert " error" in stderr, stderr
    return code
