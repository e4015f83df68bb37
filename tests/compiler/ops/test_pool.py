"""Pooling against torch.nn's MaxPool2d, AvgPool2d, LPPool2d, AdaptiveAvgPool2d and a mean."""

from torch import nn

from harness import Case, Fn, Refusal, analyse_layer, op_tests

IMAGE = [("N", 3, 9, 11)]

CASES = [
    Case("maxpool2d", {"kernel": 2, "stride": 2}, [("N", 64, 224, 224)], lambda: nn.MaxPool2d(2, 2), id="ccp-pool"),
    Case("maxpool2d", {"kernel": 3, "stride": 2}, [("N", 96, 55, 55)], lambda: nn.MaxPool2d(3, 2),
         id="alexnet-overlapping"),
    Case("maxpool2d", {"kernel": 3, "stride": 2, "ceil_mode": True}, [("N", 64, 112, 112)],
         lambda: nn.MaxPool2d(3, 2, ceil_mode=True), id="googlenet-ceil"),
    Case("maxpool2d", {"kernel": 3, "stride": 2, "padding": 1}, [("N", 64, 112, 112)],
         lambda: nn.MaxPool2d(3, 2, padding=1), id="resnet-stem-pool"),
    Case("maxpool2d", {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True}, IMAGE,
         lambda: nn.MaxPool2d(3, 2, 1, ceil_mode=True), id="padded-ceil"),
    Case("maxpool2d", {"kernel": [3, 2], "stride": [1, 2]}, [("N", 2, 7, 9)],
         lambda: nn.MaxPool2d((3, 2), (1, 2)), id="rectangular"),
    Case("avgpool2d", {"kernel": 2}, [("N", 3, 9, 9)], lambda: nn.AvgPool2d(2), id="stride-defaults-to-kernel"),
    Case("avgpool2d", {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False},
         [("N", 3, 10, 10)], lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
         id="ceil-padded"),
    Case("avgpool2d", {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}, IMAGE,
         lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), id="ceil-padded-exclude-pad"),
    Case("avgpool2d", {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True}, [("N", 3, 10, 7)],
         lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True), id="ceil-padded-include-pad"),
    Case("lppool2d", {"kernel": 2}, [("N", 4, 8, 8)], lambda: nn.LPPool2d(2, 2), id="l2-pool"),
    Case("lppool2d", {"norm_type": 3, "kernel": 3, "stride": 2, "ceil_mode": True}, [("N", 4, 8, 8)],
         lambda: nn.LPPool2d(3, 3, 2, ceil_mode=True), id="l3-ceil", onnx=False,
         note="an odd p makes a window of negative sum NaN, and verify's inputs are normal: NaN ≠ NaN"),
    Case("lppool2d", {"norm_type": 2.0, "kernel": 2, "ceil_mode": True}, IMAGE,
         lambda: nn.LPPool2d(2.0, 2, ceil_mode=True), id="l2-ceil"),
    Case("lppool2d", {"norm_type": 1.0, "kernel": 3, "stride": 2}, IMAGE, lambda: nn.LPPool2d(1.0, 3, 2), id="l1"),
    Case("adaptive_avgpool2d", {"output_size": 6}, [("N", 256, 13, 13)], lambda: nn.AdaptiveAvgPool2d(6),
         id="alexnet-6x6"),
    Case("adaptive_avgpool2d", {"output_size": [1, 3]}, [("N", 8, 7, 10)], lambda: nn.AdaptiveAvgPool2d((1, 3)),
         id="rectangular-adaptive"),
    Case("adaptive_avgpool2d", {"output_size": [4, 3]}, IMAGE, lambda: nn.AdaptiveAvgPool2d((4, 3)),
         id="unequal-windows"),
    Case("adaptive_avgpool2d", {"output_size": [4, 3]}, [("N", 3, 8, 6)], lambda: nn.AdaptiveAvgPool2d((4, 3)),
         id="equal-windows"),
    Case("adaptive_avgpool2d", {"output_size": 1}, [("N", 3, "H", "W")], lambda: nn.AdaptiveAvgPool2d(1),
         id="symbolic-to-1x1"),
    Case("global_avgpool", {}, [("N", 512, 7, 7)], lambda: Fn(lambda x: x.mean(dim=(2, 3))), id="global"),
    Case("global_avgpool", {"keepdim": True}, [("N", 512, 7, 7)], lambda: nn.AdaptiveAvgPool2d(1),
         id="global-keepdim"),
    Case("global_avgpool", {}, IMAGE, lambda: Fn(lambda x: x.mean(dim=(2, 3))), id="global-rectangular"),
    Case("global_avgpool", {"keepdim": True}, IMAGE, lambda: nn.AdaptiveAvgPool2d(1), id="global-keepdim-rectangular"),
]

REFUSALS = [
    Refusal("maxpool2d", {"kernel": 3}, [("N", 1, 2, 2)], "kernel-too-large", lambda: nn.MaxPool2d(3),
            id="window-larger-than-input"),
    Refusal("maxpool2d", {"kernel": 2, "padding": 2}, [("N", 1, 8, 8)], "shape-mismatch",
            lambda: nn.MaxPool2d(2, padding=2), id="padding-over-half-the-window"),
    Refusal("avgpool2d", {"kernel": 2}, [("N", 8)], "shape-mismatch", id="rank-2-input"),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)


def test_ceil_mode_arithmetic_says_it_rounded_up(tmp_path):
    graph = analyse_layer(tmp_path, "maxpool2d", {"kernel": 3, "stride": 2, "ceil_mode": True}, [("N", 1, 112, 112)])
    assert graph.nodes["y"].arithmetic == ["(112 − 3 + 2·0)/2 + 1 = 55.5 → 56 (ceil)"]
