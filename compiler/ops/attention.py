"""Attention: matmul between activations, scaled dot-product attention, and multi-head
attention with torch's nn.MultiheadAttention parameters (so torchvision's ViT loads).

MACs: every matrix product counts, the attention's own included: QKᵀ is L·S·E and the
weighted sum AV is L·S·Ev multiply-accumulates per head and sample, beside the
projections' (as fvcore and torchvision's published figures count; softmax and scaling
count nothing)."""

from __future__ import annotations

import math

from ..ir import Dim
from .base import Attrs, Op, PositiveInt, ShapeError, TensorType, TorchExpr, TorchModule, register


def _product(dims) -> int | None:
    return math.prod(dims) if all(isinstance(d, int) for d in dims) else None


def _broadcast(a: tuple, b: tuple, what: str) -> tuple:
    """torch.matmul's broadcast of the batch dims (all but the last two)."""
    rank = max(len(a), len(b))
    a, b = (1,) * (rank - len(a)) + a, (1,) * (rank - len(b)) + b
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ShapeError(f"{what}: the batch dims {a} and {b} do not broadcast ({x} vs {y})")
        out.append(y if x == 1 else x)
    return tuple(out)


@register
class MatMul(Op):
    """The matrix product of two activations (as torch.matmul, both of rank ≥ 3, the dims
    before the last two broadcast): N×h×L×E times N×h×E×S is N×h×L×S. MACs: L·E·S per
    matrix of the broadcast batch."""

    name = "matmul"
    family = "attention"
    arity = (2, 2)

    def infer(self, a, inputs, log):
        x, y = inputs
        if x.rank < 3 or y.rank < 3:
            raise ShapeError(f"multiplies matrices with the batch first (rank ≥ 3), got {x} and {y}")
        if x.shape[-1] != y.shape[-2]:
            raise ShapeError(f"{x} times {y}: the inner sizes differ ({x.shape[-1]} vs {y.shape[-2]})",
                             notes=["the last size of the first must be the second-to-last of the second"])
        return TensorType((*_broadcast(x.shape[:-2], y.shape[:-2], "matmul"), x.shape[-2], y.shape[-1]))

    def macs(self, a, inputs, out):
        rows = _product(out.shape[1:])
        return None if rows is None or not isinstance(inputs[0].shape[-1], int) else rows * inputs[0].shape[-1]

    def torch(self, a, inputs, out):
        return TorchExpr("torch.matmul({0}, {1})")

    def onnx(self, a, inputs, types, out, emit):
        return emit("MatMul", inputs[0], inputs[1])


class SdpaAttrs(Attrs):
    scale: float | None = None  # default 1/√E


def _attention_macs(length: Dim, source: Dim, width: Dim, value_width: Dim, batch: tuple) -> int | None:
    """QKᵀ (L·S·E) and AV (L·S·Ev) over every matrix of the batch dims."""
    dims = (length, source, *batch)
    count = _product(dims)
    if count is None or not isinstance(width, int) or not isinstance(value_width, int):
        return None
    return count * (width + value_width)


@register
class ScaledDotProductAttention(Op):
    """softmax(Q·Kᵀ·scale + mask)·V over the last two axes (as
    F.scaled_dot_product_attention): inputs q (N×…×L×E), k (N×…×S×E), v (N×…×S×Ev) and
    an optional additive float mask (broadcast to N×…×L×S); output N×…×L×Ev. `scale`
    defaults to 1/√E. MACs: L·S·E for QKᵀ and L·S·Ev for the weighted sum, per head."""

    name = "sdpa"
    family = "attention"
    Attrs = SdpaAttrs
    arity = (3, 4)

    def infer(self, a, inputs, log):
        q, k, v = inputs[:3]
        if q.rank < 3 or not q.rank == k.rank == v.rank:
            raise ShapeError(f"q, k and v must have one rank (≥ 3): {q}, {k}, {v}")
        if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
            raise ShapeError(f"q {q}, k {k}, v {v}: q and k must share the last size, k and v the one before")
        batch = _broadcast(_broadcast(q.shape[:-2], k.shape[:-2], "sdpa"), v.shape[:-2], "sdpa")
        if len(inputs) == 4:
            _broadcast(inputs[3].shape, (*batch, q.shape[-2], k.shape[-2]), "sdpa's mask")
        return TensorType((*batch, q.shape[-2], v.shape[-1]))

    def macs(self, a, inputs, out):
        q, k, v = inputs[:3]
        return _attention_macs(q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1], out.shape[1:-2])

    def label(self, a):
        return "attention" if a.scale is None else f"attention ×{a.scale:g}"

    def torch(self, a, inputs, out):
        mask = ", attn_mask={3}" if len(inputs) == 4 else ""
        scale = "" if a.scale is None else f", scale={a.scale!r}"
        return TorchExpr(f"F.scaled_dot_product_attention({{0}}, {{1}}, {{2}}{mask}{scale})")

    def onnx(self, a, inputs, types, out, emit):
        scale = a.scale if a.scale is not None else 1 / math.sqrt(types[0].shape[-1])
        mask = inputs[3] if len(inputs) == 4 else None
        return attend(emit, inputs[0], inputs[1], inputs[2], types[0].rank, scale, mask)


