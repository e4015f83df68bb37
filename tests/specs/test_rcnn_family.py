"""The R-CNN family's specs against the totals derived from their papers' layer tables (in each
spec's header comment), and Fast R-CNN through verify (torch against onnxruntime's MaxRoiPool)."""

from pathlib import Path

from nncompile.compiler import build
from nncompile.compiler.verify import render, verify

SPECS = Path(__file__).resolve().parents[2] / "specs"


def test_zfnet_parameters_and_sizes():
    graph = build(SPECS / "zfnet.yaml")
    convs = [7 * 7 * 3 * 96 + 96, 5 * 5 * 96 * 256 + 256, 3 * 3 * 256 * 384 + 384,
             3 * 3 * 384 * 384 + 384, 3 * 3 * 384 * 256 + 256]
    fcs = [9216 * 4096 + 4096, 4096 * 4096 + 4096, 4096 * 1000 + 1000]
    assert graph.totals.params == sum(convs) + sum(fcs) == 62_357_608
    # Fig. 3's map sizes: 110, 55, 26, 13, 13, 13, 6
    sides = [graph.nodes[n].type.shape[2] for n in ("conv1", "pool1", "conv2", "pool2", "conv3", "conv5", "pool5")]
    assert sides == [110, 55, 26, 13, 13, 13, 6]


def test_fast_rcnn_parameters():
    graph = build(SPECS / "fast_rcnn_vgg16.yaml")
    vgg16_convs = 138_357_544 - (25088 * 4096 + 4096) - (4096 * 4096 + 4096) - (4096 * 1000 + 1000)
    heads = (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 21 + 21) + (4096 * 84 + 84)
    assert graph.totals.params == vgg16_convs + heads == 134_690_729
    assert str(graph.nodes["roi_pool"].type) == "R×512×7×7"
    assert [str(graph.nodes[s].type) for s in graph.outputs.values()] == ["R×21", "R×84"]


def test_fast_rcnn_verifies(tmp_path):
    checks = verify(build(SPECS / "fast_rcnn_vgg16.yaml"), batches=(2,), sizes={"H": 64, "W": 48})
    assert all(c.ok for c in checks), render(checks)
