"""RoI pooling against three truths: onnxruntime's own MaxRoiPool and RoiAlign kernels (the
harness's ONNX stage, and below on boxes that leave the map), torchvision's pure-Python
roi_align and MultiScaleRoIAlign (the harness's reference; its roi_pool needs the C++ kernel,
so roi_pool's reference is the Caffe kernel's loop written out here), and 4×4 maps worked on
paper.

torchvision's pure-Python roi_align and its C++ kernel differ in one corner: the kernel (and
onnxruntime) count a sample more than a cell beyond the map as 0, the Python path clamps it
onto the border. nncompile follows the kernel; the harness's boxes lie inside the image, where
all agree, and test_boxes_beyond_the_map checks the corner against onnxruntime alone."""

import math
from collections import OrderedDict

import numpy as np
import pytest
import torch

from harness import Case, Fn, Refusal, analyse_layer, op_tests
from nncompile.compiler.ops import REGISTRY


def caffe_roi_pool(output_size, spatial_scale):
    """Fast R-CNN's RoI pooling as Caffe's (and torchvision's C++) kernel loops over it."""

    def pool(x, rois):
        h_out, w_out = output_size
        out = torch.zeros(len(rois), x.shape[1], h_out, w_out)
        for r, (b, *box) in enumerate(rois.tolist()):
            x1, y1, x2, y2 = (math.floor(abs(v * spatial_scale) + 0.5) * (1 if v >= 0 else -1) for v in box)
            bin_h, bin_w = max(y2 - y1 + 1, 1) / h_out, max(x2 - x1 + 1, 1) / w_out
            for p in range(h_out):
                top = min(max(math.floor(p * bin_h) + y1, 0), x.shape[2])
                bottom = min(max(math.ceil((p + 1) * bin_h) + y1, 0), x.shape[2])
                for q in range(w_out):
                    left = min(max(math.floor(q * bin_w) + x1, 0), x.shape[3])
                    right = min(max(math.ceil((q + 1) * bin_w) + x1, 0), x.shape[3])
                    if bottom > top and right > left:
                        out[r, :, p, q] = x[int(b), :, top:bottom, left:right].amax((1, 2))
        return out

    return lambda: Fn(pool)


def torchvision_or_skip():
    """Imported when a case runs, so scripts/gen_op_tables.py reads the cases without tests/ on its path."""
    from torchvision_shim import torchvision_or_skip

    return torchvision_or_skip()


def torchvision_roi_align(output_size, spatial_scale=1.0, sampling_ratio=0, aligned=False):
    tv = torchvision_or_skip()
    return Fn(lambda x, rois: tv.ops.roi_align(x, rois, output_size, spatial_scale, sampling_ratio, aligned))


def torchvision_multiscale(output_size, sampling_ratio, scales, canonical_scale=None):
    """torchvision's MultiScaleRoIAlign; it takes boxes per image, and the image's size (from
    which it finds the maps' scales)."""
    tv = torchvision_or_skip()
    pooler = tv.ops.MultiScaleRoIAlign([str(k) for k in range(len(scales))], output_size, sampling_ratio,
                                       **({} if canonical_scale is None else {"canonical_scale": canonical_scale}))

    def pool(*inputs):
        *maps, rois = inputs
        image = tuple(round(n / scales[0]) for n in maps[0].shape[2:])
        order = torch.argsort(rois[:, 0], stable=True)  # torchvision's output lists image 0's boxes first
        boxes = [rois[order][rois[order][:, 0] == b, 1:] for b in range(maps[0].shape[0])]
        pooled = pooler(OrderedDict((str(k), m) for k, m in enumerate(maps)), boxes, [image] * len(boxes))
        return pooled[torch.argsort(order)]

    return Fn(pool)


MAP = ("N", 3, "H", "W")
BOXES = ("R", 5)
FPN = [("N", 4, 32, 32), ("N", 4, 16, 16), ("N", 4, 8, 8), ("N", 4, 4, 4)]  # a 128×128 image

