"""Rendering DOT text with Graphviz's `dot`: atomically, killed with us, its warnings passed on.

The DOT itself is written by diagram.py; only this needs the `dot` binary.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path

from ..atomic import atomic_path, write_text

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": None}
PNG_DPI = 144  # sharp on a projector, and the text stays readable when a slide scales it
INSTALL_HINT = ("install Graphviz: `apt-get install graphviz` (Debian, Ubuntu), `brew install graphviz` "
                "(macOS), or see https://graphviz.org/download/")


class DotNotFound(Exception):
    """Graphviz's `dot` is not installed: the DOT was written, the picture was not."""


class RenderError(Exception):
    """`dot` ran and failed."""


def write(dot: str, path: str | Path, warn=None) -> float | None:
    """Writes the DOT (a .dot path) or the picture (.svg, .png, .pdf) atomically; returns the
    seconds `dot` spent on layout and rendering (None for a .dot path). Without `dot`, writes
    the DOT beside `path` and raises DotNotFound. What `dot` says on stderr of a picture it
    drew goes to `warn` (default: stderr, as `warning: dot: …`)."""
    path = Path(path)
    fmt = FORMATS[path.suffix.lower()]
    if fmt is None:
        write_text(path, dot)
        return None
    executable = shutil.which("dot")
    if executable is None:
        source = path.with_suffix(".dot")
        if source.exists():  # a file of that name may be the user's: never replaced unasked
            raise DotNotFound(f"Graphviz's `dot` is not on PATH, so {path} was not drawn (and the DOT not "
                              f"written: {source} exists); {INSTALL_HINT}")
        write_text(source, dot)
        raise DotNotFound(f"Graphviz's `dot` is not on PATH, so {path} was not drawn; wrote {source}. To "
                          f"render it, {INSTALL_HINT}, then run `dot -T{fmt} {source} -o {path}`")
    command = [executable, f"-T{fmt}"] + ([f"-Gdpi={PNG_DPI}"] if fmt == "png" else [])
    with atomic_path(path) as tmp:
        start = time.perf_counter()
        _run_dot(command + ["-o", str(tmp)], dot, warn)  # dot writes our temporary file, never `path`
        return time.perf_counter() - start


def svg(dot: str, warn=None) -> str | None:
    """The DOT rendered as SVG text (for a notebook), or None when `dot` is not installed."""
    executable = shutil.which("dot")
    return None if executable is None else _run_dot([executable, "-Tsvg"], dot, warn).decode()


def _run_dot(command: list[str], dot: str, warn) -> bytes:
    """dot's stdout; its stderr passed to `warn` (default: stderr, as `warning: dot: …`), or in
    RenderError when it fails. run() kills dot if we are interrupted."""
    import subprocess  # (here: the CLI reads FORMATS from this module for every command)

    for attempt in _layouts(dot):
        done = subprocess.run(command, input=attempt.encode(), capture_output=True, preexec_fn=_die_with_parent())
        said = done.stderr.decode(errors="replace").strip()
        if RANKING_BUG not in said:
            break
    if done.returncode != 0:
        raise RenderError(f"dot failed (exit {done.returncode}): {said}")
    for line in _dot_warnings(said):
        (warn or _print_warning)(line)
    return done.stdout


RANKING_BUG = "trouble in init_rank"  # dot 2.43's, on some graphs of deeply nested clusters (the detectors')


def _layouts(dot: str):
    """The DOT, then, where dot's ranking fails on it, looser forms: without the titles'
    same-rank constraints (the titles float in their clusters), without newrank, without both."""
    floating = re.sub(r"\n *\{rank=same; [^\n]*\[style=invis\]\}", "", dot)
    for attempt in (dot, floating, dot.replace("newrank=true, ", "", 1), floating.replace("newrank=true, ", "", 1)):
        yield attempt


BITMAP_LIMIT = 32_767  # pixels a side of cairo's bitmaps: dot shrinks a larger picture to fit


def _dot_warnings(said: str) -> list[str]:
    """dot's stderr as warnings, with what to do about a bitmap shrunk to fit cairo's limit."""
    lines = [line.removeprefix("Warning: ").removeprefix("dot: ") for line in said.splitlines() if line.strip()]
    if any("too large for cairo-renderer bitmaps" in line for line in lines):
        lines.append(f"a PNG is at most {BITMAP_LIMIT:,} pixels a side, so this one was shrunk and its text may "
                     "be unreadable: draw .svg or .pdf (vector, any size), or fewer boxes with --depth 1 or --collapse")
    return lines


def _print_warning(line: str) -> None:
    print(f"warning: dot: {line}", file=sys.stderr)


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent():
    """A preexec_fn that makes the child get SIGKILL when this process dies, even by a
    SIGKILL of its own, so no orphan `dot` finishes a drawing nobody waits for (Linux's
    PR_SET_PDEATHSIG; None elsewhere)."""
    import ctypes
    import signal

    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec
