"""Pooling against torch.nn's MaxPool2d, AvgPool2d, LPPool2d, AdaptiveAvgPool2d and a mean;
a max pool's switches and max-unpooling against F.max_pool2d(return_indices=True) and
F.max_unpool2d, and (the harness's ONNX stage) against onnxruntime's own MaxPool-with-indices
and MaxUnpool kernels, whose indices run over N·C·H·W where torch's run over one plane; and a
4×4 map pooled and unpooled on paper."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from harness import Case, Fn, Refusal, analyse_layer, op_tests
from nncompile.compiler import analyse, to_onnx, to_torch
from nncompile.compiler.verify import render, verify

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
    # H = 9, W = 13: ceil mode rounds 4.5 up; with padding 1 it drops a window starting in the padding
    Case("maxpool2d", {"kernel": 2, "ceil_mode": True}, [("N", 3, "H", "W")], lambda: nn.MaxPool2d(2, ceil_mode=True),
         id="symbolic-ceil"),
    Case("maxpool2d", {"kernel": 2, "padding": 1, "ceil_mode": True}, [("N", 3, "H", "W")],
         lambda: nn.MaxPool2d(2, padding=1, ceil_mode=True), id="symbolic-padded-ceil"),
    Case("maxpool2d", {"kernel": 2, "return_indices": True, "index": 1}, [("N", 8, 28, 28)],
         lambda: Fn(lambda x: F.max_pool2d(x, 2, return_indices=True)[1]), id="deconvnet-switches"),
    Case("maxpool2d", {"kernel": 2, "return_indices": True, "index": 0}, [("N", 8, 28, 28)],
         lambda: nn.MaxPool2d(2), id="deconvnet-values"),
    Case("maxpool2d", {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True, "return_indices": True, "index": 1},
         IMAGE, lambda: Fn(lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True)[1]),
         id="switches-padded-ceil"),
    Case("maxpool2d", {"kernel": [3, 2], "stride": [1, 2], "return_indices": True, "index": -1}, [("N", 2, 7, 9)],
         lambda: Fn(lambda x: F.max_pool2d(x, (3, 2), (1, 2), return_indices=True)[1]), id="switches-rectangular"),
    Case("maxpool2d", {"kernel": 2, "return_indices": True, "index": 1}, [("N", 3, "H", "W")],
         lambda: Fn(lambda x: F.max_pool2d(x, 2, return_indices=True)[1]), id="switches-symbolic"),
    # the switches are a graph input here, float32 as every input is (drawn by the op: the
    # places a max pool of random values would give); a pool's own are int64
    Case("max_unpool2d", {"kernel": 2}, [("N", 4, 7, 7)] * 2,
         lambda: Fn(lambda v, i: F.max_unpool2d(v, i.long(), 2)), id="deconvnet-unpool"),
    Case("max_unpool2d", {"kernel": 2, "output_size": [15, 9]}, [("N", 2, 7, 4)] * 2,
         lambda: Fn(lambda v, i: F.max_unpool2d(v, i.long(), 2, output_size=(15, 9))), id="unpool-odd-size"),
    Case("max_unpool2d", {"kernel": 2, "output_size": [13, 8]}, [("N", 2, 7, 4)] * 2,  # a ceil-mode pool's
         lambda: Fn(lambda v, i: F.max_unpool2d(v, i.long(), 2, output_size=(13, 8))), id="unpool-below-the-default"),
    Case("max_unpool2d", {"kernel": 3, "stride": 2, "padding": 1}, [("N", 3, 5, 6)] * 2,
         lambda: Fn(lambda v, i: F.max_unpool2d(v, i.long(), 3, 2, 1)), id="unpool-overlapping-padded"),
    Case("max_unpool2d", {"kernel": 2}, [("N", 2, 4, 5), ("N", 2, 4, 5), ("N", 1, 9, 11)],
         lambda: Fn(lambda v, i, like: F.max_unpool2d(v, i.long(), 2, output_size=like.shape[-2:])),
         id="unpool-to-a-tensors-size"),
    Case("max_unpool2d", {"kernel": 2}, [("N", 3, "H", "W")] * 2,
         lambda: Fn(lambda v, i: F.max_unpool2d(v, i.long(), 2)), id="unpool-symbolic"),
    Case("max_unpool2d", {"kernel": [2, 1], "stride": [2, 1]}, [("N", 2, "H", 3), ("N", 2, "H", 3), ("N", 2, "Q", 3)],
         lambda: Fn(lambda v, i, like: F.max_unpool2d(v, i.long(), (2, 1), (2, 1), output_size=like.shape[-2:])),
         id="unpool-symbolic-to-a-tensors-size"),
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
    Refusal("maxpool2d", {"kernel": 2, "index": 1}, [("N", 1, 8, 8)], "shape-mismatch",
            fragments=["one output", "return_indices"], id="switches-without-return-indices"),
    Refusal("maxpool2d", {"kernel": 2, "return_indices": True, "index": 2}, [("N", 1, 8, 8)], "shape-mismatch",
            fragments=["2 outputs"], id="switches-index-out-of-range"),
    Refusal("max_unpool2d", {"kernel": 2}, [("N", 2, 4, 4), ("N", 2, 4, 5)], "shape-mismatch",
            lambda: Fn(lambda v, i: F.max_unpool2d(v, i.long(), 2)), fragments=["differ in shape"],
            id="unpool-switches-of-another-shape"),
    Refusal("max_unpool2d", {"kernel": 2, "output_size": [17, 8]}, [("N", 2, 7, 4)] * 2, "shape-mismatch",
            lambda: Fn(lambda v, i: F.max_unpool2d(v, i.long().clamp(0, 0), 2, output_size=(17, 8))),
            fragments=["unpooling gives 14", "only 13 to 15"], id="unpool-size-no-pool-gives"),
    Refusal("max_unpool2d", {"kernel": 2, "output_size": [8, 8]}, [("N", 2, 4, 4), ("N", 2, 4, 4), ("N", 2, 8, 8)],
            "shape-mismatch", fragments=["given twice"], id="unpool-size-given-twice"),
    Refusal("max_unpool2d", {"kernel": 2, "output_size": [8, 8]}, [("N", 2, "H", 4)] * 2, "shape-mismatch",
            fragments=["symbolic H size H", "third input"], id="unpool-fixed-size-of-a-symbolic-one"),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)


def test_ceil_mode_arithmetic_says_it_rounded_up(tmp_path):
    graph = analyse_layer(tmp_path, "maxpool2d", {"kernel": 3, "stride": 2, "ceil_mode": True}, [("N", 1, 112, 112)])
    assert graph.nodes["y"].arithmetic == ["(112 − 3 + 2·0)/2 + 1 = 55.5 → 56 (ceil)"]


# a 4×4 plane pooled 2×2 by hand: the windows' maxima 4, 6 / 9, 7 sit at (1, 1), (1, 3) / (2, 1), (3, 3)
PLANE = [[1, 2, 5, 0],
         [3, 4, 1, 6],
         [0, 9, 2, 2],
         [8, 1, 3, 7]]
PLANE_SWITCHES = [[1 * 4 + 1, 1 * 4 + 3], [2 * 4 + 1, 3 * 4 + 3]]
TRANSPOSED_SWITCHES = [[1 * 4 + 1, 1 * 4 + 2], [3 * 4 + 1, 3 * 4 + 3]]  # its maxima 4, 9 / 6, 7
UNPOOLED = [[0, 0, 0, 0],
            [0, 4, 0, 6],
            [0, 9, 0, 0],
            [0, 0, 0, 7]]


def _pool_unpool_spec(tmp_path, shape, values_first=True):
    unpool_in = ["pool.0", "pool.1"] if values_first else ["pool.1", "pool.0"]
    spec = {"name": "unpool", "inputs": {"x": list(shape)},
            "layers": [{"pool": {"op": "maxpool2d", "kernel": 2, "return_indices": True}},
                       {"up": {"op": "max_unpool2d", "in": unpool_in, "kernel": 2}}],
            "outputs": ["pool.0", "pool.1", "up"]}
    path = tmp_path / "unpool.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return analyse(path)


def test_a_map_worked_on_paper_in_torch_and_onnxruntime(tmp_path):
    """Two samples of two planes each, so that ONNX's N·C·H·W indices differ from torch's."""
    x = np.array(PLANE, np.float32)
    batch = np.stack([np.stack([x, x.T]), np.stack([x.T, x])])
    graph = _pool_unpool_spec(tmp_path, ("N", 2, 4, 4))
    assert not graph.errors and graph.nodes["pool.1"].type.dtype == "int64"
    values = [[[[4, 6], [9, 7]], [[4, 9], [6, 7]]], [[[4, 9], [6, 7]], [[4, 6], [9, 7]]]]
    switches = [[PLANE_SWITCHES, TRANSPOSED_SWITCHES], [TRANSPOSED_SWITCHES, PLANE_SWITCHES]]
    unpooled = np.array(UNPOOLED, np.float32)
    unpooled = [[unpooled, unpooled.T], [unpooled.T, unpooled]]
    with torch.no_grad():
        torch_outputs = [t.numpy() for t in to_torch(graph).eval()(torch.from_numpy(batch))]
    session = ort.InferenceSession(to_onnx(graph).SerializeToString(), providers=["CPUExecutionProvider"])
    for outputs in (torch_outputs, session.run(None, {"x": batch})):
        np.testing.assert_array_equal(outputs[0], values)
        assert outputs[1].dtype == np.int64
        np.testing.assert_array_equal(outputs[1], switches)
        np.testing.assert_array_equal(outputs[2], unpooled)


@pytest.mark.parametrize("sizes", [{"H": 15, "W": 11}, {"H": 8, "W": 6}])
def test_switches_of_onnxruntimes_pool_unpool_as_torchs_at_odd_and_even_sizes(tmp_path, sizes):
    """End to end: onnxruntime's MaxPool indices, converted, feed its MaxUnpool; an odd size is
    recovered from the pool's input, the third input."""
    spec = {"name": "chain", "inputs": {"x": ["N", 3, "H", "W"]},
            "layers": [{"pool": {"op": "maxpool2d", "kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                                 "return_indices": True}},
                       {"up": {"op": "max_unpool2d", "in": ["pool.0", "pool.1", "x"], "kernel": 3, "stride": 2,
                               "padding": 1}},
                       {"pool2": {"op": "maxpool2d", "in": "x", "kernel": 2, "return_indices": True}},
                       {"up2": {"op": "max_unpool2d", "in": ["pool2.0", "pool2.1", "x"], "kernel": 2}}],
            "outputs": ["up", "up2", "pool.1"]}
    path = tmp_path / "chain.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")
    graph = analyse(path)
    assert [str(graph.nodes[n].type) for n in ("up", "up2")] == ["N×3×H×W"] * 2
    checks = verify(graph, batches=(1, 2), sizes=sizes)
    assert all(c.ok for c in checks), render(checks)


def test_unpooled_values_keep_the_maxima_in_place(tmp_path):
    """Pooling the unpooled map of a positive input again gives its values and switches back
    (a negative maximum would lose to the zeros around it)."""
    graph = _pool_unpool_spec(tmp_path, ("N", 3, 10, 12))
    module = to_torch(graph).eval()
    x = torch.rand(2, 3, 10, 12) + 0.1
    values, switches, unpooled = module(x)
    again, switches_again = F.max_pool2d(unpooled, 2, return_indices=True)
    torch.testing.assert_close(again, values)
    assert torch.equal(switches_again, switches) and (unpooled != 0).sum() == values.numel()


def test_switches_given_first_are_refused_at_their_line(tmp_path):
    graph = _pool_unpool_spec(tmp_path, ("N", 2, 4, 4), values_first=False)
    [error] = graph.errors
    assert error.code == "shape-mismatch" and "'pool.1' holds integers (int64)" in error.message
    assert "`in: [values, pool.1]`" in error.notes[0]
    assert error.span is not None and error.span.line >= 1


def test_switches_read_by_a_convolution_are_refused_not_left_to_torch(tmp_path):
    """torch would stop at run time ("expected scalar type Float but found Long")."""
    with pytest.raises(RuntimeError, match="Long"):
        F.conv2d(F.max_pool2d(torch.randn(1, 2, 4, 4), 2, return_indices=True)[1], torch.randn(3, 2, 1, 1))
    spec = {"name": "typo", "inputs": {"x": ["N", 2, 4, 4]},
            "layers": [{"pool": {"op": "maxpool2d", "kernel": 2, "return_indices": True}},
                       {"conv": {"op": "conv2d", "in": "pool.1", "out_channels": 3, "kernel": 1}}]}
    path = tmp_path / "typo.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")
    [error] = analyse(path).errors
    assert "its input 'pool.1' holds integers (int64), which conv2d does not read" in error.message


def test_unpooling_to_another_size_than_the_pools_input_is_refused(tmp_path):
    """A 15×15 map pooled by 2 unpools by default to 14×14, where its switches do not fit."""
    values, switches = F.max_pool2d(torch.arange(225.0).reshape(1, 1, 15, 15), 2, return_indices=True)
    with pytest.raises(RuntimeError, match="invalid max index"):
        F.max_unpool2d(values, switches, 2)
    [error] = _pool_unpool_spec(tmp_path, ("N", 1, 15, 15)).errors
    assert "the switches index the pool's 15×15 input, but this unpooling gives 14×14" in error.message
    assert "third input" in error.notes[0]
