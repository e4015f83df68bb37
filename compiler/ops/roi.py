"""Region-of-interest pooling (the R-CNN family): roi_pool (Fast R-CNN), roi_align (Mask R-CNN)
and multiscale_roi_align (RoIAlign over FPN levels).

Each reads feature maps N×C×H×W and the boxes `[R, 5]` (batch index, x1, y1, x2, y2, in image
coordinates: `spatial_scale` maps them onto a map) and gives R×C×h×w, R symbolic."""

from __future__ import annotations

import math
from typing import Annotated

from ..records import Field

from ..ir import GLOBAL
from .base import Attrs, NonNegativeInt, Op, Pair, ShapeError, TensorType, TorchModule, dims_text, register

Scale = Annotated[float, Field(gt=0, le=1)]  # a map's size over the image's


def boxes_of(inputs: list[TensorType], log, position: int) -> TensorType:
    rois = inputs[position]
    if rois.rank != 2 or rois.shape[1] != 5:
        raise ShapeError(f"the boxes '{log.input_names[position]}' must be R×5 (batch index, x1, y1, x2, y2), "
                         f"got {rois}")
    return rois


def feature_map(inputs: list[TensorType], log, position: int) -> TensorType:
    x = inputs[position]
    if x.rank != 4:
        raise ShapeError(f"the feature map '{log.input_names[position]}' must be N×C×H×W, got {x} (rank {x.rank})")
    return x


def sample_boxes(rng, count: int, batch: int, height: float, width: float):
    """`count` valid boxes [batch index, x1, y1, x2, y2] inside a height × width image, of
    every size from a point to the whole image (what verify and the op harness feed)."""
    import numpy as np

    corners = rng.uniform(0, 1, (count, 2, 2)) * np.array([width, height])
    low, high = corners.min(axis=1), corners.max(axis=1)
    index = rng.integers(0, batch, (count, 1))
    return np.concatenate([index, low, high], axis=1).astype(np.float32)


class _RoIOp(Op):
    family = "pool"
    arity = (2, 2)

    def infer(self, a, inputs, log):
        x, rois = feature_map(inputs, log, 0), boxes_of(inputs, log, 1)
        log.arithmetic.append(f"{rois.shape[0]} boxes × {x.shape[1]} channels × {dims_text(a.output_size)} bins")
        return TensorType((rois.shape[0], x.shape[1], *a.output_size))

    def receptive(self, a, inputs):
        return GLOBAL  # a box may cover the whole map

    def sample_input(self, a, index, shapes, rng):
        if index != 1:
            return None
        n, _, h, w = shapes[0]
        return sample_boxes(rng, shapes[1][0], n, h / a.spatial_scale, w / a.spatial_scale)


class RoIPoolAttrs(Attrs):
    output_size: Pair
    spatial_scale: Scale = 1.0


@register
class RoIPool(_RoIOp):
    """Fast R-CNN's RoI max pooling (torchvision.ops.roi_pool, ONNX MaxRoiPool): each box,
    rounded to whole cells of the map, is cut into output_size bins and each bin takes its max.
    Inputs: the map and the boxes [R, 5] (batch index, x1, y1, x2, y2)."""

    name = "roi_pool"
    Attrs = RoIPoolAttrs

    def label(self, a):
        return f"RoI pool {a.output_size[0]}×{a.output_size[1]}"

    def torch(self, a, inputs, out):
        return TorchModule("RoIPool", (a.output_size, a.spatial_scale))

    def onnx(self, a, inputs, types, out, emit):
        # MaxRoiPool reads [R, 5] boxes with the batch index first, as torchvision does
        return emit("MaxRoiPool", *inputs, pooled_shape=list(a.output_size), spatial_scale=a.spatial_scale)


class RoIAlignAttrs(Attrs):
    output_size: Pair
    spatial_scale: Scale = 1.0
    sampling_ratio: NonNegativeInt = 0  # samples per bin and axis; 0: ⌈bin size⌉ (adaptive)
    aligned: bool = False  # True: boxes shifted by −½ cell (pixel centres); torchvision's default False


def _align_onnx(a, x: str, rois: str, scale: float, aligned: bool, emit) -> str:
    """ONNX RoiAlign over one map; it takes the batch indices apart from [R, 4] boxes."""
    boxes = emit("Slice", rois, emit.const("from", [1]), emit.const("to", [5]), emit.const("axes", [1]))
    first = emit("Slice", rois, emit.const("from", [0]), emit.const("to", [1]), emit.const("axes", [1]))
    index = emit("Cast", emit("Squeeze", first, emit.const("axis", [1])), to=7)  # INT64
    return emit("RoiAlign", x, boxes, index, mode="avg", output_height=a.output_size[0],
                output_width=a.output_size[1], sampling_ratio=a.sampling_ratio, spatial_scale=scale,
                coordinate_transformation_mode="half_pixel" if aligned else "output_half_pixel")


@register
class RoIAlign(_RoIOp):
    """Mask R-CNN's RoIAlign (torchvision.ops.roi_align, ONNX RoiAlign): each box, in
    unrounded map coordinates, is cut into output_size bins and each bin averages a grid of
    bilinear samples. Inputs: the map and the boxes [R, 5] (batch index, x1, y1, x2, y2)."""

    name = "roi_align"
    Attrs = RoIAlignAttrs

    def label(self, a):
        return f"RoIAlign {a.output_size[0]}×{a.output_size[1]}"

    def torch(self, a, inputs, out):
        return TorchModule("RoIAlign", (a.output_size, (a.spatial_scale,)),
                           dict(sampling_ratio=a.sampling_ratio, aligned=a.aligned))

    def onnx(self, a, inputs, types, out, emit):
        return _align_onnx(a, inputs[0], inputs[1], a.spatial_scale, a.aligned, emit)


