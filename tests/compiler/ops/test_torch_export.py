"""The ops `export --via torch` refuses before tracing (backends/onnx.py's UNTRACEABLE), each
shown untraceable on its own harness cases: with the refusal lifted, torch.onnx.export of the
lowered module fails, or the model it writes fails in onnxruntime or disagrees with the module
itself on other boxes at other batches. The other ops that take boxes are the control: their
traces agree with the module on the same draws, so the check tells the two kinds apart. So do
convolutions padded 'same' (torch's own 'same' exports as auto_pad, which onnxruntime refuses
with a dilation: the lowering pads in numbers)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

import harness
from nncompile.compiler import to_torch
from nncompile.compiler.backends import onnx as onnx_backend
from nncompile.compiler.backends.onnx import UNTRACEABLE, TorchExportError, to_onnx_via_torch

TRACEABLE_BOX_OPS = ("roi_pool", "anchors", "decode_boxes")  # the control
pytestmark = pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # what tracing these says, expectedly


def _first_case(op: str) -> harness.Case:
    return next(case for case in harness.all_cases() if case.op == op)


def _trace_holds(case: harness.Case, tmp_path, monkeypatch) -> bool:
    """Whether `export --via torch` without its refusal gives a model that computes, on two other
    draws at batches 1 and 3, what the lowered module computes."""
    graph = harness.analyse_layer(tmp_path, case.op, case.attrs, case.inputs)
    assert not graph.errors, [d.message for d in graph.errors]
    monkeypatch.setattr(onnx_backend, "UNTRACEABLE", {})
    try:
        model = to_onnx_via_torch(graph, seed=0)
    except TorchExportError:
        return False
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    module = to_torch(graph, seed=0).eval()
    for seed, batch in ((1, 1), (2, 3)):
        monkeypatch.setattr(harness, "BATCH", batch)
        xs = harness._sample(case.inputs, seed=seed, op=case.op, attrs=graph.nodes["y"].attrs)
        with torch.no_grad():
            want = module(*xs).numpy()
        try:
            [got] = session.run(None, {i.name: x.numpy() for i, x in zip(session.get_inputs(), xs)})
        except Exception:  # onnxruntime's own classes share no base: a Split of sizes frozen at the trace
            return False
        if got.shape != want.shape or not np.allclose(got, want, rtol=1e-4, atol=1e-5):
            return False
    return True


@pytest.mark.parametrize("op", sorted(UNTRACEABLE))
def test_a_refused_op_cannot_be_traced(op, tmp_path, monkeypatch):
    with harness.one_thread():
        assert not _trace_holds(_first_case(op), tmp_path, monkeypatch), \
            f"{op}'s torch lowering traces correctly now: take it out of UNTRACEABLE"


@pytest.mark.parametrize("op", TRACEABLE_BOX_OPS)
def test_an_op_not_refused_traces_correctly(op, tmp_path, monkeypatch):
    assert op not in UNTRACEABLE
    with harness.one_thread():
        assert _trace_holds(_first_case(op), tmp_path, monkeypatch)


SAME_PADDED = [case for case in harness.all_cases() if case.op == "conv2d" and case.attrs.get("padding") == "same"]


@pytest.mark.parametrize("case", SAME_PADDED, ids=[case.id for case in SAME_PADDED])
def test_a_convolution_padded_same_traces_correctly(case, tmp_path, monkeypatch):
    with harness.one_thread():
        assert _trace_holds(case, tmp_path, monkeypatch)
