"""The R-CNN family's specs against the totals derived from their papers' layer tables (in each
spec's header comment), and Fast R-CNN through verify (torch against onnxruntime's MaxRoiPool;
DeconvNet's verify, against its MaxPool-with-indices and MaxUnpool, is tests/compiler/backends/
test_onnx_verify.py's, which runs every spec)."""

import json
from pathlib import Path

import pytest
import torch
from torchvision_outputs import close
from torchvision_shim import torchvision_or_skip

from nncompile.compiler import build, to_torch
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


# --- Faster and Mask R-CNN against torchvision's -------------------------------------------

REFERENCE = json.loads((SPECS.parents[1] / "shared" / "reference" / "torchvision_state_dicts.json")
                       .read_text(encoding="utf-8"))["models"]
DETECTORS = {"faster_rcnn_resnet50_fpn": "fasterrcnn_resnet50_fpn", "mask_rcnn_resnet50_fpn": "maskrcnn_resnet50_fpn"}


def torchvision_detector(tv, spec: str, trainable_layers: int = 3) -> torch.nn.Module:
    """torchvision's detector as its COCO-pretrained constructor builds it (FrozenBatchNorm2d in
    ResNet-50, trainable_backbone_layers, the COCO weights' eps 0), without downloading them."""
    from torchvision.models.detection import FasterRCNN, MaskRCNN
    from torchvision.models.detection._utils import overwrite_eps
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.ops.misc import FrozenBatchNorm2d

    body = tv.models.resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
    detector = (MaskRCNN if spec.startswith("mask") else FasterRCNN)(_resnet_fpn_extractor(body, trainable_layers),
                                                                     num_classes=91)
    overwrite_eps(detector, 0.0)
    return detector


def entries(model: torch.nn.Module) -> list[list]:
    params = {name for name, _ in model.named_parameters()}
    return [[k, list(v.shape), "param" if k in params else "buffer"] for k, v in model.state_dict().items()]


@pytest.mark.parametrize("spec", DETECTORS)
def test_detectors_have_torchvisions_totals_and_state_dict(spec):
    reference = REFERENCE[DETECTORS[spec]]
    graph = build(SPECS / f"{spec}.yaml")
    assert graph.totals.params == reference["params"] == reference["published_params"]
    assert graph.totals.buffers == reference["buffers_without_num_batches_tracked"]
    with torch.device("meta"):
        model = to_torch(graph)
    assert entries(model) == reference["state_dict"]  # one rpn.head for the five levels it serves
    frozen = [m for m in model.modules() if type(m).__name__ == "FrozenBatchNorm2d"]
    assert len(frozen) == 53 and {m.eps for m in frozen} == {0.0}  # as torchvision's COCO weights (overwrite_eps)


@pytest.mark.parametrize("layers", [0, 3, 5])
def test_trainable_backbone_layers_freeze_what_torchvisions_freezes(layers):
    tv = torchvision_or_skip()
    with torch.device("meta"):
        theirs = torchvision_detector(tv, "faster_rcnn_resnet50_fpn", layers)
        ours = to_torch(SPECS / "faster_rcnn_resnet50_fpn.yaml", {"trainable_backbone_layers": layers})
    frozen = {k for k, p in theirs.named_parameters() if not p.requires_grad}
    assert {k for k, p in ours.named_parameters() if not p.requires_grad} == frozen
    assert len(frozen) == {0: 53, 3: 11, 5: 0}[layers]  # the body's 53 convs; conv1 + layer1's 10