class MultiScaleAttrs(Attrs):
    output_size: Pair
    spatial_scales: list[Scale]  # one per map, finest first, each half the one before (1/4, 1/8, …)
    sampling_ratio: NonNegativeInt = 2  # torchvision's detectors use 2
    canonical_scale: Annotated[float, Field(gt=0)] = 224.0  # a box of this side …
    canonical_level: NonNegativeInt = 4  # … is pooled from this level (FPN's k0)


@register
class MultiScaleRoIAlign(Op):
    """RoIAlign over FPN levels (torchvision.ops.MultiScaleRoIAlign): each box is pooled from
    the level ⌊k0 + log2(√(w·h) / 224)⌋ (FPN's eq. 1), clamped to the maps' levels; level k is
    the map at scale 2⁻ᵏ. Inputs: the maps, finest first, then the boxes [R, 5]."""

    name = "multiscale_roi_align"
    family = "pool"
    Attrs = MultiScaleAttrs
    arity = (2, None)

    def levels(self, a) -> list[int]:
        return [-math.log2(s) for s in a.spatial_scales]

    def infer(self, a, inputs, log):
        *maps, rois = inputs
        for k in range(len(maps)):
            feature_map(inputs, log, k)
        boxes_of(inputs, log, len(maps))
        levels = self.levels(a)
        if len(levels) != len(maps):
            raise ShapeError(f"{len(levels)} spatial_scales for {len(maps)} feature maps", attr="spatial_scales")
        if any(k != round(k) or k2 != k + 1 for k, k2 in zip(levels, levels[1:] + [levels[-1] + 1])):
            raise ShapeError(f"spatial_scales {a.spatial_scales} are not 1/2^k for consecutive levels k, "
                             "finest first", attr="spatial_scales")
        if len({m.shape[1] for m in maps}) != 1:
            raise ShapeError("the maps' channel counts differ: " + ", ".join(map(str, maps)))
        log.arithmetic.append(f"levels {round(levels[0])}…{round(levels[-1])}: ⌊{a.canonical_level} + "
                              f"log2(√(w·h) / {a.canonical_scale:g})⌋")
        return TensorType((rois.shape[0], maps[0].shape[1], *a.output_size))

    def receptive(self, a, inputs):
        return GLOBAL

    def label(self, a):
        return f"MultiScaleRoIAlign {a.output_size[0]}×{a.output_size[1]}"

    def sample_input(self, a, index, shapes, rng):
        if index != len(shapes) - 1:
            return None
        n, _, h, w = shapes[0]
        return sample_boxes(rng, shapes[-1][0], n, h / a.spatial_scales[0], w / a.spatial_scales[0])

    def torch(self, a, inputs, out):
        return TorchModule("RoIAlign", (a.output_size, tuple(a.spatial_scales)),
                           dict(sampling_ratio=a.sampling_ratio, first_level=round(self.levels(a)[0]),
                                canonical_scale=a.canonical_scale, canonical_level=a.canonical_level))

    def onnx(self, a, inputs, types, out, emit):
        # each box is routed to its level once: per level, its boxes are gathered (NonZero),
        # pooled by one RoiAlign and scattered back into place (ScatterND); a level that
        # receives no box pools an empty set
        *maps, rois = inputs
        level = self._level_onnx(a, rois, len(maps), emit)  # R, counted from the finest map
        result = emit("ConstantOfShape", emit("Concat", emit("Shape", rois, start=0, end=1),
                                              emit("Shape", maps[0], start=1, end=2),
                                              emit.const("bins", list(a.output_size)), axis=0))  # R × C × h × w
        for k, (x, scale) in enumerate(zip(maps, a.spatial_scales)):
            chosen = emit("Transpose", emit("NonZero", emit("Equal", level, emit.const("level", float(k), "float32"))))
            mine = emit("Gather", rois, emit("Squeeze", chosen, emit.const("column", [1])), axis=0)
            pooled = _align_onnx(a, x, mine, scale, False, emit)  # torchvision's pooler: not aligned
            result = emit("ScatterND", result, chosen, pooled)
        return result

    def _level_onnx(self, a, rois: str, count: int, emit) -> str:
        """Each box's level as FPN's eq. 1 gives it, less the finest map's: R floats."""
        first = round(self.levels(a)[0])
        corner = [emit("Slice", rois, emit.const("from", [k]), emit.const("to", [k + 1]), emit.const("axes", [1]))
                  for k in range(1, 5)]
        area = emit("Mul", emit("Sub", corner[2], corner[0]), emit("Sub", corner[3], corner[1]))  # R × 1
        log2 = emit("Div", emit("Log", emit("Div", emit("Sqrt", area), emit.const("s0", a.canonical_scale, "float32"))),
                    emit.const("ln2", math.log(2), "float32"))
        level = emit("Add", emit("Add", emit.const("k0", float(a.canonical_level), "float32"), log2),
                     emit.const("eps", 1e-6, "float32"))  # torchvision's order: k0 + log2(…) + ε
        level = emit("Clip", emit("Floor", level), emit.const("lowest", float(first), "float32"),
                     emit.const("highest", float(first + count - 1), "float32"))
        return emit("Squeeze", emit("Sub", level, emit.const("first", float(first), "float32")),
                    emit.const("column", [1]))
