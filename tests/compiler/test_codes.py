"""Diagnostic codes are a closed set: compiler/codes.py catalogues exactly the codes that
compiler/, runtime/ and cli/ emit, and a Diagnostic refuses any other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from nncompile.compiler.codes import CODES
from nncompile.compiler.diagnostics import Diagnostic
from suite import ROOT

PACKAGES = ("compiler", "runtime", "cli")


def _positional_code_index(tree: ast.AST) -> dict[str, int]:
    """{function name: index of its positional `code` parameter (self not counted)} for the
    package's helpers that take a message and its code positionally (Problems.error, the YAML
    reader's fail): an autoencoder's `code` is no diagnostic's."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            names = [a.arg for a in node.args.posonlyargs + node.args.args if a.arg != "self"]
            if {"message", "code"} <= set(names):
                found[node.name] = names.index("code")
    return found


def _constant(node) -> str | None:
    """The code a literal names; "" where a helper passes its own `code` on or calls `_code_of`
    (the codes those take are found where they are written); None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    forwarded = isinstance(node, ast.Name) and node.id == "code"
    mapped = isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_code_of"
    return "" if forwarded or mapped else None


def _codes_in(tree: ast.Module, positional: dict[str, int]) -> set[str | None]:
    """Codes written in one module: `code="…"` arguments, assignments and defaults, a code
    passed positionally to a helper of `positional`, and the values and default of
    `_code_of`'s mapping (infer.py's shape error → code). None for a code written as anything but a literal there."""
    codes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "code":
            codes.add(_constant(node.value))
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "code" for t in node.targets):
            codes.add(_constant(node.value))
        elif isinstance(node, ast.arguments):
            named = [*node.posonlyargs, *node.args][-len(node.defaults):] if node.defaults else []
            codes |= {_constant(d) for a, d in [*zip(named, node.defaults), *zip(node.kwonlyargs, node.kw_defaults)]
                      if a.arg == "code" and d is not None}
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            at = positional.get(name)
            if at is not None and len(node.args) > at:
                codes.add(_constant(node.args[at]))
        elif isinstance(node, ast.FunctionDef) and node.name == "_code_of":  # its mapping's values and default
            keys = {id(k) for d in ast.walk(node) if isinstance(d, ast.Dict) for k in d.keys}
            codes |= {_constant(c) for c in ast.walk(node) if _constant(c) and id(c) not in keys} - {""}
    return codes


def codes_in_source() -> dict[str, set[str | None]]:
    """{package: the codes its modules emit}; a helper that takes a code positionally is
    looked up by name among its own package's functions."""
    out = {}
    for package in PACKAGES:
        trees = {p: ast.parse(p.read_text(encoding="utf-8")) for p in (ROOT / package).rglob("*.py")
                 if p.name != "codes.py"}
        positional = {k: v for tree in trees.values() for k, v in _positional_code_index(tree).items()}
        out[package] = set().union(*(_codes_in(tree, positional) for tree in trees.values()))
    return out


def test_the_scan_finds_codes_however_they_are_passed():
    found = codes_in_source()
    assert {"unknown-key", "cycle"} <= found["compiler"]  # code="…" keywords
    assert {"import-cycle", "yaml-tag", "no-layers"} <= found["compiler"]  # error(message, span, "…") and fail(…)
    assert {"no-file", "in-features", "missing-key"} <= found["compiler"]  # a default, _code_of, code = "…"
    assert {"bad-config", "data-shape", "non-finite"} <= found["runtime"]  # the config's default and keywords


def test_the_catalogue_is_exactly_the_codes_the_source_emits():
    found = codes_in_source()
    used = set().union(*found.values())
    assert None not in used, "a code is passed as something other than a string literal: write the literal"
    uncatalogued = used - {""} - set(CODES)
    assert not uncatalogued, f"add to compiler/codes.py, with its meaning and fix: {sorted(uncatalogued)}"
    unused = set(CODES) - used
    assert not unused, f"compiler/codes.py lists codes nothing emits: {sorted(unused)}"


def test_every_diagnostic_made_in_the_source_names_its_code():
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Diagnostic":
                    assert any(k.arg == "code" for k in node.keywords), \
                        f"{path.relative_to(ROOT)}:{node.lineno}: Diagnostic(…) without code="


def test_a_code_not_in_the_catalogue_is_refused_with_the_closest():
    with pytest.raises(ValueError, match="'shape-mismatch'"):
        Diagnostic("x", code="shape-missmatch")
    assert Diagnostic("x", code="shape-mismatch").render() == "error: x [shape-mismatch]"
    assert Diagnostic("x").render() == "error: x"  # a message without a code stays possible


def test_every_code_says_what_is_wrong_and_the_fix():
    for code, entry in CODES.items():
        assert code == code.lower() and " " not in code
        assert entry.meaning.endswith(".") and entry.fix.endswith(".") and len(entry.fix) > 10, code
        assert entry.reported_by in ("build", "export", "train"), code
