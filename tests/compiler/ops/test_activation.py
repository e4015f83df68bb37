"""Activations against torch.nn's modules (step: the perceptron's threshold, as a function)."""

import pytest
import torch
from torch import nn

from harness import Case, Fn, Refusal, analyse_layer, op_tests
from test_norm import check_onnx_with_random_weights

X, VECTOR, IMAGE = [("N", 3, 5, 5)], [("N", 6)], [("N", 3, 9, 11)]

CASES = [
    Case("relu", {}, X, nn.ReLU, id="relu"),
    Case("relu", {}, VECTOR, nn.ReLU, id="relu-vector"),
    Case("relu6", {}, X, nn.ReLU6, id="relu6"),
    Case("relu6", {}, VECTOR, nn.ReLU6, id="relu6-vector"),
    Case("sigmoid", {}, [("N", 2)], nn.Sigmoid, id="sigmoid"),
    Case("sigmoid", {}, VECTOR, nn.Sigmoid, id="sigmoid-vector"),
    Case("tanh", {}, X, nn.Tanh, id="tanh"),
    Case("tanh", {}, VECTOR, nn.Tanh, id="tanh-vector"),
    Case("leaky_relu", {}, X, lambda: nn.LeakyReLU(0.1), id="leaky_relu-slides-default"),
    Case("leaky_relu", {"negative_slope": 0.2}, X, lambda: nn.LeakyReLU(0.2), id="leaky_relu-0.2"),
    Case("leaky_relu", {"negative_slope": 0.3}, VECTOR, lambda: nn.LeakyReLU(0.3), id="leaky_relu-0.3-vector"),
    Case("elu", {"alpha": 0.5}, X, lambda: nn.ELU(0.5), id="elu"),
    Case("elu", {"alpha": 0.5}, VECTOR, lambda: nn.ELU(0.5), id="elu-vector"),
    Case("gelu", {}, VECTOR, nn.GELU, id="gelu-erf"),
    Case("gelu", {"approximate": "tanh"}, [("N", 7, 16)], lambda: nn.GELU(approximate="tanh"), id="gelu-tanh"),
    Case("gelu", {"approximate": "tanh"}, VECTOR, lambda: nn.GELU(approximate="tanh"), id="gelu-tanh-vector"),
    Case("silu", {}, X, nn.SiLU, id="silu"),
    Case("silu", {}, VECTOR, nn.SiLU, id="silu-vector"),
    Case("mish", {}, X, nn.Mish, id="mish"),
    Case("hardsigmoid", {}, X, nn.Hardsigmoid, id="hardsigmoid"),
    Case("hardswish", {}, X, nn.Hardswish, id="hardswish"),
    Case("hardswish", {}, VECTOR, nn.Hardswish, id="hardswish-vector"),
    Case("prelu", {}, X, nn.PReLU, id="prelu-one-slope"),
    Case("prelu", {"num_parameters": 3}, X, lambda: nn.PReLU(3), id="prelu-per-channel"),
    Case("prelu", {"num_parameters": 6}, VECTOR, lambda: nn.PReLU(6), id="prelu-per-feature"),
    Case("step", {"threshold": 0.5}, [("N", 2)], lambda: Fn(lambda x: (x >= 0.5).float()), id="step"),
    Case("step", {"threshold": 0.2}, VECTOR, lambda: Fn(lambda x: (x >= 0.2).float()), id="step-vector"),
    Case("softmax", {}, [("N", 10)], lambda: nn.Softmax(dim=-1), id="softmax"),
    Case("softmax", {}, VECTOR, lambda: nn.Softmax(dim=-1), id="softmax-vector"),
    Case("softmax", {"dim": 1}, X, lambda: nn.Softmax(dim=1), id="softmax-channels"),
    Case("log_softmax", {"dim": -1}, [("N", 4, 10)], lambda: nn.LogSoftmax(dim=-1), id="log_softmax"),
    Case("log_softmax", {"dim": 1}, IMAGE, lambda: nn.LogSoftmax(dim=1), id="log_softmax-channels"),
]

REFUSALS = [
    Refusal("prelu", {"num_parameters": 4}, X, "shape-mismatch", lambda: nn.PReLU(4), id="prelu-wrong-channels",
            fragments=["3 channels"]),
    Refusal("softmax", {"dim": 2}, [("N", 10)], "shape-mismatch", lambda: nn.Softmax(dim=2), id="softmax-dim-out-of-range"),
    Refusal("log_softmax", {"dim": -3}, [("N", 10)], "shape-mismatch", lambda: nn.LogSoftmax(dim=-3),
            id="log_softmax-dim-out-of-range"),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)


def test_leaky_relu_defaults_to_the_slides_slope():
    from nncompile.compiler.ops import REGISTRY

    assert REGISTRY["leaky_relu"].Attrs().negative_slope == 0.1
    assert torch.nn.LeakyReLU().negative_slope == 0.01  # torch's differs: the spec says which it uses


def test_prelu_slopes_follow_their_channels_in_onnx(tmp_path):
    check_onnx_with_random_weights(tmp_path, "prelu", {"num_parameters": 3}, (3, 4, 5))


@pytest.mark.parametrize("written, suggested", [("ReLU6", "relu6"), ("hard_swish", "hardswish"), ("SiLU", "silu"),
                                                ("Hardsigmoid", "hardsigmoid"), ("relu7", None), ("swish6", None)])
def test_an_unknown_op_is_suggested_only_when_it_is_another_spelling(tmp_path, written, suggested):
    """relu7 is no relu6 and relu6 is no relu: a near miss in letters is another operation."""
    (error,) = analyse_layer(tmp_path, written, {}, VECTOR).errors
    assert error.code == "unknown-op"
    assert ("did you mean" in error.message) == (suggested is not None)
    if suggested:
        assert error.message.endswith(f"(did you mean '{suggested}'?)")
