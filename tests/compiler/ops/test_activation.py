"""Activations against torch.nn's modules (step: the perceptron's threshold, as a function)."""

import pytest
import torch
from torch import nn

from op_cases import Case, Refusal, check, check_refusal

X = [("N", 3, 5, 5)]

CASES = [
    Case("relu", {}, X, nn.ReLU),
    Case("sigmoid", {}, [("N", 2)], nn.Sigmoid),
    Case("tanh", {}, X, nn.Tanh),
    Case("leaky_relu", {}, X, lambda: nn.LeakyReLU(0.1), id="leaky_relu-slides-default"),
    Case("leaky_relu", {"negative_slope": 0.2}, X, lambda: nn.LeakyReLU(0.2)),
    Case("elu", {"alpha": 0.5}, X, lambda: nn.ELU(0.5)),
    Case("gelu", {"approximate": "tanh"}, [("N", 7, 16)], lambda: nn.GELU(approximate="tanh")),
    Case("step", {"threshold": 0.5}, [("N", 2)], lambda: nn.Threshold(0.5, 0.0)),
    Case("softmax", {}, [("N", 10)], lambda: nn.Softmax(dim=-1)),
    Case("softmax", {"dim": 1}, X, lambda: nn.Softmax(dim=1), id="softmax-channels"),
    Case("log_softmax", {"dim": -1}, [("N", 4, 10)], lambda: nn.LogSoftmax(dim=-1)),
]

REFUSALS = [
    Refusal("softmax", {"dim": 2}, [("N", 10)], "shape-mismatch", lambda: nn.Softmax(dim=2), id="softmax-dim-out-of-range"),
    Refusal("log_softmax", {"dim": -3}, [("N", 10)], "shape-mismatch", lambda: nn.LogSoftmax(dim=-3),
            id="log_softmax-dim-out-of-range"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_matches_torch(case, tmp_path):
    check(case, tmp_path)


@pytest.mark.parametrize("refusal", REFUSALS, ids=str)
def test_refuses_what_torch_refuses(refusal, tmp_path):
    check_refusal(refusal, tmp_path)


def test_leaky_relu_defaults_to_the_slides_slope():
    from nncompile.compiler.ops import REGISTRY

    assert REGISTRY["leaky_relu"].Attrs().negative_slope == 0.1
    assert torch.nn.LeakyReLU().negative_slope == 0.01  # torch's differs: the spec says which it uses
