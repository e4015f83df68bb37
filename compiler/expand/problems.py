"""The diagnostics every stage of expansion adds to: collected, so one run reports every
independent mistake."""

from __future__ import annotations

from ..diagnostics import Diagnostic, Span


class Problems(list):
    """The errors found so far, in the order found (a list of Diagnostic), each once: the copies
    of a `repeat:` call bind the same arguments, and one mistake is one diagnostic."""

    def __init__(self):
        super().__init__()
        self._seen: set[tuple] = set()
        self._asked: set[tuple] = set()  # error()'s arguments so far

    def append(self, diagnostic: Diagnostic) -> None:
        key = (diagnostic.message, diagnostic.span, diagnostic.code, tuple(diagnostic.notes))
        if key not in self._seen:
            self._seen.add(key)
            super().append(diagnostic)

    def extend(self, diagnostics) -> None:
        for diagnostic in diagnostics:
            self.append(diagnostic)

    def __iadd__(self, diagnostics):
        self.extend(diagnostics)
        return self

    def error(self, message: str, span: Span | None, code: str, notes: list[str] | None = None) -> None:
        """A diagnostic, built only the first time these arguments come (a layer aliased
        200,000 times is one mistake: one Diagnostic, not 200,000 built and dropped)."""
        asked = (message, span, code, tuple(notes or ()))
        if asked not in self._asked:
            self._asked.add(asked)
            self.append(Diagnostic(message, span, notes=notes or [], code=code))


def listing(names: list[str], shown: int = 20) -> str:
    """Names for a note, the first `shown` of them: a note fits on a screen."""
    return (", ".join(names[:shown]) + (" …" if len(names) > shown else "")) if names else "none"
