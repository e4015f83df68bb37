"""The smallest form of every case the fuzzer found: each gave a traceback, a crash, a hang
or an unlocated diagnostic before its fix."""

from __future__ import annotations

import pytest

from nncompile.compiler import analyse
from nncompile.compiler.diagnostics import SpecError
from nncompile.compiler.ir import GLOBAL


def diagnostics(path):
    """Every error diagnostic of compiling path (raised or in graph.errors)."""
    try:
        return analyse(path).errors
    except SpecError as e:
        return e.diagnostics


def only_error(path, code: str):
    found = diagnostics(path)
    assert [d.code for d in found] == [code], [d.render() for d in found]
    assert found[0].span is not None and found[0].span.line >= 1
    return found[0]


def test_an_empty_document_is_a_spec_without_layers(write_spec):
    for text in ("", "# only a comment\n"):
        d = only_error(write_spec(text), "no-layers")
        assert (d.span.line, d.span.col) == (1, 1)


def test_a_merge_key_with_a_scalar_is_a_diagnostic(write_spec):
    d = only_error(write_spec("""
        inputs: {x: [N, 3]}
        layers:
          - a: {<<: 5}
        """), "yaml-merge")
    assert (d.span.line, d.span.col) == (3, 13)


def test_merge_keys_follow_yaml_precedence(write_spec):
    """The mapping's own keys win over merged ones, and an earlier merged mapping over a
    later one (PyYAML's rule); overriding is not a duplicate key."""
    path = write_spec("""
        inputs: {x: [N, 3]}
        layers:
          - a: &a {op: linear, out_features: 4, bias: false}
          - b: {<<: [*a, {out_features: 64, bias: true, in: x}], out_features: 8}
        """)
    graph = analyse(path)
    assert not graph.errors, [d.render() for d in graph.errors]
    assert graph.nodes["b"].params == {"weight": (8, 3)}  # out_features 8 (own), bias false (first merge)


def test_an_integer_too_long_to_convert_is_a_diagnostic(write_spec):
    d = only_error(write_spec("inputs: {x: [N, 3]}\nlayers:\n  - a: {op: linear, out_features: " + "9" * 5000 + "}\n"),
                   "bad-number")
    assert (d.span.line, d.span.col) == (3, 35)


def test_a_cycle_through_a_failed_block_call_is_located(write_spec):
    path = write_spec("""
        blocks:
          b:
            layers: [{r: relu}]
        inputs: {x: [N, 3]}
        layers:
          - c: {block: b, in: [c, x]}
        """)
    found = diagnostics(path)
    assert [d.code for d in found] == ["block-inputs", "cycle"]
    assert all(d.span is not None and d.span.line == 6 for d in found)


def test_a_non_boolean_when_gives_one_error(write_spec):
    """Its layer stood for nothing, so each reader of it got an unlocated 'is not a layer'."""
    only_error(write_spec("""
        params: {on: 1}
        inputs: {x: [N, 3]}
        layers:
          - a: {op: relu, when: $on}
          - b: relu
        """), "bad-attribute")


@pytest.mark.parametrize("expression, message", [
    ("${(-8) ** 0.5}", "not a real number"),
    ("${big * big}", "number too large (about 2^"),  # too long to print: str() would raise
])
def test_expression_results_stay_real_and_printable(write_spec, expression, message):
    d = only_error(write_spec(f"""
        params: {{big: {"9" * 4000}}}
        inputs: {{x: [N, 3]}}
        layers:
          - a: {{op: linear, out_features: '{expression}'}}
        """), "bad-expression")
    assert message in d.message


@pytest.mark.parametrize("layers", [
    # sizes too long to print made the JSON report raise
    "[{a: {op: linear, out_features: 99999999999999999999999}}]",
    # int(H · inf) raised OverflowError
    "[{r: {op: reshape, shape: [3, 1, 1]}}, {u: {op: upsample, scale_factor: .inf}}]",
    # a finite factor can still make a size no tensor has
    "[{r: {op: reshape, shape: [3, 1, 1]}}, {u: {op: upsample, scale_factor: 1.0e+12}}, {v: {op: upsample, scale_factor: 1.0e+12}}]",
])
def test_sizes_are_bounded(write_spec, layers):
    found = diagnostics(write_spec(f"inputs: {{x: [N, 3]}}\nlayers: {layers}\n"))
    assert found and all(d.span is not None for d in found), [d.render() for d in found]


def test_a_receptive_field_beyond_any_input_is_global(write_spec):
    """A 1×1 input keeps its size through stride-2 layers while the jump doubles each
    time: after 1,100 of them the float conversion of the jump overflowed."""
    graph = analyse(write_spec("""
        inputs: {x: [N, 3, 1, 1]}
        layers:
          - c: {op: conv2d, out_channels: 3, kernel: 1, stride: 2, repeat: 1100}
        """))
    assert not graph.errors
    assert graph.nodes["c.1099"].receptive_field is GLOBAL


@pytest.mark.parametrize("target", ["a" * 300 + ".yaml", "lib\\0.yaml"])
def test_an_import_path_the_file_system_refuses_is_a_diagnostic(write_spec, target):
    """A 300-character name raised OSError (ENAMETOOLONG) from Path.is_file."""
    d = only_error(write_spec(f'import: {{lib: "{target}"}}\ninputs: {{x: [N, 3]}}\nlayers: [{{a: relu}}]\n'),
                   "import-missing")
    assert "not a usable path" in d.message
