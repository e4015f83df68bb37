"""dropout against torch.nn.Dropout."""

import pytest
from torch import nn

from op_cases import Case, Refusal, check, check_refusal

CASES = [
    Case("dropout", {}, [("N", 4096)], lambda: nn.Dropout(0.5), id="alexnet-classifier"),
    Case("dropout", {"p": 0.1}, [("N", 3, 4, 4)], lambda: nn.Dropout(0.1)),
]

REFUSALS = [
    Refusal("dropout", {"p": 1.5}, [("N", 4)], "bad-attribute", lambda: nn.Dropout(1.5), id="p-above-1"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_matches_torch(case, tmp_path):
    check(case, tmp_path)


@pytest.mark.parametrize("refusal", REFUSALS, ids=str)
def test_refuses_what_torch_refuses(refusal, tmp_path):
    check_refusal(refusal, tmp_path)
