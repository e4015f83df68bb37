"""conv2d and conv_transpose2d against torch.nn.Conv2d / ConvTranspose2d."""

from torch import nn

from harness import Case, Refusal, analyse_layer, op_tests

IMAGE = [("N", 3, 9, 11)]

CASES = [
    Case("conv2d", {"out_channels": 64, "kernel": 3, "padding": 1}, [("N", 3, 224, 224)],
         lambda: nn.Conv2d(3, 64, 3, padding=1), id="ccp-layer1-conv1"),  # the slides' 1,792 params
    Case("conv2d", {"out_channels": 96, "kernel": 11, "stride": 4}, [("N", 3, 227, 227)],
         lambda: nn.Conv2d(3, 96, 11, stride=4), id="alexnet-conv1"),
    Case("conv2d", {"out_channels": 8, "kernel": [3, 5], "stride": [2, 1], "padding": [1, 2], "bias": False},
         [("N", 4, 17, 12)], lambda: nn.Conv2d(4, 8, (3, 5), stride=(2, 1), padding=(1, 2), bias=False),
         id="rectangular-no-bias"),
    Case("conv2d", {"out_channels": 6, "kernel": 3, "dilation": 2, "groups": 3}, [("N", 6, 15, 15)],
         lambda: nn.Conv2d(6, 6, 3, dilation=2, groups=3), id="dilated-grouped"),
    Case("conv2d", {"out_channels": 6, "kernel": [3, 2], "stride": 2, "padding": "valid", "dilation": 2, "groups": 2,
                    "bias": False}, [("N", 4, 9, 11)],
         lambda: nn.Conv2d(4, 6, (3, 2), stride=2, padding="valid", dilation=2, groups=2, bias=False),
         id="dilated-grouped-rectangular-strided"),
    Case("conv2d", {"out_channels": 4, "kernel": 4, "padding": "same", "dilation": 2}, [("N", 2, 9, 10)],
         lambda: nn.Conv2d(2, 4, 4, padding="same", dilation=2), id="same-even-kernel"),
    Case("conv2d", {"out_channels": 4, "kernel": [4, 2], "padding": "same"}, IMAGE,
         lambda: nn.Conv2d(3, 4, (4, 2), padding="same"), id="same-asymmetric"),
    Case("conv2d", {"out_channels": 2, "kernel": 3, "padding": "same", "dilation": 2}, [("N", 3, "H", "W")],
         lambda: nn.Conv2d(3, 2, 3, padding="same", dilation=2), id="same-symbolic"),
    Case("conv2d", {"out_channels": 4, "kernel": 3, "padding": "valid", "in_channels": 2}, [("N", 2, 5, 5)],
         lambda: nn.Conv2d(2, 4, 3, padding="valid"), id="valid-declared-in-channels"),
    Case("conv2d", {"out_channels": 4, "kernel": 3, "stride": 3}, [("N", 1, 7, 7)],
         lambda: nn.Conv2d(1, 4, 3, stride=3), id="inexact-floor"),
    Case("conv_transpose2d", {"out_channels": 21, "kernel": 4, "stride": 2, "padding": 1, "bias": False},
         [("N", 21, 8, 8)], lambda: nn.ConvTranspose2d(21, 21, 4, stride=2, padding=1, bias=False),
         id="fcn-upsample-x2"),
    Case("conv_transpose2d", {"out_channels": 4, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1}, IMAGE,
         lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), id="padded-output-padding"),
    Case("conv_transpose2d", {"out_channels": 6, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1,
                              "groups": 2}, [("N", 4, 5, 6)],
         lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
         id="grouped-output-padding"),
    Case("conv_transpose2d", {"out_channels": 4, "kernel": 3, "stride": 2, "output_padding": 1}, [("N", 6, 5, 7)],
         lambda: nn.ConvTranspose2d(6, 4, 3, stride=2, output_padding=1), id="output-padding"),
    Case("conv_transpose2d", {"out_channels": 6, "kernel": [3, 2], "stride": 3, "dilation": 2, "groups": 2},
         [("N", 4, 4, 5)], lambda: nn.ConvTranspose2d(4, 6, (3, 2), stride=3, dilation=2, groups=2),
         id="dilated-grouped-transpose"),
]

REFUSALS = [
    Refusal("conv2d", {"out_channels": 4, "kernel": 3, "groups": 2}, [("N", 3, 8, 8)], "shape-mismatch",
            lambda: nn.Conv2d(3, 4, 3, groups=2), id="groups-not-dividing-in-channels",
            fragments=["in_channels 3 is not divisible by groups 2"]),
    Refusal("conv2d", {"out_channels": 5, "kernel": 3, "groups": 2}, [("N", 4, 8, 8)], "shape-mismatch",
            lambda: nn.Conv2d(4, 5, 3, groups=2), id="groups-not-dividing-out-channels"),
    Refusal("conv2d", {"out_channels": 4, "kernel": 3, "stride": 2, "padding": "same"}, [("N", 3, 8, 8)],
            "shape-mismatch", lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"), id="same-with-stride-2"),
    Refusal("conv2d", {"out_channels": 4, "kernel": 7}, [("N", 3, 5, 5)], "kernel-too-large",
            lambda: nn.Conv2d(3, 4, 7), id="kernel-larger-than-input", fragments=["7", "5"]),
    Refusal("conv2d", {"out_channels": 4, "kernel": 3, "dilation": 3}, [("N", 3, 6, 6)], "kernel-too-large",
            lambda: nn.Conv2d(3, 4, 3, dilation=3), id="dilated-kernel-larger-than-input"),
    Refusal("conv2d", {"out_channels": 4, "kernel": 3, "in_channels": 4}, [("N", 3, 8, 8)], "in-channels",
            lambda: nn.Conv2d(4, 4, 3), id="wrong-in-channels", fragments=["4", "3"]),
    Refusal("conv2d", {"out_channels": 4, "kernel": 3}, [("N", 3, 8)], "shape-mismatch",
            id="rank-3-input"),  # (torch reads a rank-3 input as one unbatched image)
    Refusal("conv_transpose2d", {"out_channels": 4, "kernel": 3, "stride": 2, "output_padding": 2},
            [("N", 3, 5, 5)], "shape-mismatch", lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=2),
            id="output-padding-not-below-stride"),
    Refusal("conv_transpose2d", {"out_channels": 4, "kernel": 1, "padding": 2}, [("N", 3, 2, 2)],
            "shape-mismatch", lambda: nn.ConvTranspose2d(3, 4, 1, padding=2), id="padding-eats-output"),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)


def test_strict_makes_an_inexact_division_an_error(tmp_path):
    """The slides' 7×7 input, 3×3 filter, stride 3: "doesn't fit"."""
    lenient = analyse_layer(tmp_path, "conv2d", {"out_channels": 1, "kernel": 3, "stride": 3}, [("N", 1, 7, 7)])
    assert not lenient.errors and lenient.nodes["y"].type.shape[2:] == (2, 2)
    assert any("dropped" in note for note in lenient.nodes["y"].notes)
    strict = analyse_layer(tmp_path, "conv2d", {"out_channels": 1, "kernel": 3, "stride": 3}, [("N", 1, 7, 7)],
                           strict=True)
    assert [e.code for e in strict.errors] == ["inexact-division"]


def test_arithmetic_is_shown(tmp_path):
    graph = analyse_layer(tmp_path, "conv2d", {"out_channels": 96, "kernel": 11, "stride": 4}, [("N", 3, 227, 227)])
    assert graph.nodes["y"].arithmetic == ["(227 − 11 + 2·0)/4 + 1 = 55"]
