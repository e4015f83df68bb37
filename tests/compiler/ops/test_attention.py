"""matmul, sdpa and multihead_attention against torch.matmul,
F.scaled_dot_product_attention and nn.MultiheadAttention(batch_first=True)."""

import torch
import torch.nn.functional as F
from torch import nn

from harness import Case, Fn, Refusal, op_tests


class SelfAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention as ViT calls it: self-attention, the output alone. (Through
    F.multi_head_attention_forward with need_weights, whose products are bmm calls: the
    fused kernels eval and need_weights=False take are invisible to FlopCounterMode.)"""

    def __init__(self, embed_dim, num_heads, bias=True):
        super().__init__(embed_dim, num_heads, bias=bias, batch_first=True)

    def forward(self, query, key=None, value=None):
        key = query if key is None else key
        value = query if value is None else value
        q, k, v = (t.transpose(0, 1) for t in (query, key, value))
        out, _ = F.multi_head_attention_forward(
            q, k, v, self.embed_dim, self.num_heads, self.in_proj_weight, self.in_proj_bias, None, None, False,
            0.0, self.out_proj.weight, self.out_proj.bias, training=False, need_weights=True)
        return out.transpose(0, 1)


CASES = [
    Case("matmul", {}, [("N", 3, 5, 4), ("N", 3, 4, 6)], lambda: Fn(torch.matmul), id="matmul-heads"),
    Case("matmul", {}, [("N", 2, 5, 4), ("N", 1, 4, 7)], lambda: Fn(torch.matmul), id="matmul-broadcast"),
    Case("matmul", {}, [("N", "P", 8), ("N", 8, 3)], lambda: Fn(torch.matmul), id="matmul-symbolic-rows"),
    Case("sdpa", {}, [("N", 2, 5, 8), ("N", 2, 7, 8), ("N", 2, 7, 3)],
         lambda: Fn(F.scaled_dot_product_attention), id="sdpa"),
    Case("sdpa", {"scale": 0.5}, [("N", 2, 5, 8), ("N", 2, 5, 8), ("N", 2, 5, 8), (1, 1, 5, 5)],
         lambda: Fn(lambda q, k, v, m: torch.softmax(q @ k.transpose(-2, -1) * 0.5 + m, -1) @ v),
         id="sdpa-mask-scale"),  # written out: FlopCounterMode counts nothing of F.sdpa with a mask
    Case("multihead_attention", {"num_heads": 4}, [("N", 7, 16)], lambda: SelfAttention(16, 4), id="mha-self"),
    Case("multihead_attention", {"num_heads": 2, "bias": False}, [("N", 5, 8), ("N", 6, 8), ("N", 6, 8)],
         lambda: SelfAttention(8, 2, bias=False), id="mha-cross-no-bias"),
]

REFUSALS = [
    Refusal("matmul", {}, [("N", 3, 4), ("N", 5, 6)], "shape-mismatch", lambda: torch.matmul,
            id="matmul-inner-sizes", fragments=["inner sizes"]),
    Refusal("multihead_attention", {"num_heads": 3}, [("N", 7, 16)], "shape-mismatch",  # torch: an assert
            id="mha-heads-not-dividing", fragments=["3 heads"]),
    Refusal("sdpa", {}, [("N", 5, 8), ("N", 5, 4), ("N", 5, 4)], "shape-mismatch",
            lambda: F.scaled_dot_product_attention, id="sdpa-widths"),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)
