"""Loading YAML safely, with the position of every key and value."""

import time

import pytest

from nncompile.compiler.diagnostics import SpecError
from nncompile.compiler.source import YList, YMap, load_text, span_at, span_of


def codes(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_text(text, "spec.yaml")
    return [d.code for d in caught.value.diagnostics]


def test_spans_point_at_keys_and_values():
    data = load_text("name: net\nlayers:\n  - conv: {op: conv2d, kernel: 3}\n", "spec.yaml")
    assert isinstance(data, YMap) and isinstance(data["layers"], YList)
    assert str(span_of(data, "layers", of_key=True)) == "spec.yaml:2:1"
    layer = data["layers"][0]
    assert str(span_of(layer, "conv", of_key=True)) == "spec.yaml:3:5"
    kernel = span_of(layer["conv"], "kernel")
    assert (kernel.line, kernel.col, kernel.width) == (3, 32, 1)  # the 3 of `kernel: 3`
    assert str(span_at(data, ("layers", 0, "conv", "op"))) == "spec.yaml:3:16"
    assert str(span_at(data, ("layers", 0, "conv", "missing"))) == str(span_of(layer, "conv"))


def test_plain_data_only():
    data = load_text("a: 1\nb: 2.5\nc: true\nd: ~\ne: [x, 'y']\nf: 2024-01-01\n", "s.yaml")
    assert data == {"a": 1, "b": 2.5, "c": True, "d": None, "e": ["x", "y"], "f": "2024-01-01"}


@pytest.mark.parametrize("text", [
    "x: !!python/object:os.system {}",
    "x: !!python/object/apply:os.system ['ls']",
    "x: !!python/name:os.system",
    "x: !custom 3",
    "x: !!binary aGVsbG8=",
    "x: !!set {a, b}",
])
def test_tags_are_refused(text):
    assert codes(text) == ["yaml-tag"]


def test_duplicate_key_names_the_first():
    with pytest.raises(SpecError) as caught:
        load_text("layers: []\nname: a\nname: b\n", "s.yaml")
    d = caught.value.diagnostics[0]
    assert d.code == "duplicate-key" and (d.span.line, d.span.col) == (3, 1)
    assert d.notes == ["first given at s.yaml:2:1"]


def test_alias_bomb_is_refused_quickly():
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    started = time.perf_counter()
    assert codes("\n".join(levels)) == ["yaml-too-large"]
    assert time.perf_counter() - started < 5


def test_recursive_alias_is_refused():
    assert codes("a: &a [1, *a]") == ["yaml-recursive-alias"]


def test_small_aliases_are_fine():
    data = load_text("base: &b {kernel: 3, padding: 1}\nconv: {<<: *b, kernel: 5}\n", "s.yaml")
    assert data["conv"] == {"kernel": 5, "padding": 1}


def test_deep_nesting_is_a_diagnostic_not_a_crash():
    assert codes("x: " + "[" * 50_000 + "]" * 50_000) == ["yaml-too-large"]


@pytest.mark.parametrize("text, code", [
    ("a: [1, 2\nb: 3\n", "yaml-syntax"),
    ("a: .nan\n", "bad-number"),
    ("~: 1\n", "yaml-key"),
    ("[a, b]: 1\n", "yaml-key"),
])
def test_other_refusals(text, code):
    assert codes(text) == [code]


def test_syntax_error_says_where_the_construct_began():
    with pytest.raises(SpecError) as caught:
        load_text("a: [1, 2\nb: 3\n", "s.yaml")
    d = caught.value.diagnostics[0]
    assert (d.span.line, d.notes) == (2, ["while parsing a flow sequence at s.yaml:1:4"])


def test_empty_document_is_an_empty_mapping():
    assert load_text("", "s.yaml") == {} and load_text("# only a comment\n", "s.yaml") == {}
