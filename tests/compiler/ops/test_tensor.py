"""flatten, reshape and identity against torch.nn.Flatten, Tensor.reshape and nn.Identity."""

import pytest
from torch import nn

from op_cases import Case, Fn, Refusal, check, check_refusal

CASES = [
    Case("flatten", {}, [("N", 8, 28, 28)], nn.Flatten, id="ccp-flatten"),
    Case("flatten", {"start_dim": 2}, [("N", 4, 3, 5)], lambda: nn.Flatten(start_dim=2), id="flatten-spatial"),
    Case("flatten", {"start_dim": 1, "end_dim": 2}, [("N", 4, 3, 5)], lambda: nn.Flatten(1, 2), id="flatten-middle"),
    Case("reshape", {"shape": [16, -1]}, [("N", 8, 4, 4)], lambda: Fn(lambda x: x.reshape(x.shape[0], 16, -1)),
         id="reshape-inferred"),
    Case("reshape", {"shape": [2, 3, 4]}, [("N", 24)], lambda: Fn(lambda x: x.reshape(x.shape[0], 2, 3, 4)),
         id="reshape-explicit"),
    Case("identity", {}, [("N", 3, 2, 2)], nn.Identity),
]

REFUSALS = [
    Refusal("reshape", {"shape": [5, -1]}, [("N", 8, 4, 4)], "shape-mismatch",
            lambda: (lambda x: x.reshape(x.shape[0], 5, -1)), id="reshape-not-dividing"),
    Refusal("reshape", {"shape": [3, 3]}, [("N", 8)], "shape-mismatch",
            lambda: (lambda x: x.reshape(x.shape[0], 3, 3)), id="reshape-wrong-count"),
    Refusal("reshape", {"shape": [-1, -1]}, [("N", 8)], "shape-mismatch",
            lambda: (lambda x: x.reshape(x.shape[0], -1, -1)), id="reshape-two-unknowns"),
    Refusal("flatten", {"start_dim": 3}, [("N", 4, 3)], "shape-mismatch", lambda: nn.Flatten(start_dim=3),
            id="flatten-out-of-range"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_matches_torch(case, tmp_path):
    check(case, tmp_path)


@pytest.mark.parametrize("refusal", REFUSALS, ids=str)
def test_refuses_what_torch_refuses(refusal, tmp_path):
    check_refusal(refusal, tmp_path)
