"""Detection ops against three truths: torchvision's own pure-Python AnchorGenerator, BoxCoder,
clip_boxes_to_image, remove_small_boxes, RegionProposalNetwork.filter_proposals and
RoIHeads.postprocess_detections (the harness's references); onnxruntime's NonMaxSuppression
and TopK kernels (the harness's ONNX stage, and below against the plain-torch NMS on random
boxes with ties, classes and batches); and NMS cases worked on paper.

torchvision's nms is a compiled kernel that does not load here: the references call it
through torchvision.ops.boxes.nms, which they replace by onnxruntime's NonMaxSuppression
(a kernel nobody here wrote), so torchvision's own code does everything else."""

import numpy as np
import pytest
import torch

from harness import Case, Fn, Refusal, analyse_layer, op_tests


def torchvision_or_skip():
    """Imported when a case runs, so scripts/gen_op_tables.py reads the cases without tests/ on its path."""
    from torchvision_shim import torchvision_or_skip

    return torchvision_or_skip()


def per_image(results):
    """Each image's results (a list of columns) as our ops give them: [batch index, …] rows, image by image."""
    return torch.cat([torch.cat([torch.full((len(r[0]), 1), float(b)), *r], 1) for b, r in enumerate(results)])


def torchvision_anchors(sizes, ratios):
    tv = torchvision_or_skip()
    from torchvision.models.detection.image_list import ImageList

    generator = tv.models.detection.anchor_utils.AnchorGenerator((tuple(sizes),), (tuple(ratios),))
    return Fn(lambda image, x: generator(ImageList(image, [image.shape[-2:]] * len(image)), [x])[0])


def torchvision_decode(weights, clip=False):
    tv = torchvision_or_skip()
    coder = tv.models.detection._utils.BoxCoder(tuple(weights))

    def decode(deltas, boxes, *image):
        decoded = coder.decode(deltas, [boxes[:, -4:]])
        return tv.ops.clip_boxes_to_image(decoded, image[0].shape[-2:]) if clip else decoded

    return Fn(decode)


def torchvision_proposals(pre_nms_top_n, post_nms_top_n, nms_thresh, min_size=1e-3, score_thresh=0.0):
    """torchvision's RegionProposalNetwork from the head's outputs on: its layout of the levels
    (concat_box_prediction_layers), its BoxCoder and its filter_proposals."""
    tv = torchvision_or_skip()
    from torchvision.models.detection import rpn
    from torchvision_shim import nms_by_onnxruntime

    network = rpn.RegionProposalNetwork(None, None, 0.7, 0.3, 256, 0.5, dict(testing=pre_nms_top_n),
                                        dict(testing=post_nms_top_n), nms_thresh, score_thresh).eval()
    network.min_size = min_size

    def proposals(image, *levels):
        count = len(levels) // 3
        objectness, deltas = rpn.concat_box_prediction_layers(list(levels[:count]), list(levels[count:2 * count]))
        anchors = [torch.cat(levels[2 * count:])] * len(image)
        boxes = network.box_coder.decode(deltas, anchors).view(len(image), -1, 4)
        with nms_by_onnxruntime(tv):
            kept, _ = network.filter_proposals(boxes, objectness, [image.shape[-2:]] * len(image),
                                               [a.shape[0] for a in levels[2 * count:]])
        return per_image([[k] for k in kept])

    return Fn(proposals)


def torchvision_detections(score_thresh=0.05, nms_thresh=0.5, detections_per_img=100, weights=(10, 10, 5, 5)):
    tv = torchvision_or_skip()
    from torchvision.models.detection.roi_heads import RoIHeads
    from torchvision_shim import nms_by_onnxruntime

    heads = RoIHeads(None, None, None, 0.5, 0.5, 512, 0.25, tuple(weights), score_thresh, nms_thresh,
                     detections_per_img).eval()

    def detections(image, proposals, logits, deltas):
        boxes = [proposals[proposals[:, 0] == b, 1:] for b in range(len(image))]  # grouped by image
        with nms_by_onnxruntime(tv):
            found = heads.postprocess_detections(logits, deltas, boxes, [image.shape[-2:]] * len(image))
        return per_image([[b, s[:, None], l[:, None].float()] for b, s, l in zip(*found)])

    return Fn(detections)


IMAGE = ("N", 3, 64, 64)
LEVELS = [(8, 8), (4, 4)]  # a 64×64 image at strides 8 and 16
RPN_INPUTS = [IMAGE, *[("N", 3, h, w) for h, w in LEVELS], *[("N", 12, h, w) for h, w in LEVELS],
              *[(h * w * 3, 4) for h, w in LEVELS]]
HEADS_INPUTS = [IMAGE, ("R", 5), ("R", 5), ("R", 20)]

