"""Diagnostics: located, compiler-style messages for every user error.

A Diagnostic names a source position (file, line, column; 1-based) and renders like a C
compiler's message, with the offending line and a caret under the token. SpecError carries
one or more diagnostics; the CLI prints them (render_all) and exits 1. Code that finds an
error never formats locations itself: it raises or collects a Diagnostic with a Span.

Output stays bounded whatever the input: a long line is cut around the caret, user text
quoted in a message is shortened, and only the first MAX_SHOWN diagnostics are printed.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .codes import checked

MAX_SHOWN = 50  # diagnostics printed; the rest are counted
MAX_LINE = 120  # a quoted source line longer than this is cut around the caret, as rustc does
CONTEXT = 40  # columns kept on each side of the caret in a cut line
MAX_CARET = 80
MAX_WORD = 100  # a longer run of non-blank characters in a message is user text: shortened
MAX_MESSAGE = 1000
_LONG_WORD = re.compile(r"\S{%d,}" % (MAX_WORD + 1))
_UNPRINTABLE = re.compile(r"[^\S \n]|[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


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


class Diagnostic:
    """One message: a plain class, not a dataclass (declared at every start, ten times the cost)."""

    def __init__(self, message: str, span: Span | None = None, severity: str = "error",
                 notes: list[str] | None = None, code: str = ""):
        self.code = checked(code)  # one of compiler/codes.py's, e.g. "unknown-op" (documented in docs/errors.md)
        self.message, self.span = bounded(message), span
        self.severity = severity  # "error" | "warning"
        self.notes = [bounded(note) for note in notes or ()]

    def _fields(self) -> tuple:
        return self.message, self.span, self.severity, self.notes, self.code

    def __eq__(self, other):
        return self._fields() == other._fields() if type(other) is Diagnostic else NotImplemented

    def __repr__(self) -> str:
        return (f"Diagnostic(message={self.message!r}, span={self.span!r}, severity={self.severity!r}, "
                f"notes={self.notes!r}, code={self.code!r})")

    def render(self, sources: "SourceCache | None" = None) -> str:
        where = f"{self.span}: " if self.span else ""
        tag = f" [{self.code}]" if self.code else ""
        lines = [f"{where}{self.severity}: {self.message}{tag}"]
        if self.span and sources is not None:
            text = sources.line(self.span.file, self.span.line)
            if text is not None:
                shown, caret, width = excerpt(text, self.span.col, self.span.width)
                gutter = f"{self.span.line:>5} | "
                lines.append(gutter + shown)
                lines.append(" " * (len(gutter) - 2) + "| " + " " * caret + "^" * width)
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


def excerpt(text: str, col: int, width: int) -> tuple[str, int, int]:
    """(the line as shown, the caret's 0-based column in it, the caret's width): the whole
    line, or for a long one the part around the caret between `...` marks."""
    width = max(1, min(width, len(text) - col + 1))
    start, end, cut = 0, len(text), len(text) > MAX_LINE
    if cut:
        width = min(width, MAX_CARET)
        start, end = max(0, col - 1 - CONTEXT), min(len(text), col - 1 + width + CONTEXT)
    # one column for each character, so the caret stays under the token
    shown = _UNPRINTABLE.sub("\ufffd", text[start:end].replace("\t", " "))
    caret = col - 1 - start
    if start:
        shown, caret = "..." + shown, caret + 3
    if end < len(text):
        shown += "..."
    return shown, caret, width


def bounded(text: str) -> str:
    """A message as printed: control characters escaped, each run of user text longer than
    MAX_WORD kept at its ends around `…`, and the whole cut in the middle past MAX_MESSAGE."""
    if len(text) > MAX_WORD:
        text = _LONG_WORD.sub(lambda m: f"{m[0][:60]}…{m[0][-30:]}", text)
    if len(text) > MAX_MESSAGE:
        text = f"{text[:700]} … {text[-250:]}"
    if text.isprintable():  # (every character _UNPRINTABLE names is unprintable: most messages, at once)
        return text
    return _UNPRINTABLE.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' if n != 1 else ''}"


def render_all(diagnostics: list[Diagnostic], sources: "SourceCache | None" = None, limit: int = MAX_SHOWN) -> str:
    """Diagnostics as the CLI prints them: the first `limit` (errors before warnings when
    some must go), a line counting those not shown, and the number of errors."""
    by_rank = sorted(range(len(diagnostics)), key=lambda i: diagnostics[i].severity != "error")
    shown = set(by_rank[:limit])
    lines = [d.render(sources) for i, d in enumerate(diagnostics) if i in shown]
    hidden = [d for i, d in enumerate(diagnostics) if i not in shown]
    hidden_errors = sum(d.severity == "error" for d in hidden)
    more = [_count(n, f"more {noun}") for n, noun in ((hidden_errors, "error"), (len(hidden) - hidden_errors, "warning"))
            if n]
    if more:
        lines.append("and " + " and ".join(more))
    errors = sum(d.severity == "error" for d in diagnostics)
    if errors:
        lines.append(_count(errors, "error"))
    return "\n".join(lines)


class SpecError(Exception):
    """One or more user errors in a spec; never a bug in nncompile."""

    def __init__(self, diagnostics: Diagnostic | list[Diagnostic]):
        self.diagnostics = diagnostics if isinstance(diagnostics, list) else [diagnostics]
        super().__init__("\n".join(d.message for d in self.diagnostics))


def did_you_mean(word: str, choices) -> str:
    """' (did you mean 'x'?)' for the closest choice, or ''."""
    import difflib  # (imported here: only a mistake needs it, and every command imports this module)

    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def fmt_int(value) -> str:
    """12345 -> '12,345'; symbols stay as they are."""
    return f"{value:,}" if isinstance(value, int) else str(value)
