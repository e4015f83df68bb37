"""The protobuf nncompile writes by hand, against onnx's own: each message as onnx.helper
builds it, a written model as onnx parses and checks it and onnxruntime runs it, and external
data as onnx loads it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import helper, numpy_helper  # noqa: E402

from nncompile.compiler import build  # noqa: E402
from nncompile.compiler.backends import onnx_wire  # noqa: E402
from nncompile.compiler.backends.onnx import lower, save, to_onnx  # noqa: E402
from suite import ROOT  # noqa: E402


@pytest.mark.parametrize("value", [0, 1, -1, 2**40, -(2**63), True, np.int64(-3), 0.5, -1e-7, np.float32(2.5),
                                   "constant", b"\x00bytes", [1, -2, 3], [0.5, 2], [1, 2.5], ["a", "b"],
                                   (np.int64(4), 5)])
def test_an_attribute_is_the_one_onnx_helper_makes(value):
    assert onnx.AttributeProto.FromString(onnx_wire.attribute("x", value)) == helper.make_attribute("x", value)


def test_an_empty_list_has_no_type_to_infer():
    with pytest.raises(ValueError, match="empty list"):
        onnx_wire.attribute("pads", [])


@pytest.mark.parametrize("dtype, shape", [("float32", ["N", 3, 224, 224]), ("int64", []), ("bool", [1]),
                                          ("float64", ["N", "H/2", 7])])
def test_a_value_info_is_the_one_onnx_helper_makes(dtype, shape):
    expected = helper.make_tensor_value_info("v", helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), shape)
    assert onnx.ValueInfoProto.FromString(onnx_wire.value_info("v", dtype, shape)) == expected


def test_a_node_is_the_one_onnx_helper_makes():
    attrs = {"strides": [2, 2], "group": 1, "auto_pad": None, "epsilon": 1e-5, "mode": "avg"}
    record = onnx_wire.NodeRecord("Conv", ["x", "", "w"], ["y", "y:1"], "conv1", attrs, "spec.yaml:3:5")
    expected = helper.make_node("Conv", ["x", "", "w"], ["y", "y:1"], name="conv1", doc_string="spec.yaml:3:5", **attrs)
    assert onnx.NodeProto.FromString(record.encode()) == expected


@pytest.mark.parametrize("array", [np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.array(7, dtype=np.int64),
                                   np.zeros((2, 0, 3), np.float32), np.array([True, False])])
def test_an_initializer_is_the_one_numpy_helper_makes(array):
    initializer = onnx_wire.Initializer("w", array)
    raw_data = onnx_wire._chunk(9, bytes(initializer.raw_data))  # as Model.write streams it
    tensor = onnx.TensorProto.FromString(initializer.header() + raw_data)
    assert tensor == numpy_helper.from_array(array, "w")


def test_a_written_model_is_what_onnx_parses_checks_and_runs(tmp_path):
    graph = build(ROOT / "specs/resnet18.yaml")
    model = lower(graph)
    [path] = save(model, tmp_path / "resnet18.onnx")
    parsed = onnx.load(path)
    onnx.checker.check_model(parsed, full_check=True)
    assert parsed == to_onnx(graph)
    assert [t.name for t in parsed.graph.initializer] == [t.name for t in model.graph.initializer]
    for tensor, initializer in zip(parsed.graph.initializer, model.graph.initializer):
        assert np.array_equal(numpy_helper.to_array(tensor), initializer.array)
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.run(None, {"image": x})[0].shape == (2, 1000)


def test_weights_over_the_threshold_go_to_external_data(tmp_path):
    graph = build(ROOT / "specs/digits_cnn.yaml")
    model = lower(graph)
    inline_path, = save(model, tmp_path / "inline.onnx")
    path, data = save(model, tmp_path / "split.onnx", external_threshold=1000)
    assert data == tmp_path / "split.onnx.data"
    big = [t for t in model.graph.initializer if t.array.nbytes >= 1024]
    assert big and data.stat().st_size == sum(t.array.nbytes for t in big)
    header = onnx.load(path, load_external_data=False)
    outside = {t.name for t in header.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL}
    assert outside == {t.name for t in big}
    loaded = onnx.load(path)
    for tensor, initializer in zip(loaded.graph.initializer, model.graph.initializer):
        assert np.array_equal(numpy_helper.to_array(tensor), initializer.array)
    [name] = graph.inputs
    shape = [2 if isinstance(d, str) else d for d in graph.nodes[name].type.shape]
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    outputs = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {name: x})[0]
               for p in (inline_path, path)]
    assert np.array_equal(*outputs)


def test_export_imports_no_onnx(tmp_path):
    code = ("import sys; from nncompile.cli import main; "
            f"code = main(['export', {str(ROOT / 'specs/digits_cnn.yaml')!r}, '-o', {str(tmp_path / 'm.onnx')!r}]); "
            "assert code == 0 and 'onnx' not in sys.modules, sorted(m for m in sys.modules if 'onnx' in m)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    onnx.checker.check_model(onnx.load(tmp_path / "m.onnx"), full_check=True)
