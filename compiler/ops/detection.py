"""Detection (Faster R-CNN's inference path): anchors per FPN level, box decoding, the RPN's
proposals (per-level top-k, NMS) and the RoI heads' detections (class-wise NMS), as
torchvision computes them.

A count that depends on the data is a symbolic size whose text states its bound: the RPN
keeps R ≤ N·post_nms_top_n boxes (`R≤N·1000`), the heads D ≤ N·detections_per_img. Boxes
are x1, y1, x2, y2 in image pixels; a box of a batch carries its image's index first, as the
RoI ops read them ([R, 5]). The ONNX lowerings are opset-18 standard ops (NonMaxSuppression,
TopK, GatherND, Compress); the torch lowerings are plain torch (backends/torch_detection.py)."""

from __future__ import annotations

import math
from typing import Annotated

from ..records import Field

from ..ir import GLOBAL
from .base import Attrs, Op, PositiveInt, ShapeError, TensorType, TorchModule, register
from .roi import sample_boxes

PositiveFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Weights = Annotated[list[PositiveFloat], Field(min_length=4, max_length=4)]
WEIGHTS = "[wx, wy, ww, wh]: the deltas dx, dy, dw, dh are divided by these (BoxCoder's weights)"
NMS_THRESH = "a box whose IoU with a kept box of its group is above this is dropped"
MIN_SIZE = "boxes with a side shorter than this (pixels) are dropped"
XFORM_CLIP = math.log(1000 / 16)  # torchvision's bbox_xform_clip: exp(dw) at most 62.5
INT64, FLOAT = 7, 1  # ONNX element types


def count_text(*dims) -> int | str:
    """The product of sizes: a number, or `3·H/4·W/4` where a size is symbolic."""
    number = math.prod(d for d in dims if isinstance(d, int))
    symbols = [str(d) for d in dims if not isinstance(d, int)]
    return "·".join(([str(number)] if number != 1 else []) + symbols) if symbols else number


def bounded(symbol: str, batch, per_image: int) -> str:
    """A data-dependent count with its bound: `R≤N·1000`."""
    return f"{symbol}≤{batch * per_image if isinstance(batch, int) else f'{batch}·{per_image}'}"


def rank_of(inputs, log, position: int, rank: int, layout: str) -> TensorType:
    x = inputs[position]
    if x.rank != rank:
        raise ShapeError(f"'{log.input_names[position]}' must be {layout}, got {x} (rank {x.rank})")
    return x