CASES = [
    Case("roi_pool", {"output_size": 7, "spatial_scale": 0.0625}, [("N", 512, 14, 14), BOXES],
         caffe_roi_pool((7, 7), 0.0625), id="fast-rcnn-pool5"),
    Case("roi_pool", {"output_size": [2, 3]}, [MAP, BOXES], caffe_roi_pool((2, 3), 1.0), id="roi-pool-symbolic"),
    Case("roi_pool", {"output_size": 3, "spatial_scale": 0.5}, [("N", 2, 6, 5), BOXES],
         caffe_roi_pool((3, 3), 0.5), id="roi-pool-half"),
    Case("roi_align", {"output_size": 7, "spatial_scale": 0.25, "sampling_ratio": 2}, [("N", 8, 16, 16), BOXES],
         lambda: torchvision_roi_align((7, 7), 0.25, 2), id="roi-align-mask-rcnn"),
    Case("roi_align", {"output_size": [2, 3]}, [MAP, BOXES], lambda: torchvision_roi_align((2, 3)),
         id="roi-align-adaptive"),
    Case("roi_align", {"output_size": 3, "aligned": True, "spatial_scale": 0.5}, [MAP, BOXES],
         lambda: torchvision_roi_align((3, 3), 0.5, 0, True), id="roi-align-aligned"),
    Case("roi_align", {"output_size": 2, "aligned": True, "sampling_ratio": 3}, [("N", 2, 5, 7), BOXES],
         lambda: torchvision_roi_align((2, 2), 1.0, 3, True), id="roi-align-aligned-3"),
    Case("multiscale_roi_align", {"output_size": 7, "spatial_scales": [0.25, 0.125, 0.0625, 0.03125]},
         [*FPN, BOXES], lambda: torchvision_multiscale((7, 7), 2, [0.25, 0.125, 0.0625, 0.03125]),
         id="multiscale-fpn"),
    Case("multiscale_roi_align", {"output_size": [2, 3], "spatial_scales": [0.125, 0.0625], "sampling_ratio": 0},
         [("N", 2, 16, 12), ("N", 2, 8, 6), BOXES], lambda: torchvision_multiscale((2, 3), 0, [0.125, 0.0625]),
         id="multiscale-two-levels-adaptive"),
    # s0 = 24 on a 128² image: the 40 boxes drawn fall on every level (4, 7, 15, 14; checked below)
    Case("multiscale_roi_align", {"output_size": 3, "spatial_scales": [0.25, 0.125, 0.0625, 0.03125],
                                  "canonical_scale": 24}, [*FPN, (40, 5)],
         lambda: torchvision_multiscale((3, 3), 2, [0.25, 0.125, 0.0625, 0.03125], 24), first_dim=40,
         id="multiscale-every-level"),
    # s0 = 0.001: every box goes to the coarsest map, the finer ones pool an empty set
    Case("multiscale_roi_align", {"output_size": 2, "spatial_scales": [0.25, 0.125, 0.0625], "canonical_scale": 0.001},
         [*FPN[:3], BOXES], lambda: torchvision_multiscale((2, 2), 2, [0.25, 0.125, 0.0625], 0.001),
         id="multiscale-empty-levels"),
]

REFUSALS = [
    Refusal("roi_align", {"output_size": 7}, [MAP, ("R", 4)], "shape-mismatch", id="roi-align-boxes-of-4",
            fragments=["R×5"]),
    Refusal("roi_pool", {"output_size": 7}, [("N", 3, 8), BOXES], "shape-mismatch", id="roi-pool-rank-3-map"),
    Refusal("multiscale_roi_align", {"output_size": 7, "spatial_scales": [0.25, 0.0625]},
            [("N", 4, 16, 16), ("N", 4, 4, 4), BOXES], "shape-mismatch", id="multiscale-skips-a-level"),
    Refusal("multiscale_roi_align", {"output_size": 7, "spatial_scales": [0.25]},
            [("N", 4, 16, 16), ("N", 4, 8, 8), BOXES], "shape-mismatch", id="multiscale-scale-count"),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)


# --- worked on paper: a 4×4 map holding 4i + j (row i, column j), one box ---------------------

GRID = torch.arange(16.0).reshape(1, 1, 4, 4)  # bilinear in (y, x): a sample at (y, x) is 4y + x


def run_layer(tmp_path, op, attrs, x, rois):
    from nncompile.compiler import to_torch

    graph = analyse_layer(tmp_path, op, attrs, [("N", *x.shape[1:]), ("R", 5)])
    assert not graph.errors, [d.message for d in graph.errors]
    with torch.no_grad():
        return to_torch(graph).eval()(x, rois)


@pytest.mark.parametrize("op, attrs, box, want", [
    # the whole map in 2×2 bins of 2×2 cells: each bin's bottom-right cell
    ("roi_pool", {"output_size": 2}, [0, 0, 0, 3, 3], [[5, 7], [13, 15]]),
    # x2 = 2.5 rounds away from zero to 3 (torch.round would give 2), y 0.6 and 1.4 to row 1: one
    # row of 4 cells; both bins of a one-row box span that row, ⌊0.5⌋ = 0 … ⌈1⌉ = 1
    ("roi_pool", {"output_size": 2}, [0, 0.4, 0.6, 2.5, 1.4], [[5, 7], [5, 7]]),
    # spatial_scale ½: the box 0…6 in the image is cells 0…3
    ("roi_pool", {"output_size": 1, "spatial_scale": 0.5}, [0, 0, 0, 6, 6], [[15]]),
    # samples at 0.5 and 1.5 on each axis: their mean is (1, 1), 4 + 1 = 5
    ("roi_align", {"output_size": 1, "sampling_ratio": 2}, [0, 0, 0, 2, 2], [[5]]),
    # aligned: the box moves by −½, samples at 0 and 1: (0.5, 0.5), 2.5
    ("roi_align", {"output_size": 1, "sampling_ratio": 2, "aligned": True}, [0, 0, 0, 2, 2], [[2.5]]),
    # samples at 2.75 and 4.25: beyond 4 (the map's size) a sample is 0, so one of four counts:
    # 4·2.75 + 2.75 = 13.75, over 4 = 3.4375
    ("roi_align", {"output_size": 1, "sampling_ratio": 2}, [0, 2, 2, 5, 5], [[3.4375]]),
    # one sample at 3.5, past the last row and column: their value, 15
    ("roi_align", {"output_size": 1, "sampling_ratio": 1}, [0, 3, 3, 4, 4], [[15]]),
    # adaptive: a box of 0.5 cell counts as 1 (legacy, not aligned), one sample at its centre
    # (1 + 0.5, 1 + 0.5) → 4·1.5 + 1.5 = 7.5
    ("roi_align", {"output_size": 1}, [0, 1, 1, 1.5, 1.5], [[7.5]]),
    # 2×1 bins of height 1.5, adaptive ⌈1.5⌉ = 2 samples each: rows 0.375, 1.125 and 1.875, 2.625;
    # one column sample at x = 1.5: 4·0.75 + 1.5 = 4.5 and 4·2.25 + 1.5 = 10.5
    ("roi_align", {"output_size": [2, 1]}, [0, 1, 0, 2, 3], [[4.5], [10.5]]),
], ids=str)
def test_worked_on_paper(tmp_path, op, attrs, box, want):
    got = run_layer(tmp_path, op, attrs, GRID, torch.tensor([box], dtype=torch.float32))
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float32)[None, None])