def random_frozen_norms(model: torch.nn.Module, generator: torch.Generator) -> None:
    """FrozenBatchNorm2d's buffers start as the identity, which would hide a swapped buffer."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    for m in model.modules():
        if isinstance(m, FrozenBatchNorm2d):
            m.weight.uniform_(0.5, 1.0, generator=generator)
            m.bias.normal_(0, 0.1, generator=generator)
            m.running_mean.normal_(0, 0.1, generator=generator)
            m.running_var.uniform_(0.5, 2.0, generator=generator)


def proposals(generator: torch.Generator, images: int, height: int, width: int) -> list[torch.Tensor]:
    """Boxes inside the image, 8 to 300 pixels a side, so FPN levels 2 to 4 all pool some."""
    boxes = []
    for _ in range(images):
        side = torch.tensor([8.0, 16, 40, 90, 130, 180, 250, 300]).repeat_interleave(2).unsqueeze(1)
        wh = torch.minimum(side * (0.7 + 0.6 * torch.rand(16, 2, generator=generator)), torch.tensor([width - 1.0,
                                                                                                     height - 1.0]))
        xy = torch.rand(16, 2, generator=generator) * (torch.tensor([width - 1.0, height - 1.0]) - wh)
        boxes.append(torch.cat([xy, xy + wh], 1))
    return boxes


@pytest.mark.parametrize("spec", [pytest.param(s, marks=[pytest.mark.slow] if s.startswith("faster") else [])
                                  for s in DETECTORS])
def test_detectors_load_torchvisions_weights_and_give_its_outputs(spec):
    """The same weights, image and proposals: the FPN maps and RPN head outputs of every level,
    the box head's scores and deltas and the mask logits equal torchvision's (its RoIAlign's
    pure-Python path; boxes inside the image, where it agrees with the kernels)."""
    tv = torchvision_or_skip()
    generator = torch.Generator().manual_seed(0)
    height, width = 256, 320
    theirs = torchvision_detector(tv, spec).eval()
    random_frozen_norms(theirs, generator)
    ours = to_torch(SPECS / f"{spec}.yaml", {"height": height, "width": width}).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert {k: p.requires_grad for k, p in ours.named_parameters()} == \
        {k: p.requires_grad for k, p in theirs.named_parameters()}
    image = torch.randn(2, 3, height, width, generator=generator)
    boxes = proposals(generator, 2, height, width)
    rois = torch.cat([torch.cat([torch.full((len(b), 1), float(k)), b], 1) for k, b in enumerate(boxes)])
    with torch.no_grad():
        got = ours(image, rois)
        features = theirs.backbone(image)
        objectness, deltas = theirs.rpn.head(list(features.values()))
        heads, sizes = theirs.roi_heads, [(height, width)] * 2
        expected = [*features.values(), *(t for level in zip(objectness, deltas) for t in level),
                    *heads.box_predictor(heads.box_head(heads.box_roi_pool(features, boxes, sizes)))]
        if heads.has_mask():
            expected.append(heads.mask_predictor(heads.mask_head(heads.mask_roi_pool(features, boxes, sizes))))
        levels = heads.box_roi_pool.map_levels([b for b in boxes])
    assert set(levels.tolist()) == {0, 1, 2}  # the proposals reach three FPN levels
    assert len(got) == len(expected) == (18 if heads.has_mask() else 17)
    for ours_, theirs_ in zip(got, expected):
        assert close(ours_, theirs_, rel=1e-4)
        assert not close(theirs_[0], theirs_[1], rel=1e-2)  # two images' (or RoIs') outputs differ


@pytest.mark.slow
@pytest.mark.parametrize("spec", DETECTORS)
def test_detectors_verify(spec):
    """torch against onnxruntime (the multi-scale RoIAlign as ONNX RoiAlign per level), every output."""
    checks = verify(build(SPECS / f"{spec}.yaml", {"height": 64, "width": 64}), batches=(2,))
    assert all(c.ok for c in checks), render(checks)


@pytest.mark.slow
def test_in_graph_proposals_and_detections_equal_torchvisions():
    """specs/faster_rcnn_resnet50_fpn_detect.yaml with torchvision's weights and image: the
    proposals of its RPN (anchors, decoding, per-level top-k, NMS) and the detections of its RoI
    heads (class-wise NMS) equal torchvision's RegionProposalNetwork's and RoIHeads' (whose nms,
    a compiled kernel that does not load here, is onnxruntime's NonMaxSuppression)."""
    tv = torchvision_or_skip()
    from torchvision.models.detection.image_list import ImageList
    from torchvision_shim import nms_by_onnxruntime

    generator = torch.Generator().manual_seed(1)
    height, width = 128, 160
    theirs = torchvision_detector(tv, "faster_rcnn_resnet50_fpn").eval()
    random_frozen_norms(theirs, generator)
    with torch.no_grad():  # spread scores (no near-ties for NMS to order), some classes above 0.05
        theirs.rpn.head.cls_logits.weight.normal_(0, 0.3, generator=generator)
        theirs.roi_heads.box_predictor.cls_score.weight.normal_(0, 2.0, generator=generator)
    # 200 per level, 900 in all: NMS leaves fewer than 1000, so R is what the data make it
    theirs.rpn._pre_nms_top_n["testing"], theirs.rpn._post_nms_top_n["testing"] = 200, 1000
    theirs.roi_heads.detections_per_img = 50
    ours = to_torch(SPECS / "faster_rcnn_resnet50_fpn_detect.yaml",
                    {"height": height, "width": width, "pre_nms_top_n": 200, "post_nms_top_n": 1000,
                     "detections_per_img": 50}).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    image = torch.randn(2, 3, height, width, generator=generator)
    with torch.no_grad(), nms_by_onnxruntime(tv):
        proposals, boxes, scores, labels = ours(image)
        images = ImageList(image, [(height, width)] * 2)
        features = theirs.backbone(image)
        their_proposals, _ = theirs.rpn(images, features)
        found, _ = theirs.roi_heads(features, their_proposals, images.image_sizes)
    assert all(0 < len(p) < 900 for p in their_proposals) and all(len(d["boxes"]) for d in found)

    def per_image(tensors):
        return torch.cat([torch.cat([torch.full((len(t), 1), float(k)), t.reshape(len(t), -1).float()], 1)
                          for k, t in enumerate(tensors)])

    torch.testing.assert_close(proposals, per_image(their_proposals))
    torch.testing.assert_close(boxes, per_image([d["boxes"] for d in found]))
    torch.testing.assert_close(torch.cat([scores, labels], 1),
                               per_image([torch.stack([d["scores"], d["labels"].float()], 1) for d in found])[:, 1:])


@pytest.mark.slow
def test_in_graph_detector_verifies():
    """torch against onnxruntime through the in-graph proposals and detections (NonMaxSuppression,
    TopK, GatherND in ONNX; the plain-torch NMS): every class kept (score_thresh 0), so the
    detections are many and the counts must agree."""
    graph = build(SPECS / "faster_rcnn_resnet50_fpn_detect.yaml", {"height": 64, "width": 96, "score_thresh": 0.0})
    checks = verify(graph, batches=(2,))
    assert all(c.ok for c in checks), render(checks)
    assert any(c.what == "onnxruntime labels N=2" and c.detail.startswith("200×1") for c in checks)
