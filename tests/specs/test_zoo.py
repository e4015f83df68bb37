"""The zoo against independent truth: the parameter totals torchvision's constructors give
and the papers publish (../shared/reference/published_figures.md), torchvision's published
MAC figures, hand counts from the layer sizes, the slides' hand-set weights, and output
shapes at several input sizes."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import pytest

from nncompile.compiler import analyse, build

SPECS = Path(__file__).resolve().parents[2] / "specs"


def spec(name: str, **params):
    return build(SPECS / f"{name}.yaml", params)


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.yaml")) + sorted(SPECS.glob("lib/*.yaml")),
                         ids=lambda p: str(p.relative_to(SPECS)))
def test_every_spec_builds_without_errors_or_warnings(path):
    graph = analyse(path)
    assert graph.errors == [] and graph.warnings == []


# (spec, --set params, parameters, BN buffers or None where no figure is published)
PUBLISHED_PARAMS = [
    ("alexnet", {}, 60_965_224, 0),  # the paper's two towers
    ("alexnet", {"towers": 1}, 62_378_344, 0),
    ("alexnet_torchvision", {}, 61_100_840, 0),
    ("vgg16", {}, 138_357_544, 0),
    ("vgg19", {}, 143_667_240, 0),
    ("resnet18", {}, 11_689_512, 9_600),
    ("resnet34", {}, 21_797_672, None),
    ("resnet50", {}, 25_557_032, 53_120),
    ("resnet101", {}, 44_549_160, None),
    ("resnet152", {}, 60_192_808, None),
    ("googlenet", {}, 6_624_904, 14_560),
    ("fcn_resnet50", {}, 32_957_013, None),
    ("fcn_resnet50", {"aux": True}, 35_322_218, None),  # torchvision's num_params for its weights
]


@pytest.mark.parametrize("name, params, total, buffers", PUBLISHED_PARAMS,
                         ids=[f"{n}{''.join(f'-{k}={v}' for k, v in p.items())}" for n, p, *_ in PUBLISHED_PARAMS])
def test_parameter_totals_equal_the_published_figures(name, params, total, buffers):
    totals = spec(name, **params).totals
    assert totals.params == totals.trainable_params == total
    if buffers is not None:
        assert totals.buffers == buffers


# torchvision's `_ops` metadata of each model's weights: GMACs of convolutions and matrix
# products (its "GFLOPS"), at 224×224 (fcn_resnet50: 520×520, with the aux head).
PUBLISHED_GMACS = [
    ("alexnet_torchvision", {}, "0.714"),
    ("vgg16", {}, "15.47"),
    ("vgg19", {}, "19.632"),
    ("resnet18", {}, "1.814"),
    ("resnet34", {}, "3.664"),
    ("resnet50", {}, "4.089"),
    ("resnet101", {}, "7.801"),
    ("resnet152", {}, "11.514"),
    ("googlenet", {}, "1.498"),
    ("fcn_resnet50", {"height": 520, "width": 520, "aux": True}, "152.717"),
]


@pytest.mark.parametrize("name, params, published", PUBLISHED_GMACS, ids=[n for n, *_ in PUBLISHED_GMACS])
def test_macs_round_to_torchvisions_published_figure(name, params, published):
    macs = spec(name, **params).totals.macs
    figure = Decimal(published)
    half_unit = Decimal(1).scaleb(figure.as_tuple().exponent) / 2  # 0.0005 for "4.089"
    assert abs(Decimal(macs) / 10**9 - figure) <= half_unit
    assert macs == pytest.approx(float(figure) * 1e9, rel=0.01)


def test_alexnet_conv1_is_the_slides_55x55x96_with_35k_params():
    conv1 = spec("alexnet").nodes["conv1"]
    assert conv1.type.shape == ("N", 96, 55, 55)
    assert conv1.param_count == (11 * 11 * 3) * 96 + 96 == 34_944


@pytest.mark.parametrize("name", ["fcn8s_vgg16", "fcn_resnet50"])
@pytest.mark.parametrize("height, width", [(224, 224), (320, 480)])
def test_segmentation_output_has_the_inputs_size(name, height, width):
    graph = spec(name, height=height, width=width, num_classes=21)
    shapes = [graph.nodes[node].type.shape for node in graph.outputs.values()]
    assert shapes == [("N", 21, height, width)]


def test_fcn_resnet50_aux_head_is_a_second_output_at_the_inputs_size():
    graph = spec("fcn_resnet50", height=320, width=480, aux=True)
    assert {k: graph.nodes[v].type.shape for k, v in graph.outputs.items()} == {
        "out": ("N", 21, 320, 480), "aux": ("N", 21, 320, 480)}


def test_fcn_resnet50_backbone_has_output_stride_8():
    graph = spec("fcn_resnet50")
    assert graph.nodes["backbone.layer4.2.relu"].type.shape == ("N", 2048, 28, 28)
    dilations = [graph.nodes[f"backbone.layer{s}.{i}.conv2"].attrs.dilation[0] for s, i in
                 [(3, 0), (3, 1), (3, 5), (4, 0), (4, 1), (4, 2)]]
    assert dilations == [1, 2, 2, 2, 4, 4]


def test_fcn8s_rejects_sides_that_are_not_multiples_of_32():
    graph = analyse(SPECS / "fcn8s_vgg16.yaml", {"height": 300})
    assert [e.code for e in graph.errors] == ["shape-mismatch"]


def _owned(graph, prefix: str) -> int:
    return sum(n.param_count for name, n in graph.nodes.items() if name.startswith(prefix))


def test_maskrcnn_heads_match_torchvisions_modules_counted_by_hand():
    graph = spec("maskrcnn_heads")
    conv3x3_256 = 3 * 3 * 256 * 256 + 256
    rpn = conv3x3_256 + (256 * 3 + 3) + (256 * 12 + 12)
    assert _owned(graph, "rpn_") == rpn == 593_935  # one set of weights for five levels
    assert _owned(graph, "box_head.") == (256 * 7 * 7 * 1024 + 1024) + (1024 * 1024 + 1024) == 13_895_680
    assert _owned(graph, "box_predictor.cls_score") == 1024 * 91 + 91 == 93_275
    assert _owned(graph, "box_predictor.bbox_pred") == 1024 * 364 + 364 == 373_100
    assert _owned(graph, "mask_head.") == 4 * conv3x3_256 == 2_360_320
    assert _owned(graph, "mask_predictor.") == (256 * 256 * 2 * 2 + 256) + (256 * 91 + 91) == 285_787
    assert graph.totals.params == 17_602_097


def test_maskrcnn_heads_output_shapes():
    graph = spec("maskrcnn_heads")
    shapes = {k: graph.nodes[v].type.shape for k, v in graph.outputs.items()}
    for level, size in zip(range(2, 7), (200, 100, 50, 25, 13)):
        assert shapes[f"rpn_p{level}.cls_logits"] == ("N", 3, size, size)
        assert shapes[f"rpn_p{level}.bbox_pred"] == ("N", 12, size, size)
    assert shapes["box_predictor.cls_score"] == ("R", 91)
    assert shapes["box_predictor.bbox_pred"] == ("R", 364)
    assert shapes["mask_predictor"] == ("R", 91, 28, 28)


# --- the small ones: hand-set weights that compute logic gates ---------------------------

INPUTS = [(0, 0), (0, 1), (1, 0), (1, 1)]


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def _affine(node, x):
    return [sum(w * v for w, v in zip(row, x)) + b for row, b in zip(node.init["weight"], node.init["bias"])]


def test_xor_handset_has_the_slides_weights_frozen():
    graph = spec("xor_handset")
    hidden, out = graph.nodes["hidden"], graph.nodes["out"]
    assert hidden.init == {"weight": [[-20, -20], [20, 20]], "bias": [30, -10]}  # NAND, OR
    assert out.init == {"weight": [[20, 20]], "bias": [-30]}  # AND
    assert graph.totals.params == 9 and graph.totals.trainable_params == 0


def test_xor_handset_computes_xor():
    graph = spec("xor_handset")
    for x in INPUTS:
        h = [_sigmoid(z) for z in _affine(graph.nodes["hidden"], x)]
        (y,) = [_sigmoid(z) for z in _affine(graph.nodes["out"], h)]
        assert y == pytest.approx(x[0] ^ x[1], abs=1e-4)


def test_perceptron_computes_and():
    graph = spec("perceptron_and")
    threshold = graph.nodes["fire"].attrs.threshold
    for x in INPUTS:
        (z,) = _affine(graph.nodes["unit"], x)
        assert int(z >= threshold) == (x[0] & x[1])
    assert graph.totals.trainable_params == 0


def test_sobel_kernels_are_frozen_filters():
    graph = spec("sobel")
    kernel = {name: graph.nodes[name].init["weight"][0][0] for name in ("edge_x", "edge_y", "blur", "sharpen")}
    assert kernel["edge_x"] == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert kernel["edge_y"] == [list(column) for column in zip(*kernel["edge_x"])]
    assert sum(map(sum, kernel["blur"])) == pytest.approx(1)
    assert sum(map(sum, kernel["sharpen"])) == 1
    assert graph.totals.params == 4 * 9 and graph.totals.trainable_params == 0
    assert {graph.nodes[n].type.shape for n in graph.outputs.values()} == {("N", 1, "H", "W")}
