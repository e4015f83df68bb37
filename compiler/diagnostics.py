"""Diagnostics: located, compiler-style messages for every user error.

A Diagnostic names a source position (file, line, column; 1-based) and renders like a C
compiler's message, with the offending line and a caret under the token. SpecError carries
one or more diagnostics; the CLI prints them and exits 1. Code that finds an error never
formats locations itself: it raises or collects a Diagnostic with a Span.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple


class Span(NamedTuple):
    """A place in a spec file: 1-based line and column, and the token's width.
    (A NamedTuple: a 10,000-layer spec makes a hundred thousand of them.)"""

    file: str
    line: int
    col: int
    width: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def as_json(self) -> dict:
        return {"file": self.file, "line": self.line, "col": self.col}


@dataclass
class Diagnostic:
    message: str
    span: Span | None = None
    severity: str = "error"  # "error" | "warning"
    notes: list[str] = field(default_factory=list)
    code: str = ""  # a stable name from docs/errors.md, e.g. "unknown-op"

    def render(self, sources: "SourceCache | None" = None) -> str:
        where = f"{self.span}: " if self.span else ""
        tag = f" [{self.code}]" if self.code else ""
        lines = [f"{where}{self.severity}: {self.message}{tag}"]
        if self.span and sources is not None:
            text = sources.line(self.span.file, self.span.line)
            if text is not None:
                gutter = f"{self.span.line:>5} | "
                lines.append(gutter + text)
                width = max(1, min(self.span.width, len(text) - self.span.col + 1))
                lines.append(" " * (len(gutter) - 2) + "| " + " " * (self.span.col - 1) + "^" * width)
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def as_json(self) -> dict:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "source": self.span.as_json() if self.span else None,
            "notes": self.notes,
        }


class SpecError(Exception):
    """One or more user errors in a spec; never a bug in nncompile."""

    def __init__(self, diagnostics: Diagnostic | list[Diagnostic]):
        self.diagnostics = diagnostics if isinstance(diagnostics, list) else [diagnostics]
        super().__init__("\n".join(d.message for d in self.diagnostics))


class SourceCache:
    """The text of every file read, so diagnostics can quote their line."""

    def __init__(self):
        self._lines: dict[str, list[str]] = {}

    def add(self, file: str, text: str) -> None:
        self._lines[file] = text.splitlines()

    def files(self) -> list[str]:
        """The names of the files held, in the order they were read."""
        return list(self._lines)

    def line(self, file: str, line: int) -> str | None:
        lines = self._lines.get(file)
        if lines is None:
            try:
                lines = Path(file).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                return None
            self._lines[file] = lines
        return lines[line - 1] if 0 < line <= len(lines) else None


def did_you_mean(word: str, choices) -> str:
    """' (did you mean 'x'?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def fmt_int(value) -> str:
    """12345 -> '12,345'; symbols stay as they are."""
    return f"{value:,}" if isinstance(value, int) else str(value)