def cell_anchors(sizes, ratios):
    """A × 4 zero-centred anchors, (ratio, size) pairs ratio-major, in float32 as torch rounds them."""
    import numpy as np

    h_ratios = np.sqrt(np.asarray(ratios, np.float32))
    w_ratios = np.float32(1) / h_ratios
    ws = (w_ratios[:, None] * np.asarray(sizes, np.float32)[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * np.asarray(sizes, np.float32)[None, :]).reshape(-1)
    return np.round(np.stack([-ws, -hs, ws, hs], axis=1) / np.float32(2))  # half to even, as torch.round


class AnchorsAttrs(Attrs):
    sizes: list[PositiveFloat] = Field(description="anchor sides in image pixels at this level (torchvision's "
                                       "FPN: [32] at stride 4 … [512] at stride 64)")
    aspect_ratios: list[PositiveFloat] = Field([0.5, 1.0, 2.0], description="anchor height / width, each "
                                               "paired with each size")


@register
class Anchors(Op):
    """Anchors of one feature map (torchvision's AnchorGenerator): per cell, row-major, one box
    per (aspect ratio, size), centred on the cell's corner, stride = image size // map size.
    Inputs: the image N×C×H×W and the map. Out: [h·w·A, 4], A = ratios × sizes."""

    name = "anchors"
    family = "detection"
    Attrs = AnchorsAttrs
    arity = (2, 2)

    def infer(self, a, inputs, log):
        image = rank_of(inputs, log, 0, 4, "the image N×C×H×W")
        x = rank_of(inputs, log, 1, 4, "a feature map N×C×h×w")
        for axis, (n, m) in enumerate(zip(image.shape[2:], x.shape[2:])):
            if isinstance(n, int) and isinstance(m, int) and m > n:
                raise ShapeError(f"the map's {'hw'[axis]} {m} exceeds the image's {n}: no whole stride")
        per_cell = len(a.sizes) * len(a.aspect_ratios)
        log.arithmetic.append(f"{x.shape[2]} × {x.shape[3]} cells × {per_cell} anchors "
                              f"(sizes {', '.join(f'{s:g}' for s in a.sizes)} × ratios "
                              f"{', '.join(f'{r:g}' for r in a.aspect_ratios)})")
        return TensorType((count_text(x.shape[2], x.shape[3], per_cell), 4))

    def receptive(self, a, inputs):
        return GLOBAL

    def label(self, a):
        return f"anchors {'/'.join(f'{s:g}' for s in a.sizes)} × {len(a.aspect_ratios)} ratios"

    def torch(self, a, inputs, out):
        return TorchModule("Anchors", (tuple(a.sizes), tuple(a.aspect_ratios)))

    def onnx(self, a, inputs, types, out, emit):
        image, x = (emit("Shape", v) for v in inputs)
        at = lambda shape, k: emit("Gather", shape, emit.const("axis", k))  # noqa: E731  a scalar size
        h, w = at(x, 2), at(x, 3)
        one, zero = emit.const("one", 1), emit.const("zero", 0)
        ys = emit("Mul", emit("Range", zero, h, one), emit("Div", at(image, 2), h))  # h × stride_y
        xs = emit("Mul", emit("Range", zero, w, one), emit("Div", at(image, 3), w))
        grid = emit("Concat", emit("Unsqueeze", h, emit.const("axes", [0])),
                    emit("Unsqueeze", w, emit.const("axes", [0])), axis=0)
        shift_x = emit("Expand", emit("Unsqueeze", xs, emit.const("row", [0])), grid)
        shift_y = emit("Expand", emit("Unsqueeze", ys, emit.const("col", [1])), grid)
        corner = [emit("Unsqueeze", s, emit.const("last", [2])) for s in (shift_x, shift_y)]
        shifts = emit("Cast", emit("Reshape", emit("Concat", *corner, *corner, axis=2), emit.const("cells", [-1, 1, 4])),
                      to=FLOAT)
        anchors = emit("Add", shifts, emit.const("cell", cell_anchors(a.sizes, a.aspect_ratios), "float32"))
        rows = out.shape[0] if isinstance(out.shape[0], int) else -1  # a number ONNX's shape inference keeps
        return emit("Reshape", anchors, emit.const("rows", [rows, 4]))


class DecodeAttrs(Attrs):
    weights: Weights = Field([1.0, 1.0, 1.0, 1.0], description=WEIGHTS + "; the RPN's [1, 1, 1, 1], the RoI heads' "
                             "[10, 10, 5, 5]")
    bbox_xform_clip: PositiveFloat = Field(XFORM_CLIP, description="the most dw and dh may be (log(1000/16): a box "
                                           "grows at most 62.5×)")


@register
class DecodeBoxes(Op):
    """Box decoding (torchvision's BoxCoder.decode): deltas [R, 4K] (dx, dy, dw, dh per class,
    divided by `weights`, dw and dh clamped at bbox_xform_clip) move boxes [R, 4], or [R, 5]
    with the batch index first: centre + d·size, size·exp(d). With a third input, the image
    N×C×H×W, the boxes are clipped to it (clip_boxes_to_image). Out: [R, K, 4]."""

    name = "decode_boxes"
    family = "detection"
    Attrs = DecodeAttrs
    arity = (2, 3)

    def infer(self, a, inputs, log):
        deltas = rank_of(inputs, log, 0, 2, "deltas [R, 4K]")
        boxes = rank_of(inputs, log, 1, 2, "boxes [R, 4] or [R, 5]")
        if not isinstance(deltas.shape[1], int) or deltas.shape[1] % 4:
            raise ShapeError(f"the deltas '{log.input_names[0]}' must be R×4K (4 numbers per class), got {deltas}")
        if boxes.shape[1] not in (4, 5) or boxes.shape[0] != deltas.shape[0]:
            raise ShapeError(f"the boxes '{log.input_names[1]}' must be {deltas.shape[0]}×4 or {deltas.shape[0]}×5 "
                             f"(one per row of deltas), got {boxes}")
        if len(inputs) == 3:
            rank_of(inputs, log, 2, 4, "the image N×C×H×W")
        log.arithmetic.append(f"{deltas.shape[1]} deltas = {deltas.shape[1] // 4} classes × 4"
                              + (", clipped to the image" if len(inputs) == 3 else ""))
        return TensorType((deltas.shape[0], deltas.shape[1] // 4, 4))

    def receptive(self, a, inputs):
        return GLOBAL

    def label(self, a):
        return f"decode boxes /{','.join(f'{w:g}' for w in a.weights)}"

    def sample_input(self, a, index, shapes, rng):
        if index != 1:
            return None
        height, width = shapes[2][2:] if len(shapes) == 3 else (64, 64)
        boxes = sample_boxes(rng, shapes[1][0], 1, height, width)
        return boxes if shapes[1][1] == 5 else boxes[:, 1:]

    def torch(self, a, inputs, out):
        return TorchModule("BoxCoder", (tuple(a.weights), a.bbox_xform_clip))

    def onnx(self, a, inputs, types, out, emit):
        deltas = emit("Reshape", inputs[0], emit.const("per_class", [0, types[0].shape[1] // 4, 4]))
        boxes = emit("Unsqueeze", columns(emit, inputs[1], types[1].shape[1] - 4, 4), emit.const("axes", [1]))
        decoded = decode_onnx(emit, deltas, boxes, a.weights, a.bbox_xform_clip)
        return clip_onnx(emit, decoded, inputs[2]) if len(inputs) == 3 else decoded


# --- ONNX pieces the ops share ------------------------------------------------------------

def columns(emit, x: str, start: int, count: int = 1, axis: int = -1) -> str:
    return emit("Slice", x, emit.const("from", [start]), emit.const("to", [start + count]), emit.const("axis", [axis]))


def decode_onnx(emit, deltas: str, boxes: str, weights, clip: float) -> str:
    """BoxCoder.decode_single over the last axis (broadcasting boxes against deltas), in its order of operations."""
    x1, y1, x2, y2 = (columns(emit, boxes, k) for k in range(4))
    widths, heights = emit("Sub", x2, x1), emit("Sub", y2, y1)
    half = emit.const("half", 0.5, "float32")
    centre_x, centre_y = emit("Add", x1, emit("Mul", half, widths)), emit("Add", y1, emit("Mul", half, heights))
    d = [emit("Div", columns(emit, deltas, k), emit.const("weight", w, "float32")) for k, w in enumerate(weights)]
    most = emit.const("clip", clip, "float32")
    dw, dh = (emit("Clip", v, "", most) for v in d[2:])
    x, y = emit("Add", emit("Mul", d[0], widths), centre_x), emit("Add", emit("Mul", d[1], heights), centre_y)
    half_w, half_h = (emit("Mul", half, emit("Mul", emit("Exp", v), size)) for v, size in ((dw, widths), (dh, heights)))
    return emit("Concat", emit("Sub", x, half_w), emit("Sub", y, half_h), emit("Add", x, half_w),
                emit("Add", y, half_h), axis=-1)


def clip_onnx(emit, boxes: str, image: str) -> str:
    """Boxes [..., 4] clipped to [0, width] × [0, height] of the image N×C×H×W."""
    limits = emit("Cast", emit("Gather", emit("Shape", image), emit.const("whwh", [3, 2, 3, 2])), to=FLOAT)
    return emit("Min", emit("Max", boxes, emit.const("zero", 0.0, "float32")), limits)


def big_enough(emit, boxes: str, min_size: float) -> str:
    """remove_small_boxes's test: both sides of boxes [..., 4] at least min_size."""
    sides = emit("Sub", columns(emit, boxes, 2, 2), columns(emit, boxes, 0, 2))
    wide = emit("GreaterOrEqual", sides, emit.const("min_size", min_size, "float32"))
    return emit("Squeeze", emit("And", columns(emit, wide, 0), columns(emit, wide, 1)), emit.const("last", [-1]))


def scalar_size(emit, x: str, axis: int) -> str:
    return emit("Gather", emit("Shape", x), emit.const("axis", axis))


def stable_order(emit, keys: list[tuple[str, bool]]) -> str:
    """The permutation sorting by several keys of equal length [S], most significant last
    ((key, descending) pairs): one stable sort per key, least significant first (ONNX's TopK
    puts the lower index first among equal values)."""
    count = emit("Unsqueeze", scalar_size(emit, keys[0][0], 0), emit.const("axes", [0]))
    order = None
    for key, descending in keys:
        key = key if order is None else emit("Gather", key, order)
        _, index = emit("TopK", key, count, outputs=2, largest=int(descending), sorted=1)
        order = index if order is None else emit("Gather", order, index)
    return order


def first_of_each_image(emit, images: str, batch: str, limit: int) -> str:
    """Whether each entry of images [S] (sorted) is among the first `limit` of its image."""
    zero, one = emit.const("zero", 0), emit.const("one", 1)
    members = emit("Equal", emit("Unsqueeze", images, emit.const("axes", [1])), emit("Range", zero, batch, one))
    counts = emit("ReduceSum", emit("Cast", members, to=INT64), emit.const("axes", [0]), keepdims=0)
    starts = emit("CumSum", counts, emit.const("axis", 0), exclusive=1)
    rank = emit("Sub", emit("Range", zero, scalar_size(emit, images, 0), one), emit("Gather", starts, images))
    return emit("Less", rank, emit.const("limit", limit))


def kept_onnx(emit, boxes: str, scores: str, per_class: int, threshold: float) -> str:
    """NonMaxSuppression [S, 3] (batch, class, box); scores below 0 are those taken out."""
    return emit("NonMaxSuppression", boxes, scores, emit.const("most", [per_class]),
                emit.const("iou", [threshold], "float32"), emit.const("floor", [-0.5], "float32"))


class ProposalsAttrs(Attrs):
    pre_nms_top_n: PositiveInt = Field(1000, description="boxes of highest objectness kept per level and image "
                                       "before NMS (torchvision's at inference; 2000 in training)")
    post_nms_top_n: PositiveInt = Field(1000, description="proposals kept per image after NMS: the bound of R")
    nms_thresh: Fraction = Field(0.7, description=NMS_THRESH)
    min_size: NonNegativeFloat = Field(1e-3, description=MIN_SIZE)
    score_thresh: Fraction = Field(0.0, description="the least sigmoid(objectness) kept")
    weights: Weights = Field([1.0, 1.0, 1.0, 1.0], description=WEIGHTS)


@register
class RPNProposals(Op):
    """The RPN's proposals (torchvision's RegionProposalNetwork.filter_proposals): per level,
    each image's pre_nms_top_n anchors of highest objectness (cells row-major, anchors within a
    cell); their deltas decoded and clipped to the image; boxes with a side under min_size and
    sigmoid scores under score_thresh dropped; NMS within each level (ONNX NonMaxSuppression);
    each image's post_nms_top_n best. Inputs: the image, the L levels' objectness N×A×h×w, their
    deltas N×4A×h×w, their anchors [h·w·A, 4]. Out: [R, 5] (batch index, x1, y1, x2, y2), image
    by image, each by descending score; R ≤ N·post_nms_top_n (the count NMS leaves)."""

    name = "rpn_proposals"
    family = "detection"
    Attrs = ProposalsAttrs
    arity = (4, None)

    def infer(self, a, inputs, log):
        image = rank_of(inputs, log, 0, 4, "the image N×C×H×W")
        levels, remainder = divmod(len(inputs) - 1, 3)
        if remainder:
            raise ShapeError(f"takes the image, then L objectness maps, L delta maps and L anchor sets: "
                             f"{len(inputs) - 1} inputs after the image are not 3·L")
        candidates = []
        for k in range(levels):
            score = rank_of(inputs, log, 1 + k, 4, "objectness N×A×h×w")
            deltas = rank_of(inputs, log, 1 + levels + k, 4, "deltas N×4A×h×w")
            anchors = rank_of(inputs, log, 1 + 2 * levels + k, 2, "anchors [h·w·A, 4]")
            per_cell = score.shape[1]
            if deltas.shape != (score.shape[0], count_text(4, per_cell), *score.shape[2:]) or \
                    score.shape[0] != image.shape[0]:
                raise ShapeError(f"level {k}: deltas '{log.input_names[1 + levels + k]}' {deltas} do not match "
                                 f"the objectness '{log.input_names[1 + k]}' {score} (4 per anchor) "
                                 f"of the image's batch {image.shape[0]}")
            rows = count_text(*score.shape[2:], per_cell)
            if anchors.shape[1] != 4 or isinstance(rows, int) and isinstance(anchors.shape[0], int) and \
                    anchors.shape[0] != rows:
                raise ShapeError(f"level {k}: the anchors '{log.input_names[1 + 2 * levels + k]}' must be "
                                 f"{rows}×4 (one per cell and anchor), got {anchors}")
            candidates.append(f"min({a.pre_nms_top_n}, {rows})")
        log.arithmetic.append(f"top {' + '.join(candidates)} per image → NMS {a.nms_thresh:g} per level → "
                              f"R ≤ {image.shape[0]}·{a.post_nms_top_n}")
        return TensorType((bounded("R", image.shape[0], a.post_nms_top_n), 5))

    def receptive(self, a, inputs):
        return GLOBAL

    def label(self, a):
        return f"RPN proposals top {a.pre_nms_top_n}, NMS {a.nms_thresh:g}, ≤{a.post_nms_top_n}"

    def sample_input(self, a, index, shapes, rng):
        levels = (len(shapes) - 1) // 3
        if index <= 2 * levels:
            return None
        _, _, height, width = shapes[0]
        return sample_boxes(rng, shapes[index][0], 1, height, width)[:, 1:]  # anchors: boxes in the image

    def torch(self, a, inputs, out):
        return TorchModule("RPNProposals", (a.pre_nms_top_n, a.post_nms_top_n, a.nms_thresh, a.min_size,
                                            a.score_thresh, tuple(a.weights)))

    # long: the per-level gather, then one NonMaxSuppression and the ordering, in plain ONNX ops
    def onnx(self, a, inputs, types, out, emit):
        image, levels = inputs[0], (len(inputs) - 1) // 3
        boxes, scores, level_ids = [], [], []
        for k in range(levels):
            per_cell = types[1 + k].shape[1]
            score = emit("Reshape", emit("Transpose", emit("Reshape", inputs[1 + k], emit.const("cells", [0, per_cell, -1])),
                                         perm=[0, 2, 1]), emit.const("flat", [0, -1]))  # N × h·w·A, cells row-major
            deltas = emit("Reshape", emit("Transpose", emit("Reshape", inputs[1 + levels + k],
                                                            emit.const("cells", [0, per_cell, 4, -1])),
                                          perm=[0, 3, 1, 2]), emit.const("flat", [0, -1, 4]))  # N × h·w·A × 4
            top = emit("Min", emit("Slice", emit("Shape", score), emit.const("from", [1]), emit.const("to", [2])),
                       emit.const("pre_nms_top_n", [a.pre_nms_top_n]))
            best, index = emit("TopK", score, top, outputs=2, axis=1, largest=1, sorted=1)
            picked = emit("GatherElements", deltas, emit("Expand", emit("Unsqueeze", index, emit.const("axes", [2])),
                                                         emit.const("four", [1, 1, 4])), axis=1)
            anchors = emit("Gather", inputs[1 + 2 * levels + k], index, axis=0)  # N × top × 4
            boxes.append(decode_onnx(emit, picked, anchors, a.weights, XFORM_CLIP))
            scores.append(best)
            level_ids.append(emit("Expand", emit.const("level", k), emit("Shape", index)))
        boxes = clip_onnx(emit, emit("Concat", *boxes, axis=1), image)  # N × T × 4
        probability = emit("Sigmoid", emit("Concat", *scores, axis=1))  # N × T
        valid = emit("And", big_enough(emit, boxes, a.min_size),
                     emit("GreaterOrEqual", probability, emit.const("score_thresh", a.score_thresh, "float32")))
        score = emit("Where", valid, probability, emit.const("out", -1.0, "float32"))
        # classes of NonMaxSuppression: the levels, each box's score only in its own level's row
        in_level = emit("Equal", emit("Unsqueeze", emit("Concat", *level_ids, axis=1), emit.const("axes", [1])),
                        emit.const("levels", [[k] for k in range(levels)]))  # N × L × T
        kept = kept_onnx(emit, boxes, emit("Where", in_level, emit("Unsqueeze", score, emit.const("axes", [1])),
                                           emit.const("out", -1.0, "float32")), a.post_nms_top_n, a.nms_thresh)
        images, candidate = (emit("Gather", kept, emit.const("column", c), axis=1) for c in (0, 2))
        where = emit("Gather", kept, emit.const("image_box", [0, 2]), axis=1)
        kept_score = emit("GatherND", score, where)
        order = stable_order(emit, [(candidate, False), (kept_score, True), (images, False)])
        images, where = emit("Gather", images, order), emit("Gather", where, order)
        first = first_of_each_image(emit, images, scalar_size(emit, image, 0), a.post_nms_top_n)
        index = emit("Cast", emit("Unsqueeze", emit("Compress", images, first, axis=0), emit.const("axes", [1])),
                     to=FLOAT)
        return emit("Concat", index, emit("GatherND", boxes, emit("Compress", where, first, axis=0)), axis=1)


class DetectionsAttrs(Attrs):
    score_thresh: Fraction = Field(0.05, description="class scores (softmax) at or below this are dropped")
    nms_thresh: Fraction = Field(0.5, description=NMS_THRESH)
    detections_per_img: PositiveInt = Field(100, description="detections kept per image: the bound of D")
    min_size: NonNegativeFloat = Field(1e-2, description=MIN_SIZE)
    weights: Weights = Field([10.0, 10.0, 5.0, 5.0], description=WEIGHTS)


@register
class Detections(Op):
    """The RoI heads' detections (torchvision's RoIHeads.postprocess_detections): softmax class
    scores; each proposal's box decoded per class and clipped to the image; the background
    class 0 dropped; scores ≤ score_thresh and boxes with a side under min_size dropped; NMS
    within each class of each image (ONNX NonMaxSuppression); each image's detections_per_img
    best. Inputs: the image, the proposals [R, 5], class logits [R, K], box deltas [R, 4K].
    Out: [D, 7] (batch index, x1, y1, x2, y2, score, label), image by image, each by
    descending score; D ≤ N·detections_per_img."""

    name = "detections"
    family = "detection"
    Attrs = DetectionsAttrs
    arity = (4, 4)

    def infer(self, a, inputs, log):
        image = rank_of(inputs, log, 0, 4, "the image N×C×H×W")
        proposals = rank_of(inputs, log, 1, 2, "proposals [R, 5]")
        logits = rank_of(inputs, log, 2, 2, "class logits [R, K]")
        deltas = rank_of(inputs, log, 3, 2, "box deltas [R, 4K]")
        classes = logits.shape[1]
        if proposals.shape[1] != 5 or not isinstance(classes, int) or classes < 2 or \
                deltas.shape[1] != 4 * classes or not proposals.shape[0] == logits.shape[0] == deltas.shape[0]:
            raise ShapeError(f"takes proposals R×5, logits R×K (K ≥ 2, background first) and deltas R×4K, "
                             f"got {proposals}, {logits}, {deltas}")
        log.arithmetic.append(f"{proposals.shape[0]} proposals × {classes - 1} classes → NMS {a.nms_thresh:g} "
                              f"per class → D ≤ {image.shape[0]}·{a.detections_per_img}")
        return TensorType((bounded("D", image.shape[0], a.detections_per_img), 7))

    def receptive(self, a, inputs):
        return GLOBAL

    def label(self, a):
        return f"detections > {a.score_thresh:g}, NMS {a.nms_thresh:g}, ≤{a.detections_per_img}"

    def sample_input(self, a, index, shapes, rng):
        if index != 1:
            return None
        n, _, height, width = shapes[0]
        boxes = sample_boxes(rng, shapes[1][0], n, height, width)
        return boxes[boxes[:, 0].argsort(kind="stable")]  # image by image, as the RPN gives them

    def torch(self, a, inputs, out):
        return TorchModule("Detections", (a.score_thresh, a.nms_thresh, a.detections_per_img, a.min_size,
                                          tuple(a.weights)))

    # long: decoding, one NonMaxSuppression with the classes as its batches, and the ordering
    def onnx(self, a, inputs, types, out, emit):
        image, proposals, logits, deltas = inputs
        classes = types[2].shape[1]
        boxes = decode_onnx(emit, emit("Reshape", deltas, emit.const("per_class", [0, classes, 4])),
                            emit("Unsqueeze", columns(emit, proposals, 1, 4), emit.const("axes", [1])),
                            a.weights, XFORM_CLIP)
        boxes = columns(emit, clip_onnx(emit, boxes, image), 1, classes - 1, axis=1)  # R × (K−1) × 4
        scores = columns(emit, emit("Softmax", logits, axis=-1), 1, classes - 1)  # R × (K−1)
        valid = emit("And", big_enough(emit, boxes, a.min_size),
                     emit("Greater", scores, emit.const("score_thresh", a.score_thresh, "float32")))
        score = emit("Where", valid, scores, emit.const("out", -1.0, "float32"))
        # NonMaxSuppression's batches are the classes (each class has its own boxes), its classes
        # the images: a proposal's score only in its image's row
        owner = emit("Cast", emit("Squeeze", columns(emit, proposals, 0), emit.const("axes", [1])), to=INT64)
        batch = scalar_size(emit, image, 0)
        in_image = emit("Equal", owner, emit("Unsqueeze", emit("Range", emit.const("zero", 0), batch,
                                                               emit.const("one", 1)), emit.const("axes", [1])))
        per_class = emit("Where", in_image, emit("Unsqueeze", emit("Transpose", score, perm=[1, 0]),
                                                 emit.const("axes", [1])), emit.const("out", -1.0, "float32"))
        kept = kept_onnx(emit, emit("Transpose", boxes, perm=[1, 0, 2]), per_class, a.detections_per_img,
                         a.nms_thresh)  # (class − 1, image, proposal)
        label, images, proposal = (emit("Gather", kept, emit.const("column", c), axis=1) for c in range(3))
        where = emit("Gather", kept, emit.const("box_class", [2, 0]), axis=1)
        kept_score = emit("GatherND", score, where)
        flat = emit("Add", emit("Mul", proposal, emit.const("classes", classes - 1)), label)  # torchvision's order
        order = stable_order(emit, [(flat, False), (kept_score, True), (images, False)])
        images, where, label = (emit("Gather", v, order) for v in (images, where, label))
        first = first_of_each_image(emit, images, batch, a.detections_per_img)
        where = emit("Compress", where, first, axis=0)
        as_column = lambda v: emit("Unsqueeze", emit("Cast", emit("Compress", v, first, axis=0), to=FLOAT),  # noqa: E731
                                   emit.const("axes", [1]))
        label = emit("Add", label, emit.const("background", 1))
        return emit("Concat", as_column(images), emit("GatherND", boxes, where),
                    emit("Unsqueeze", emit("GatherND", score, where), emit.const("axes", [1])), as_column(label),
                    axis=1)
