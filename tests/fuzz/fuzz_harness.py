"""The fuzz contract, checked for one spec text at a time.

Every outcome of compiling a spec must be a successful analysis or located diagnostics
(a SpecError, or graph.errors, each with file:line:col); never another exception, never a
hang, and through the CLI never a traceback and never an exit code other than 0 or 1.
Any other command (run_cli) exits 0, 1 or 2 with a bounded stderr and changes no file but
its own (its run folder, its output).

Cases are written into a scratch copy of specs/ (so relative imports of specs/lib resolve
as they do for the real specs) and compiled in this process under a wall-clock limit.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import shutil
import signal
import tempfile
from pathlib import Path

from suite import CLI_MODULE

from nncompile.compiler import analyse
from nncompile.compiler.backends import report
from nncompile.compiler.diagnostics import SpecError, Span

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted(p for p in (ROOT / "specs").rglob("*.yaml"))
LONG = os.environ.get("NNCOMPILE_FUZZ") == "long" or os.environ.get("NNCOMPILE_LONG") == "1"
CASE_SECONDS = 20  # far above any legitimate case (the slowest hits the 250,000-node bound)
MAX_STDERR = 30_000  # 50 diagnostics of a few lines each, and the count of the rest


def cli_main(argv: list[str]) -> int:
    return importlib.import_module(CLI_MODULE).main(argv)


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


def run_cli(argv: list[str], cwd: Path | None = None, seconds: float = CASE_SECONDS) -> tuple[int, str]:
    """`nncompile argv…` in this process (in cwd): (exit code, stderr), after checking the
    contract every command keeps: exit 0, 1 or 2, no traceback, a bounded stderr."""
    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    try:
        os.chdir(cwd or previous)
        with time_limit(seconds), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli_main([str(a) for a in argv])
            except SystemExit as e:  # argparse's usage errors
                code = e.code
    finally:
        os.chdir(previous)
    stderr = err.getvalue()
    assert code in (0, 1, 2), f"exit code {code}\n{stderr[-3000:]}"
    assert "Traceback" not in stderr + out.getvalue(), stderr[-3000:]
    assert len(stderr) < MAX_STDERR, f"{len(stderr):,} characters on stderr: {stderr[:2000]}"
    return code, stderr


def assert_errors_located(stderr: str) -> None:
    for line in stderr.splitlines():
        if ": error: " in line and not line.startswith("nncompile: error: "):
            where = line.split(": error: ")[0].rsplit(":", 2)
            assert len(where) == 3 and where[1].isdigit() and where[2].isdigit(), f"unlocated: {line}"


def check_cli(path: Path, *flags: str) -> int:
    """`nncompile build path` in this process: exit 0 or 1, no traceback, every error
    line on stderr located."""
    code, stderr = run_cli(["build", str(path), *flags])
    assert code in (0, 1), f"exit code {code}\n{stderr[-3000:]}"
    assert_errors_located(stderr)
    if code == 1:
        assert " error" in stderr, stderr
    return code


def snapshot(root: Path, *own: Path) -> dict[str, tuple]:
    """Every file and folder under root but those in `own` (what the command may write):
    path -> (size, mtime, mode) of a file, the mode of a folder (whose mtime changes when
    `own` is created in it), to show that nothing else changed."""
    own = [p.resolve() for p in own]
    found = {}
    for path in sorted(root.rglob("*")):
        if any(path.resolve() == o or o in path.resolve().parents for o in own):
            continue
        info = path.lstat()
        found[str(path.relative_to(root))] = info.st_mode if path.is_dir() else \
            (info.st_size, info.st_mtime_ns, info.st_mode)
    return found


def assert_no_temp_files(root: Path) -> None:
    stray = [str(p.relative_to(root)) for p in root.rglob("*") if p.name.endswith(".tmp")]
    assert not stray, f"temporary files left behind: {stray}"
