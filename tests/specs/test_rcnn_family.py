"""The R-CNN family's specs against the totals derived from their papers' layer tables (in each
spec's header comment), and Fast R-CNN and DeconvNet through verify (torch against onnxruntime's
MaxRoiPool, and its MaxPool-with-indices and MaxUnpool)."""

from pathlib import Path

import pytest

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


def _conv(k: int, c_in: int, c_out: int) -> int:
    return k * k * c_in * c_out + c_out


# the encoder's and the decoder's 3×3 layers by the paper's Table 1, (in, out) channels
DECONVNET_ENCODER = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
                     (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
DECONVNET_DECODER = [(512, 512)] * 5 + [(512, 256), (256, 256), (256, 256), (256, 128), (128, 128), (128, 64),
                                        (64, 64), (64, 64)]


def test_deconvnet_parameters_derived_from_the_papers_table_and_counted_by_torch():
    import torch

    from nncompile.compiler import to_torch

    graph = build(SPECS / "deconvnet.yaml")
    layers = [(3, i, o) for i, o in DECONVNET_ENCODER] + [(7, 512, 4096), (1, 4096, 4096), (7, 4096, 512)] + \
        [(3, i, o) for i, o in DECONVNET_DECODER]
    batch_norms = sum(2 * o for _, _, o in layers)  # a scale and a shift per channel
    assert graph.totals.params == sum(_conv(*l) for l in layers) + batch_norms + _conv(1, 64, 21) == 251_805_653
    assert sum(_conv(3, i, o) for i, o in DECONVNET_ENCODER) == 14_714_688  # VGG-16's conv layers
    assert graph.totals.buffers == batch_norms  # running mean and variance
    module = to_torch(graph)
    assert sum(p.numel() for p in module.parameters()) == 251_805_653
    assert sum(b.numel() for b in module.buffers() if b.dtype == torch.float32) == batch_norms


def test_deconvnet_sizes_are_the_papers_table_1():
    graph = build(SPECS / "deconvnet.yaml")
    table = {"conv1_2.relu": (64, 224), "pool1.0": (64, 112), "conv2_2.relu": (128, 112), "pool2.0": (128, 56),
             "conv3_3.relu": (256, 56), "pool3.0": (256, 28), "conv4_3.relu": (512, 28), "pool4.0": (512, 14),
             "conv5_3.relu": (512, 14), "pool5.0": (512, 7), "fc6": (4096, 1), "fc7": (4096, 1),
             "deconv_fc6.relu": (512, 7), "unpool5": (512, 14), "deconv5_3.relu": (512, 14), "unpool4": (512, 28),
             "deconv4_3.relu": (256, 28), "unpool3": (256, 56), "deconv3_3.relu": (128, 56), "unpool2": (128, 112),
             "deconv2_2.relu": (64, 112), "unpool1": (64, 224), "deconv1_2.relu": (64, 224), "score": (21, 224)}
    assert {name: graph.nodes[name].type.shape for name in table} == \
        {name: ("N", c, side, side) for name, (c, side) in table.items()}
    # each unpool reads the switches of the pool at its size, int64 as torch's
    for k in range(1, 6):
        switches = graph.nodes[f"unpool{k}"].inputs[1]
        assert switches == f"pool{k}.1" and graph.nodes[switches].type.dtype == "int64"


@pytest.mark.slow
def test_deconvnet_verifies():
    """torch against onnxruntime's MaxPool-with-indices and MaxUnpool kernels, the whole network."""
    checks = verify(build(SPECS / "deconvnet.yaml"), batches=(2,))
    assert all(c.ok for c in checks), render(checks)
