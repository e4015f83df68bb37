"""ONNX lowering beyond one op: a shared parameter is one initializer, and an op ONNX cannot
express is a diagnostic at its layer. Each op's own cases — the corners where ONNX and
PyTorch conventions part: asymmetric 'same' padding, ceil mode, count_include_pad, adaptive
windows of unequal sizes, resizing grids, … — are in tests/compiler/ops/test_<family>.py,
checked against onnxruntime and torch by the op harness (tests/compiler/ops/harness.py)."""

from __future__ import annotations

import pytest

from nncompile.compiler import SpecError, build, to_onnx
from nncompile.compiler.verify import verify


def test_shared_parameters_are_one_initializer(write_spec):
    graph = build(write_spec("""
        name: shared
        inputs: {x: [N, 4]}
        layers:
          - a: {op: linear, out_features: 4}
          - b: {op: linear, out_features: 4, share: a}
        outputs: [b]
    """))
    model = to_onnx(graph)
    assert sorted(t.name for t in model.graph.initializer) == ["a.bias", "a.weight"]
    assert [list(n.input) for n in model.graph.node] == [["x", "a.weight", "a.bias"], ["a", "a.weight", "a.bias"]]
    assert all(c.ok for c in verify(graph))


def test_an_op_onnx_cannot_express_points_at_the_layer(write_spec):
    # onnxruntime's LRN takes odd sizes only
    graph = build(write_spec("""
        name: even_lrn
        inputs: {x: [N, 3, 9, 11]}
        layers:
          - norm: {op: local_response_norm, size: 4}
    """))
    with pytest.raises(SpecError) as caught:
        to_onnx(graph)
    [d] = caught.value.diagnostics
    assert d.code == "no-onnx" and "layer 'norm' (local_response_norm)" in d.message and "odd" in d.message
    assert (d.span.line, d.span.col) == (4, 5) and any("--via torch" in n for n in d.notes)