CASES = [
    Case("anchors", {"sizes": [32]}, [("N", 3, 64, 80), ("N", 8, 8, 10)], lambda: torchvision_anchors([32], [0.5, 1, 2]),
         id="anchors-fpn-level", first_dim=240),
    # an image of 100 × 64 over a 4 × 3 map: strides 100 // 4 = 25 and 64 // 3 = 21, as torchvision's
    Case("anchors", {"sizes": [128, 256], "aspect_ratios": [1.0, 2.0]}, [("N", 3, 100, 64), ("N", 2, 4, 3)],
         lambda: torchvision_anchors([128, 256], [1, 2]), id="anchors-uneven-strides", first_dim=48),
    Case("anchors", {"sizes": [16]}, [("N", 3, "P", "Q"), ("N", 4, "H", "W")],
         lambda: torchvision_anchors([16], [0.5, 1, 2]), id="anchors-symbolic", first_dim="3·H·W"),
    Case("decode_boxes", {}, [("R", 8), ("R", 4)], lambda: torchvision_decode([1, 1, 1, 1]), id="decode-rpn"),
    Case("decode_boxes", {"weights": [10, 10, 5, 5]}, [("R", 12), ("R", 5), IMAGE],
         lambda: torchvision_decode([10, 10, 5, 5], clip=True), id="decode-heads-clipped"),
    Case("rpn_proposals", {"pre_nms_top_n": 50, "post_nms_top_n": 30}, RPN_INPUTS,
         lambda: torchvision_proposals(50, 30, 0.7), id="rpn-two-levels", first_dim="R≤N·30"),
    # fewer boxes than post_nms_top_n survive: R is what the data leave
    Case("rpn_proposals", {"pre_nms_top_n": 20, "post_nms_top_n": 100, "nms_thresh": 0.3, "min_size": 4.0,
                           "score_thresh": 0.4}, RPN_INPUTS,
         lambda: torchvision_proposals(20, 100, 0.3, 4.0, 0.4), id="rpn-strict", first_dim="R≤N·100"),
    Case("detections", {}, HEADS_INPUTS, torchvision_detections, id="detections-default", first_dim="D≤N·100"),
    Case("detections", {"score_thresh": 0.2, "nms_thresh": 0.3, "detections_per_img": 3, "weights": [1, 1, 1, 1]},
         HEADS_INPUTS, lambda: torchvision_detections(0.2, 0.3, 3, (1, 1, 1, 1)), id="detections-few",
         first_dim="D≤N·3"),
    Case("detections", {"detections_per_img": 40}, [IMAGE, (60, 5), (60, 11), (60, 44)],
         lambda: torchvision_detections(0.05, 0.5, 40), id="detections-many", first_dim="D≤N·40"),
]

REFUSALS = [
    Refusal("decode_boxes", {}, [("R", 6), ("R", 4)], "shape-mismatch", id="decode-deltas-not-4k", fragments=["4K"]),
    Refusal("rpn_proposals", {}, RPN_INPUTS[:-1], "shape-mismatch", id="rpn-inputs-not-3l", fragments=["3·L"]),
    Refusal("rpn_proposals", {}, [*RPN_INPUTS[:-1], (47, 4)], "shape-mismatch", id="rpn-anchor-count",
            fragments=["48×4"]),
    Refusal("detections", {}, [IMAGE, ("R", 5), ("R", 5), ("R", 16)], "shape-mismatch", id="detections-deltas"),
    Refusal("anchors", {"sizes": [32]}, [("N", 3, 16, 16), ("N", 3, 32, 32)], "shape-mismatch",
            id="anchors-map-beyond-image"),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)


# --- NMS: the plain-torch loop against onnxruntime's kernel, and on paper ---------------------

def torch_nms(boxes, scores, groups, threshold):
    from nncompile.compiler.backends.torch_detection import BoxCoder

    return BoxCoder.nms(torch.as_tensor(boxes), torch.as_tensor(scores), torch.as_tensor(groups), threshold).tolist()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_equals_onnxruntimes(seed, threshold):
    """Random boxes, a third of them copies of others (IoU 1), scores rounded to a few values
    (ties), three classes and two images: the boxes each keeps, in its order."""
    from torchvision_shim import onnxruntime_nms

    rng = np.random.default_rng(seed)
    corners = rng.uniform(0, 50, (120, 2)).astype(np.float32)
    boxes = np.concatenate([corners, corners + rng.uniform(1, 30, (120, 2)).astype(np.float32)], 1)
    boxes[80:] = boxes[rng.integers(0, 80, 40)]
    scores = rng.integers(0, 8, 120).astype(np.float32) / 8
    classes, images = rng.integers(0, 3, 120), rng.integers(0, 2, 120)
    want = onnxruntime_nms(boxes, scores, classes, threshold, images)  # image, then class, then score
    got = torch_nms(boxes, scores, images * 3 + classes, threshold)  # by score
    assert sorted(got) == sorted(want.tolist())
    group_order = sorted(got, key=lambda i: (images[i], classes[i]))  # stable: each group's own order kept
    assert group_order == want.tolist()


