"""Resizing: upsample (nearest or bilinear) by a factor, to a size, or to another tensor's size."""

from __future__ import annotations

from typing import Annotated, Literal

from ..records import BeforeValidator, Field, model_validator

from .. import symbolic
from ..ir import GLOBAL
from .base import MAX_SIZE, Attrs, Op, Pair, ShapeError, TensorType, TorchExpr, TorchModule, expect_rank, register

Factor = Annotated[float, Field(gt=0, le=MAX_SIZE)]  # not inf: int(H·inf) would overflow
Scale = Annotated[tuple[Factor, Factor],
                  BeforeValidator(lambda v: (v, v) if isinstance(v, (int, float)) and not isinstance(v, bool) else
                                  tuple(v) if isinstance(v, list) else v)]


class UpsampleAttrs(Attrs):
    scale_factor: Scale | None = Field(None, description="the factor the height and width grow by: one number "
                                                         "for both, or [height, width]; or give size")
    size: Pair | None = Field(None, description="the output's size in pixels: one number for both axes, or [height, width]; or give scale_factor")
    mode: Literal["nearest", "bilinear"] = Field("nearest", description="nearest: repeat pixels; bilinear: "
                                                                        "interpolate")
    align_corners: bool = Field(False, description="bilinear only: corner pixels of input and output coincide")

    @model_validator(mode="after")
    def _one_target(self):
        if self.scale_factor is not None and self.size is not None:
            raise ValueError("give scale_factor or size, not both")
        return self


@register
class Upsample(Op):
    """Resizes H×W by `scale_factor`, to `size`, or (with a second input) to the second
    input's H×W, as FCN does to return to the image's size."""

    name = "upsample"
    family = "resize"
    Attrs = UpsampleAttrs
    arity = (1, 2)

    def infer(self, a, inputs, log):
        x = expect_rank(inputs, 4, "N×C×H×W")
        targets = (a.scale_factor is not None) + (a.size is not None) + (len(inputs) == 2)
        if targets != 1:
            raise ShapeError("upsample needs exactly one of scale_factor, size, or a second input "
                             "whose size to take")
        if len(inputs) == 2:
            like = inputs[1]
            if like.rank != 4:
                raise ShapeError(f"the size reference '{log.input_names[1]}' must be N×C×H×W, got {like}")
            spatial = like.shape[2:]
        elif a.size is not None:
            spatial = a.size
        else:
            spatial = tuple(int(n * s) if isinstance(n, int) else _scaled(n, s, log)
                            for n, s in zip(x.shape[2:], a.scale_factor))
            if any(isinstance(n, int) and n < 1 for n in spatial):
                raise ShapeError(f"scale_factor {a.scale_factor} shrinks {x} to nothing", attr="scale_factor")
        log.arithmetic.append(f"{x.shape[2]}×{x.shape[3]} → {spatial[0]}×{spatial[1]}")
        return TensorType((*x.shape[:2], *spatial))

    def receptive(self, a, inputs):
        x, out = inputs[0].shape[2:], None
        if a.scale_factor is not None:
            out = a.scale_factor
        else:
            size = a.size if a.size is not None else inputs[-1].shape[2:]
            if all(isinstance(n, int) for n in (*x, *size)):
                out = tuple(s / n for s, n in zip(size, x))
        if out is None:
            return GLOBAL  # a symbolic factor: stay conservative
        k = 2 if a.mode == "bilinear" else 1
        return (k, k), tuple(1 / s for s in out)

    def label(self, a):
        how = f"×{a.scale_factor[0]:g}" if a.scale_factor else (f"→ {a.size[0]}×{a.size[1]}" if a.size else "")
        return f"upsample {a.mode} {how}".strip()

    def torch(self, a, inputs, out):
        # align_corners is only accepted by the interpolating modes
        corners = dict(align_corners=a.align_corners) if a.mode == "bilinear" else {}
        if len(inputs) == 2:
            extra = "".join(f", {k}={v!r}" for k, v in corners.items())
            return TorchExpr(f"F.interpolate({{0}}, size={{1}}.shape[-2:], mode={a.mode!r}{extra})")
        return TorchModule("nn.Upsample", kwargs=dict(size=a.size, scale_factor=a.scale_factor, mode=a.mode,
                                                       **corners))

    def onnx(self, a, inputs, types, out, emit):
        # torch's sampling grids: nearest takes ⌊dst/scale⌋, bilinear the half-pixel centres
        how = (dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
               if a.mode == "nearest" else
               dict(mode="linear", coordinate_transformation_mode="align_corners" if a.align_corners else "half_pixel"))
        if a.scale_factor is not None:
            scales = emit.const("scales", a.scale_factor, "float32")
            return emit("Resize", inputs[0], "", scales, axes=[2, 3], **how)
        size = out.shape[2:]
        # a size known now is a constant; a symbolic one is read from the reference at run time
        sizes = (emit.const("sizes", size) if all(isinstance(n, int) for n in size) else
                 emit("Shape", inputs[1], start=2, end=4))
        return emit("Resize", inputs[0], "", "", sizes, axes=[2, 3], **how)


def _scaled(n: str, factor: float, log) -> str:
    if not float(factor).is_integer() or symbolic.scale(n, int(factor)) is None:
        raise ShapeError(f"cannot scale the symbolic size {n} by {factor:g}: give an integer factor or a concrete size",
                         attr="scale_factor")
    return symbolic.scale(n, int(factor))
