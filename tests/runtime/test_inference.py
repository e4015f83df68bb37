"""Serving an exported model: provider selection, and `nncompile predict` on arrays and
images, checked against onnxruntime run by hand and NumPy's own top-k."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from nncompile.compiler import to_onnx
from nncompile.compiler.backends.onnx import save
from nncompile.runtime.inference import (IMAGENET_MEAN, IMAGENET_STD, InferenceSession, ProviderUnavailable,
                                         choose_providers)

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"


def test_cuda_first_when_present_else_cpu():
    assert choose_providers(None, [CUDA, CPU]) == [CUDA, CPU]
    assert choose_providers(None, ["AzureExecutionProvider", CPU]) == [CPU]
    assert choose_providers("cpu", [CUDA, CPU]) == [CPU]
    assert choose_providers("cuda", [CUDA, CPU]) == [CUDA]


def test_a_forced_provider_that_is_missing_is_an_error():
    with pytest.raises(ProviderUnavailable, match=r"'cuda' \(CUDAExecutionProvider\) is not available.*onnxruntime-gpu"):
        choose_providers("cuda", [CPU])


@pytest.fixture
def model_path(tmp_path, in_repo):
    path = tmp_path / "digits.onnx"
    save(to_onnx("specs/digits_cnn.yaml"), path)  # N×1×8×8 -> N×10
    return path


def by_hand(path, x):
    session = ort.InferenceSession(str(path), providers=[CPU])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_session_runs_on_the_available_provider(model_path):
    session = InferenceSession(model_path)
    assert session.provider == (CUDA if CUDA in ort.get_available_providers() else CPU)
    x = np.random.default_rng(0).standard_normal((4, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(session.run(x)["fc"], by_hand(model_path, x), rtol=1e-6)
    np.testing.assert_allclose(session.run_batched({"image": x}, 3)["fc"], by_hand(model_path, x), rtol=1e-5, atol=1e-7)


def test_predict_npy_in_batches_to_npy(cli, model_path, tmp_path):
    x = np.random.default_rng(1).standard_normal((7, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = cli("predict", model_path, "--input", tmp_path / "x.npy", "--batch-size", "3", "-o", tmp_path / "y.npy")
    assert result.code == 0, result.err
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), by_hand(model_path, x), rtol=1e-5, atol=1e-7)


def test_predict_json_top_k(cli, model_path, tmp_path):
    x = np.random.default_rng(2).standard_normal((2, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "labels.txt").write_text("\n".join(f"digit {i}" for i in range(10)))
    result = cli("predict", model_path, "--input", tmp_path / "x.npy", "--top-k", "3", "--labels", tmp_path / "labels.txt")
    assert result.code == 0, result.err
    out = json.loads(result.out)["outputs"]["fc"]
    logits = by_hand(model_path, x)
    assert out["shape"] == [2, 10]
    for sample, row in zip(out["top_k"], logits):
        assert [c["class"] for c in sample] == np.argsort(-row)[:3].tolist()
        assert sample[0]["label"] == f"digit {sample[0]['class']}"
        probabilities = np.exp(row - row.max()) / np.exp(row - row.max()).sum()
        assert [c["probability"] for c in sample] == pytest.approx(probabilities[np.argsort(-row)[:3]].tolist(), rel=1e-5)


def test_predict_image_resized_scaled_and_normalised(cli, tmp_path, in_repo):
    path = tmp_path / "ccp.onnx"
    save(to_onnx("specs/ccp.yaml"), path)  # N×3×224×224 -> N×10
    pixels = (np.random.default_rng(3).random((300, 400, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    result = cli("predict", path, "--input", tmp_path / "photo.png", "--normalize", "imagenet", "-o", tmp_path / "y.json")
    assert result.code == 0, result.err
    # the same preprocessing by hand: 224×224 bilinear, [0, 1], ImageNet mean and std, C×H×W
    resized = np.asarray(Image.fromarray(pixels).resize((224, 224), Image.BILINEAR), np.float32) / 255
    x = ((resized - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)[None].astype(np.float32)
    top = json.loads((tmp_path / "y.json").read_text())["outputs"]["fc"]["top_k"][0]
    assert top[0]["class"] == int(by_hand(path, x)[0].argmax())
    assert top[0]["score"] == pytest.approx(float(by_hand(path, x)[0].max()), rel=1e-4)


def test_predict_usage_errors(cli, model_path, tmp_path):
    assert "no such model file" in cli("predict", tmp_path / "none.onnx", "--input", "x.npy").err
    np.save(tmp_path / "bad.npy", np.zeros((2, 3, 8, 8), np.float32))
    bad = cli("predict", model_path, "--input", tmp_path / "bad.npy")
    assert bad.code == 2 and "holds a 2×3×8×8 array; the model's input 'image' takes N×1×8×8" in bad.err
    np.save(tmp_path / "flat.npy", np.zeros((2, 64), np.float32))
    flat = cli("predict", model_path, "--input", tmp_path / "flat.npy")
    assert flat.code == 2 and "holds a 2×64 array; the model's input 'image' takes N×1×8×8" in flat.err
    if CUDA not in ort.get_available_providers():
        forced = cli("predict", model_path, "--input", tmp_path / "flat.npy", "--provider", "cuda")
        assert forced.code == 2 and "CUDAExecutionProvider) is not available" in forced.err


@pytest.mark.parametrize("content", [b"", b"hello, this is text\n", bytes(range(256)) * 4], ids=["empty", "text", "garbage"])
def test_predict_on_a_file_that_is_not_onnx_is_a_usage_error(run_nncompile, tmp_path, content):
    (tmp_path / "model.onnx").write_bytes(content)
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 8, 8), np.float32))
    result = run_nncompile("predict", tmp_path / "model.onnx", "--input", tmp_path / "x.npy")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.startswith(f"nncompile: error: not an ONNX model: {tmp_path / 'model.onnx'}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "x.npy"]


def test_predict_on_an_image_without_pillow_names_the_extra(run_nncompile, model_path, tmp_path):
    stub = tmp_path / "no_pillow" / "PIL"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'PIL'\", name='PIL')\n")
    (tmp_path / "digit.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    result = run_nncompile("predict", model_path, "--input", tmp_path / "digit.png",
                           env={"PYTHONPATH": str(stub.parent)})
    assert result.code == 2 and "Traceback" not in result.err
    assert "reading images" in result.err and "needs Pillow: pip install 'nncompile[train]'" in result.err


INPUT_MISTAKES = {  # the array saved as x.npy -> what the error says
    "no samples": (np.zeros((0, 1, 8, 8), np.float32), "holds no samples (a 0×1×8×8 array)"),
    "0-d": (np.array(3.0), "holds a single number (a 0-d array); the model's input 'image' takes N×1×8×8"),
    "strings": (np.array([["a"] * 8] * 8), "holds <U1 values; the model takes numbers"),
    "complex": (np.zeros((1, 8, 8), np.complex64), "holds complex64 values"),
    "NaN": (np.array([[[np.nan] * 8] * 8], np.float32), "holds 64 NaN or infinite values"),
    "overflow": (np.full((1, 1, 8, 8), 1e300), "holds 64 NaN or infinite values"),  # inf as float32
}


@pytest.mark.parametrize("case", INPUT_MISTAKES)
def test_predict_input_mistakes_are_named(cli, model_path, tmp_path, case):
    array, message = INPUT_MISTAKES[case]
    np.save(tmp_path / "x.npy", array)
    result = cli("predict", model_path, "--input", tmp_path / "x.npy")
    assert result.code == 2 and result.out == ""
    assert result.err.startswith(f"nncompile: error: {tmp_path / 'x.npy'} {message}"), result.err


def test_predict_file_mistakes_are_named(cli, model_path, tmp_path):
    (tmp_path / "text.npy").write_text("1 2 3\n")
    np.savez(tmp_path / "x.npz", x=np.zeros((1, 1, 8, 8), np.float32))
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), np.float32))
    (tmp_path / "labels.txt").write_text("zero\none\ntwo\n\n")
    cases = {
        (tmp_path,): f"{tmp_path} is a directory, not an input file",
        (tmp_path / "text.npy",): f"{tmp_path / 'text.npy'} is not a .npy array",
        (tmp_path / "x.npz",): f"{tmp_path / 'x.npz'} is an .npz archive: give each input as a .npy array",
        (tmp_path / "x.npy", "--labels", tmp_path / "labels.txt"):
            f"{tmp_path / 'labels.txt'} names 3 classes, the model's output has 10",
        (tmp_path / "x.npy", "--labels", tmp_path): f"{tmp_path} is a directory, not a labels file",
    }
    for args, message in cases.items():
        result = cli("predict", model_path, "--input", *args)
        assert result.code == 2 and result.err.startswith(f"nncompile: error: {message}"), result.err
    assert cli("predict", tmp_path, "--input", tmp_path / "x.npy").err == \
        f"nncompile: error: {tmp_path} is a directory, not a model file\n"


def test_predict_output_suffix_and_directory_are_checked_first(run_nncompile, model_path, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 8, 8), np.float32))
    text = run_nncompile("predict", model_path, "--input", tmp_path / "x.npy", "-o", tmp_path / "out.txt")
    assert text.code == 2 and "the suffix picks the format, one of .npy, .npz, .json" in text.err
    missing = run_nncompile("predict", model_path, "--input", tmp_path / "x.npy", "-o", tmp_path / "missing/dir/y.npy")
    assert missing.code == 2 and f"no such directory '{tmp_path / 'missing/dir'}'" in missing.err
    assert "Traceback" not in text.err + missing.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits.onnx", "x.npy"]


def test_non_finite_scores_are_strict_json_nulls(cli, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    # y = log(x): NaN for x < 0, -inf for 0, a number for 1 — an honest model with non-finite outputs
    graph = helper.make_graph([helper.make_node("Log", ["x"], ["y"])], "log",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "log.onnx")
    np.save(tmp_path / "x.npy", np.array([[-1.0, 0.0, 1.0]], np.float32))
    result = cli("predict", tmp_path / "log.onnx", "--input", tmp_path / "x.npy", "--top-k", "3")
    assert result.code == 0 and "2 NaN or infinite values" in result.err and "null" in result.err

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    scores = [c["score"] for c in json.loads(result.out, parse_constant=refuse)["outputs"]["y"]["top_k"][0]]
    assert sorted(scores, key=lambda s: s is None) == [0.0, None, None]


def test_a_model_that_takes_another_dtype_is_a_usage_error(run_nncompile, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "ids",
                              [helper.make_tensor_value_info("x", TensorProto.INT64, ["N", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, ["N", 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "ids.onnx")
    np.save(tmp_path / "x.npy", np.zeros((2, 3), np.float32))
    result = run_nncompile("predict", tmp_path / "ids.onnx", "--input", tmp_path / "x.npy")
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.startswith("nncompile: error: onnxruntime cannot run the model: Unexpected input data type")
    assert "expected: (tensor(int64))" in result.err


@pytest.mark.parametrize("side, fits", [(24, False), (32, True)])
def test_predict_takes_only_the_multiple_the_model_declares(cli, write_spec, tmp_path, side, fits):
    spec = write_spec("""
        inputs: {image: [N, 1, 16*h, 16*w]}
        layers:
          - pool: {op: maxpool2d, kernel: 16}
        """)
    save(to_onnx(spec), tmp_path / "m.onnx")  # its input's dims: N, 1, 16·h, 16·w
    np.save(tmp_path / "x.npy", np.zeros((2, 1, side, 48), np.float32))
    result = cli("predict", tmp_path / "m.onnx", "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert result.code == (0 if fits else 2), result.err
    if fits:
        assert np.load(tmp_path / "y.npy").shape == (2, 1, 2, 3)
    else:
        assert f"holds a 2×1×{side}×48 array; the model's input 'image' takes N×1×16·h×16·w" in result.err


def test_predict_names_each_output_of_a_two_headed_model(cli, in_repo, tmp_path):
    """localize_shapes answers a `class` (scores: its top k, labelled) and a `box` (a sigmoid:
    its four numbers as onnxruntime computes them, not a softmax over them)."""
    model = tmp_path / "localize.onnx"
    assert cli("export", "specs/localize_shapes.yaml", "-o", model).code == 0
    x = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "labels.txt").write_text("circle\nsquare\ntriangle\n")  # as many as `class` has, not `box`
    result = cli("predict", model, "--input", tmp_path / "x.npy", "--top-k", "3", "--labels", tmp_path / "labels.txt")
    assert result.code == 0, result.err
    outputs = json.loads(result.out)["outputs"]
    scores, box = ort.InferenceSession(str(model)).run(["class", "box"], {"image": x})
    assert outputs["box"].keys() == {"shape", "values"} and outputs["box"]["shape"] == [2, 4]
    np.testing.assert_allclose(outputs["box"]["values"], box, rtol=1e-6)
    best = outputs["class"]["top_k"]
    assert [[c["class"] for c in row] for row in best] == np.argsort(-scores, axis=1, kind="stable").tolist()
    assert {c["label"] for c in best[0]} == {"circle", "square", "triangle"}


def test_predict_saves_every_output_by_name_as_onnxruntime_computes_it(cli, in_repo, tmp_path):
    model = tmp_path / "localize.onnx"
    assert cli("export", "specs/localize_shapes.yaml", "-o", model).code == 0
    x = np.random.default_rng(4).random((5, 3, 32, 32), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    result = cli("predict", model, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npz")
    assert result.code == 0 and f"wrote {tmp_path / 'y.npz'}: class 5×3, box 5×4 (" in result.err, result.err
    session = ort.InferenceSession(str(model), providers=[CPU])
    names = [o.name for o in session.get_outputs()]
    with np.load(tmp_path / "y.npz", allow_pickle=False) as saved:
        assert list(saved) == names == ["class", "box"]
        for name, want in zip(names, session.run(None, {"image": x})):
            got = saved[name]
            assert (got.dtype, got.shape, got.tobytes()) == (want.dtype, want.shape, want.tobytes()), name


def test_predict_refuses_npy_for_several_outputs_before_reading_any_input(cli, in_repo, tmp_path):
    model = tmp_path / "localize.onnx"
    assert cli("export", "specs/localize_shapes.yaml", "-o", model).code == 0
    np.save(tmp_path / "wrong.npy", np.zeros((2, 2), np.float32))  # of the wrong shape: it is never read
    result = cli("predict", model, "--input", tmp_path / "wrong.npy", "-o", tmp_path / "y.npy")
    assert result.code == 2 and result.out == ""
    assert result.err == (f"nncompile: error: the model has 2 outputs (class, box) and a .npy file holds one array: "
                          f"write {tmp_path / 'y.npz'} (an array per output, by its name) or {tmp_path / 'y.json'}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["localize.onnx", "wrong.npy"]


def test_an_npz_names_outputs_that_numpys_savez_would_take_for_its_own_arguments(cli, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    names = ["file", "allow_pickle", "scores.final"]  # np.savez(f, **outputs) fails on the first two
    graph = helper.make_graph([helper.make_node("Identity", ["x"], [n]) for n in names], "ids",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3]) for n in names])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "ids.onnx")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.save(tmp_path / "x.npy", x)
    assert cli("predict", tmp_path / "ids.onnx", "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npz").code == 0
    with np.load(tmp_path / "y.npz", allow_pickle=False) as saved:
        assert list(saved) == names and all(np.array_equal(saved[n], x) for n in names)
