"""Normalisation against torch.nn's BatchNorm1d/2d, LayerNorm and LocalResponseNorm."""

import pytest
from torch import nn

from op_cases import Case, Refusal, check, check_refusal

CASES = [
    Case("batchnorm2d", {}, [("N", 64, 56, 56)], lambda: nn.BatchNorm2d(64), id="resnet-bn"),
    Case("batchnorm2d", {"affine": False, "num_features": 8}, [("N", 8, 4, 4)],
         lambda: nn.BatchNorm2d(8, affine=False), id="bn-no-affine"),
    Case("batchnorm1d", {}, [("N", 32)], lambda: nn.BatchNorm1d(32), id="bn1d-features"),
    Case("batchnorm1d", {"eps": 0.001, "momentum": 0.01}, [("N", 16, 20)],
         lambda: nn.BatchNorm1d(16, eps=0.001, momentum=0.01), id="bn1d-sequence"),
    Case("layernorm", {}, [("N", 10, 512)], lambda: nn.LayerNorm(512), id="ln-last-axis"),
    Case("layernorm", {"normalized_shape": [4, 6], "elementwise_affine": False}, [("N", 3, 4, 6)],
         lambda: nn.LayerNorm([4, 6], elementwise_affine=False), id="ln-two-axes-no-affine"),
    Case("local_response_norm", {"size": 5, "alpha": 0.0001, "beta": 0.75, "k": 2.0}, [("N", 96, 55, 55)],
         lambda: nn.LocalResponseNorm(5, 0.0001, 0.75, 2.0), id="alexnet-lrn"),
]

REFUSALS = [
    Refusal("batchnorm2d", {"num_features": 32}, [("N", 64, 8, 8)], "in-channels", lambda: nn.BatchNorm2d(32),
            id="bn-wrong-num-features"),
    Refusal("batchnorm2d", {}, [("N", 64)], "shape-mismatch", lambda: nn.BatchNorm2d(64), id="bn2d-rank-2"),
    Refusal("layernorm", {"normalized_shape": [5]}, [("N", 3, 4)], "shape-mismatch", lambda: nn.LayerNorm([5]),
            id="ln-shape-mismatch"),
    Refusal("local_response_norm", {}, [("N", 8)], "shape-mismatch", lambda: nn.LocalResponseNorm(5),
            id="lrn-rank-2"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_matches_torch(case, tmp_path):
    check(case, tmp_path)


@pytest.mark.parametrize("refusal", REFUSALS, ids=str)
def test_refuses_what_torch_refuses(refusal, tmp_path):
    check_refusal(refusal, tmp_path)
