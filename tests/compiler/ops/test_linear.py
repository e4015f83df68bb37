"""linear and maxout against torch.nn.Linear (maxout: a linear layer of k·out features,
then the maximum over the k pieces, as in the slides)."""

import torch
from torch import nn

from harness import Case, Refusal, op_tests


class Maxout(nn.Module):
    """An independent maxout: one linear layer of pieces·out features, max over the pieces."""

    def __init__(self, in_features, out_features, pieces, bias=True):
        super().__init__()
        self.pieces, self.out_features = pieces, out_features
        self.weight = nn.Parameter(torch.randn(pieces * out_features, in_features))
        self.bias = nn.Parameter(torch.randn(pieces * out_features)) if bias else None

    def forward(self, x):
        y = nn.functional.linear(x, self.weight, self.bias)
        return y.unflatten(-1, (self.pieces, self.out_features)).amax(-2)


CASES = [
    Case("linear", {"out_features": 10}, [("N", 6272)], lambda: nn.Linear(6272, 10), id="ccp-classifier"),
    Case("linear", {"out_features": 2, "in_features": 2}, [("N", 2)], lambda: nn.Linear(2, 2), id="xor-hidden"),
    Case("linear", {"out_features": 5, "bias": False}, [("N", 7, 3)], lambda: nn.Linear(3, 5, bias=False),
         id="sequence-no-bias"),
    Case("linear", {"out_features": 5, "bias": False}, [("N", 6)], lambda: nn.Linear(6, 5, bias=False), id="no-bias"),
    Case("linear", {"out_features": 5}, [("N", 3, 9, 11)], lambda: nn.Linear(11, 5), id="image-last-axis"),
    Case("maxout", {"out_features": 4}, [("N", 6)], lambda: Maxout(6, 4, 2), id="maxout-2-pieces"),
    Case("maxout", {"out_features": 3, "pieces": 5, "bias": False}, [("N", 8)], lambda: Maxout(8, 3, 5, bias=False),
         id="maxout-5-pieces-no-bias"),
    Case("maxout", {"out_features": 3, "pieces": 4}, [("N", 6)], lambda: Maxout(6, 3, 4), id="maxout-4-pieces"),
    Case("maxout", {"out_features": 2, "pieces": 3}, [("N", 5, 6)], lambda: Maxout(6, 2, 3), id="maxout-sequence"),
]

REFUSALS = [
    Refusal("linear", {"out_features": 10, "in_features": 288}, [("N", 6272)], "in-features",
            lambda: nn.Linear(288, 10), id="slides-ccp-288", fragments=["288", "6,272"]),
    Refusal("maxout", {"out_features": 2, "in_features": 3}, [("N", 4)], "in-features",
            lambda: Maxout(3, 2, 2), id="maxout-in-features"),
    Refusal("linear", {"out_features": 2}, [("N",)], "shape-mismatch", id="rank-1-input"),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)