def attend(emit, q: str, k: str, v: str, rank: int, scale: float, mask: str | None = None) -> str:
    """softmax(q·kᵀ·scale + mask)·v in ONNX's standard ops (sdpa, multihead and window attention)."""
    perm = [*range(rank - 2), rank - 1, rank - 2]
    scores = emit("Mul", emit("MatMul", q, emit("Transpose", k, perm=perm)),
                  emit.const("scale", scale, dtype="float32"))
    if mask is not None:
        scores = emit("Add", scores, mask)
    return emit("MatMul", emit("Softmax", scores, axis=-1), v)


class MultiheadAttentionAttrs(Attrs):
    embed_dim: PositiveInt | None = None  # E, inferred from the input
    num_heads: PositiveInt
    bias: bool = True


@register
class MultiheadAttention(Op):
    """Multi-head attention as nn.MultiheadAttention(E, num_heads, batch_first=True), whose
    parameters it has: in_proj_weight 3E×E and in_proj_bias (q, k and v stacked),
    out_proj.weight E×E and out_proj.bias; the output is the attention's, N×L×E (its
    weights are not returned). One input is self-attention (q = k = v = x); three are
    query, key and value (N×L×E, N×S×E, N×S×E). MACs: the projections (L·E² for q and
    the output, S·E² for k and v) and, per head of width E/h, QKᵀ and AV: 2·L·S·E in all."""

    name = "multihead_attention"
    family = "attention"
    Attrs = MultiheadAttentionAttrs
    arity = (1, 3)
    params_are = ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")
    default_init = {"in_proj_weight": "xavier", "in_proj_bias": "zeros", "out_proj.weight": "fan_in_uniform",
                    "out_proj.bias": "zeros"}

    def infer(self, a, inputs, log):
        if len(inputs) == 2:
            raise ShapeError("takes one input (self-attention) or three (query, key, value), given 2", attr="in")
        q = inputs[0]
        for t in inputs:
            if t.rank != 3:
                raise ShapeError(f"expects N×L×E sequences (batch first), got {t} (rank {t.rank})")
        width = q.shape[-1]
        if not isinstance(width, int):
            raise ShapeError(f"the embedding size {width} must be concrete")
        if a.embed_dim is not None and a.embed_dim != width:
            raise ShapeError(f"embed_dim is {a.embed_dim} but the input is {q}", attr="embed_dim")
        if any(t.shape[-1] != width for t in inputs) or len(inputs) == 3 and inputs[1].shape[1] != inputs[2].shape[1]:
            raise ShapeError("query, key and value must have the embedding size E, key and value one length: "
                             + ", ".join(map(str, inputs)))
        if width % a.num_heads:
            raise ShapeError(f"the embedding size {width} does not split into {a.num_heads} heads", attr="num_heads")
        return q

    def param_shapes(self, a, inputs, out):
        e = inputs[0].shape[-1]
        shapes = {"in_proj_weight": (3 * e, e), "in_proj_bias": (3 * e,), "out_proj.weight": (e, e),
                  "out_proj.bias": (e,)}
        return shapes if a.bias else {"in_proj_weight": (3 * e, e), "out_proj.weight": (e, e)}

    def macs(self, a, inputs, out):
        e, length, source = inputs[0].shape[-1], inputs[0].shape[1], inputs[-1].shape[1]
        if not isinstance(length, int) or not isinstance(source, int):
            return None
        return 2 * length * e * e + 2 * source * e * e + _attention_macs(length, source, e, e, ())

    def label(self, a):
        return f"attention ×{a.num_heads} heads"

    def torch(self, a, inputs, out):
        call = "{m}({0}, {0}, {0}, need_weights=False)[0]" if len(inputs) == 1 else \
            "{m}({0}, {1}, {2}, need_weights=False)[0]"
        return TorchModule("nn.MultiheadAttention", (out.shape[-1], a.num_heads),
                           {"bias": a.bias, "batch_first": True}, call=call)

    def onnx(self, a, inputs, types, out, emit):
        e, heads = types[0].shape[-1], a.num_heads
        query, key, value = inputs if len(inputs) == 3 else inputs * 3
        weight = emit.param("in_proj_weight")
        bias = emit.param("in_proj_bias") if a.bias else None
        zero = emit.const("axis0", [0])

        def project(x: str, k: int) -> str:  # x·W_kᵀ + b_k, split into heads: N×h×L×(E/h)
            start, end = emit.const("start", [k * e]), emit.const("end", [(k + 1) * e])
            y = emit("MatMul", x, emit("Transpose", emit("Slice", weight, start, end, zero)))
            if bias is not None:
                y = emit("Add", y, emit("Slice", bias, start, end, zero))
            y = emit("Reshape", y, emit.const("heads", [0, 0, heads, e // heads]))
            return emit("Transpose", y, perm=[0, 2, 1, 3])

        attended = attend(emit, project(query, 0), project(key, 1), project(value, 2), 4, 1 / math.sqrt(e // heads))
        joined = emit("Reshape", emit("Transpose", attended, perm=[0, 2, 1, 3]), emit.const("joined", [0, 0, e]))
        y = emit("MatMul", joined, emit("Transpose", emit.param("out_proj.weight")))
        return emit("Add", y, emit.param("out_proj.bias")) if a.bias else y