def test_multiscale_level_from_box_size(tmp_path):
    """FPN's eq. 1 on four maps whose values are their level: a 224-pixel box comes from level 4,
    448 from 5, 112 from 3, 56 and anything smaller from 2, 1000 is clamped to 5."""
    maps = [torch.full((1, 1, 1024 >> k, 1024 >> k), float(k)) for k in range(2, 6)]  # a 1024² image
    sides = [224, 448, 112, 56, 10, 1000, 223.9]
    rois = torch.tensor([[0, 0, 0, s, s] for s in sides], dtype=torch.float32)
    graph = analyse_layer(tmp_path, "multiscale_roi_align",
                          {"output_size": 1, "spatial_scales": [0.25, 0.125, 0.0625, 0.03125]},
                          [m.shape for m in maps] + [("R", 5)])
    from nncompile.compiler import to_onnx, to_torch

    with torch.no_grad():
        got = to_torch(graph).eval()(*maps, rois).flatten()
    assert got.tolist() == [4, 5, 3, 2, 2, 5, 3]
    ort = onnx_session(to_onnx(graph))
    (from_onnx,) = ort.run(None, {**{f"x{k}": m.numpy() for k, m in enumerate(maps)}, "x4": rois.numpy()})
    assert from_onnx.flatten().tolist() == [4, 5, 3, 2, 2, 5, 3]


def onnx_session(model):
    import onnxruntime

    return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("op, attrs", [
    ("roi_pool", {"output_size": 3, "spatial_scale": 0.5}),
    ("roi_align", {"output_size": 3, "spatial_scale": 0.5}),
    ("roi_align", {"output_size": [2, 4], "sampling_ratio": 2, "aligned": True}),
], ids=str)
def test_boxes_beyond_the_map(tmp_path, op, attrs):
    """Random maps and boxes that start before the image and end beyond it, negative and empty
    boxes among them: the torch lowering against onnxruntime's own kernel (MaxRoiPool,
    RoiAlign), the one truth in this corner."""
    from nncompile.compiler import to_onnx, to_torch

    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 9)).astype(np.float32)
    corners = rng.uniform(-8, 26, (40, 4)).astype(np.float32)
    corners[:10, 2:] = corners[:10, :2] + rng.uniform(-1, 0.5, (10, 2))  # inverted and tiny boxes
    rois = np.concatenate([rng.integers(0, 2, (40, 1)).astype(np.float32), corners], axis=1)
    graph = analyse_layer(tmp_path, op, attrs, [("N", 3, 7, 9), ("R", 5)])
    with torch.no_grad():
        want = to_torch(graph).eval()(torch.from_numpy(x), torch.from_numpy(rois)).numpy()
    (got,) = onnx_session(to_onnx(graph)).run(None, {"x0": x, "x1": rois})
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case_id, want", [("multiscale-every-level", [4, 7, 15, 14]),
                                           ("multiscale-empty-levels", [0, 0, 6])])
def test_multiscale_cases_cover_the_levels(case_id, want):
    """The boxes the harness draws for these cases land on the levels their comments claim."""
    from harness import _sample
    from nncompile.compiler.backends.torch_helpers import RoIAlign as Pooler

    case = next(c for c in CASES if c.id == case_id)
    a = case.attrs
    *_, rois = _sample(case.inputs, op=case.op, attrs=REGISTRY[case.op].Attrs(**a))
    pooler = Pooler((1, 1), a["spatial_scales"], first_level=round(-math.log2(a["spatial_scales"][0])),
                    canonical_scale=a["canonical_scale"])
    assert torch.bincount(pooler.levels(rois), minlength=len(a["spatial_scales"])).tolist() == want
