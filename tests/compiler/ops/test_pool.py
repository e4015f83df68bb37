"""Pooling against torch.nn's MaxPool2d, AvgPool2d, LPPool2d, AdaptiveAvgPool2d and a mean."""

import pytest
from torch import nn

from op_cases import Case, Fn, Refusal, analyse_layer, check, check_refusal

CASES = [
    Case("maxpool2d", {"kernel": 2, "stride": 2}, [("N", 64, 224, 224)], lambda: nn.MaxPool2d(2, 2), id="ccp-pool"),
    Case("maxpool2d", {"kernel": 3, "stride": 2}, [("N", 96, 55, 55)], lambda: nn.MaxPool2d(3, 2),
         id="alexnet-overlapping"),
    Case("maxpool2d", {"kernel": 3, "stride": 2, "ceil_mode": True}, [("N", 64, 112, 112)],
         lambda: nn.MaxPool2d(3, 2, ceil_mode=True), id="googlenet-ceil"),
    Case("maxpool2d", {"kernel": 3, "stride": 2, "padding": 1}, [("N", 64, 112, 112)],
         lambda: nn.MaxPool2d(3, 2, padding=1), id="resnet-stem-pool"),
    Case("maxpool2d", {"kernel": [3, 2], "stride": [1, 2]}, [("N", 2, 7, 9)],
         lambda: nn.MaxPool2d((3, 2), (1, 2)), id="rectangular"),
    Case("avgpool2d", {"kernel": 2}, [("N", 3, 9, 9)], lambda: nn.AvgPool2d(2), id="stride-defaults-to-kernel"),
    Case("avgpool2d", {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False},
         [("N", 3, 10, 10)], lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
         id="ceil-padded"),
    Case("lppool2d", {"kernel": 2}, [("N", 4, 8, 8)], lambda: nn.LPPool2d(2, 2), id="l2-pool"),
    Case("lppool2d", {"norm_type": 3, "kernel": 3, "stride": 2, "ceil_mode": True}, [("N", 4, 8, 8)],
         lambda: nn.LPPool2d(3, 3, 2, ceil_mode=True), id="l3-ceil"),
    Case("adaptive_avgpool2d", {"output_size": 6}, [("N", 256, 13, 13)], lambda: nn.AdaptiveAvgPool2d(6),
         id="alexnet-6x6"),
    Case("adaptive_avgpool2d", {"output_size": [1, 3]}, [("N", 8, 7, 10)], lambda: nn.AdaptiveAvgPool2d((1, 3)),
         id="rectangular-adaptive"),
    Case("global_avgpool", {}, [("N", 512, 7, 7)], lambda: Fn(lambda x: x.mean(dim=(2, 3))), id="global"),
    Case("global_avgpool", {"keepdim": True}, [("N", 512, 7, 7)], lambda: nn.AdaptiveAvgPool2d(1),
         id="global-keepdim"),
]

REFUSALS = [
    Refusal("maxpool2d", {"kernel": 3}, [("N", 1, 2, 2)], "kernel-too-large", lambda: nn.MaxPool2d(3),
            id="window-larger-than-input"),
    Refusal("maxpool2d", {"kernel": 2, "padding": 2}, [("N", 1, 8, 8)], "shape-mismatch",
            lambda: nn.MaxPool2d(2, padding=2), id="padding-over-half-the-window"),
    Refusal("avgpool2d", {"kernel": 2}, [("N", 8)], "shape-mismatch", id="rank-2-input"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_matches_torch(case, tmp_path):
    check(case, tmp_path)


@pytest.mark.parametrize("refusal", REFUSALS, ids=str)
def test_refuses_what_torch_refuses(refusal, tmp_path):
    check_refusal(refusal, tmp_path)


def test_ceil_mode_arithmetic_says_it_rounded_up(tmp_path):
    graph = analyse_layer(tmp_path, "maxpool2d", {"kernel": 3, "stride": 2, "ceil_mode": True}, [("N", 1, 112, 112)])
    assert graph.nodes["y"].arithmetic == ["(112 − 3 + 2·0)/2 + 1 = 55.5 → 56 (ceil)"]
