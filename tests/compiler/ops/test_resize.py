"""upsample against torch.nn.Upsample and F.interpolate."""

import pytest
from torch import nn
from torch.nn import functional as F

from op_cases import Case, Fn, Refusal, check, check_refusal

CASES = [
    Case("upsample", {"scale_factor": 2}, [("N", 8, 7, 7)], lambda: nn.Upsample(scale_factor=2), id="nearest-x2"),
    Case("upsample", {"scale_factor": [2, 3], "mode": "bilinear"}, [("N", 8, 5, 4)],
         lambda: nn.Upsample(scale_factor=(2, 3), mode="bilinear"), id="bilinear-2x3"),
    Case("upsample", {"scale_factor": 1.5}, [("N", 2, 5, 5)], lambda: nn.Upsample(scale_factor=1.5),
         id="fractional-floor"),
    Case("upsample", {"size": [224, 224], "mode": "bilinear", "align_corners": True}, [("N", 21, 7, 7)],
         lambda: nn.Upsample(size=(224, 224), mode="bilinear", align_corners=True), id="to-size"),
    Case("upsample", {"mode": "bilinear"}, [("N", 21, 7, 7), ("N", 3, 224, 200)],
         lambda: Fn(lambda x, like: F.interpolate(x, size=like.shape[2:], mode="bilinear")), id="like-input"),
]

REFUSALS = [
    Refusal("upsample", {}, [("N", 2, 4, 4)], "shape-mismatch", id="no-target"),
    Refusal("upsample", {"scale_factor": 2, "size": [8, 8]}, [("N", 2, 4, 4)], "bad-attribute",
            lambda: nn.Upsample(size=(8, 8), scale_factor=2), id="two-targets"),
    Refusal("upsample", {"scale_factor": 2}, [("N", 4)], "shape-mismatch", id="rank-2"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_matches_torch(case, tmp_path):
    check(case, tmp_path)


@pytest.mark.parametrize("refusal", REFUSALS, ids=str)
def test_refuses_what_torch_refuses(refusal, tmp_path):
    check_refusal(refusal, tmp_path)
