"""Problems (compiler/expand/problems.py): each mistake once, in the order found, whether it
comes through error() (built only the first time) or as a Diagnostic."""

from __future__ import annotations

from nncompile.compiler.diagnostics import Diagnostic, Span
from nncompile.compiler.expand.problems import Problems


def test_a_repeated_error_is_built_once_and_kept_once(monkeypatch):
    built = []
    real = Diagnostic.__init__
    monkeypatch.setattr(Diagnostic, "__init__", lambda self, *a, **k: built.append(self) or real(self, *a, **k))
    problems, at = Problems(), Span("a.yaml", 3, 9)
    for _ in range(1000):
        problems.error("duplicate layer name 'a'", at, "duplicate-name", ["first defined at a.yaml:3:9"])
    problems.error("duplicate layer name 'a'", at, "duplicate-name", ["another note"])
    problems.error("duplicate layer name 'a'", at, "duplicate-name", ["first defined at a.yaml:3:9"])
    assert len(built) == 2 and [d.notes for d in problems] == [["first defined at a.yaml:3:9"], ["another note"]]


def test_errors_that_bound_to_one_text_are_one_diagnostic():
    """Two messages cut to the same text (a long word's middle differs) are one diagnostic,
    as they were before error() skipped the arguments it had seen."""
    problems, x = Problems(), "x" * 100
    problems.error(f"name {x}a{x}", None, "bad-name")
    problems.error(f"name {x}b{x}", None, "bad-name")
    problems.append(Diagnostic(f"name {x}c{x}", None, code="bad-name"))
    assert len(problems) == 1