A, B, C = [0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]  # IoU(A, B) = 81 / 119 = 0.68


@pytest.mark.parametrize("boxes, scores, groups, threshold, kept", [
    ([A, B, C], [0.9, 0.8, 0.7], [0, 0, 0], 0.5, [0, 2]),  # B overlaps A by 0.68 > 0.5
    ([A, B, C], [0.9, 0.8, 0.7], [0, 0, 0], 0.7, [0, 1, 2]),  # 0.68 ≤ 0.7: all stay
    ([B, A, C], [0.8, 0.9, 0.7], [0, 0, 0], 0.5, [1, 2]),  # by score, not by place
    # a chain: A takes out its neighbour (IoU 50/150 = ⅓), which then takes out nothing
    ([A, [5, 0, 15, 10], [10, 0, 20, 10]], [0.9, 0.8, 0.7], [0, 0, 0], 0.3, [0, 2]),
    ([A, A, A], [0.5, 0.5, 0.5], [0, 0, 0], 0.5, [0]),  # equal scores: the first
    ([A, A, A], [0.5, 0.6, 0.5], [0, 0, 1], 0.5, [1, 2]),  # groups apart
    ([A, [0, 0, 10, 0]], [0.5, 0.9], [0, 0], 0.0, [1, 0]),  # an empty box overlaps nothing
    ([], [], [], 0.5, []),
], ids=str)
def test_nms_worked_on_paper(boxes, scores, groups, threshold, kept):
    from torchvision_shim import onnxruntime_nms

    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    assert torch_nms(boxes, np.asarray(scores, np.float32), np.asarray(groups), threshold) == kept
    if len(boxes):
        assert sorted(onnxruntime_nms(boxes, scores, groups, threshold).tolist()) == sorted(kept)


def test_remove_small_boxes_and_clipping_as_torchvisions(tmp_path):
    """Decoded boxes beyond the image and of every size: the RPN's clip and min_size rule
    (clip_boxes_to_image, remove_small_boxes) keep what torchvision's keep, through the op."""
    from nncompile.compiler import to_torch

    tv = torchvision_or_skip()
    graph = analyse_layer(tmp_path, "rpn_proposals", {"pre_nms_top_n": 200, "post_nms_top_n": 200,
                                                      "nms_thresh": 1.0, "min_size": 6.0},
                          [IMAGE, ("N", 1, 8, 8), ("N", 4, 8, 8), (64, 4)])
    rng = np.random.default_rng(3)
    objectness = torch.from_numpy(rng.standard_normal((1, 1, 8, 8)).astype(np.float32))
    deltas = torch.from_numpy(rng.uniform(-1, 1, (1, 4, 8, 8)).astype(np.float32))
    corners = torch.from_numpy(rng.uniform(-20, 70, (64, 2)).astype(np.float32))
    anchors = torch.cat([corners, corners + torch.from_numpy(rng.uniform(1, 20, (64, 2)).astype(np.float32))], 1)
    with torch.no_grad():
        got = to_torch(graph).eval()(torch.zeros(IMAGE[1:])[None], objectness, deltas, anchors)
    boxes = tv.models.detection._utils.BoxCoder((1, 1, 1, 1)).decode(
        deltas.reshape(1, 4, 64).permute(0, 2, 1).reshape(-1, 4), [anchors]).reshape(-1, 4)
    boxes = tv.ops.clip_boxes_to_image(boxes, (64, 64))
    small = set(range(64)) - set(tv.ops.remove_small_boxes(boxes, 6.0).tolist())
    assert 10 < len(small) < 54  # the rule matters here
    order = torch.sort(objectness.reshape(-1), descending=True, stable=True).indices
    want = boxes[[int(i) for i in order if int(i) not in small]]
    torch.testing.assert_close(got[:, 1:], want)


def test_empty_results_run_in_onnxruntime(tmp_path):
    """Every score under the threshold: no detections, an empty [0, 7], in torch and onnxruntime."""
    import onnxruntime

    from nncompile.compiler import to_onnx, to_torch

    graph = analyse_layer(tmp_path, "detections", {"score_thresh": 1.0}, HEADS_INPUTS)
    rng = np.random.default_rng(0)
    feeds = {"x0": np.zeros((2, 3, 64, 64), np.float32), "x1": np.array([[0, 1, 1, 9, 9], [1, 2, 2, 8, 8]], np.float32),
             "x2": rng.standard_normal((2, 5)).astype(np.float32), "x3": rng.standard_normal((2, 20)).astype(np.float32)}
    with torch.no_grad():
        want = to_torch(graph).eval()(*(torch.from_numpy(v) for v in feeds.values()))
    session = onnxruntime.InferenceSession(to_onnx(graph).SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, feeds)
    assert want.shape == got.shape == (0, 7)
