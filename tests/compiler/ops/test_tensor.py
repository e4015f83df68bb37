"""flatten, reshape, identity, permute, transpose, roll and pad against torch.nn.Flatten,
Tensor.reshape, nn.Identity, Tensor.permute, Tensor.transpose, torch.roll and F.pad."""

import torch
import torch.nn.functional as F
from torch import nn

from harness import Case, Fn, Refusal, op_tests

IMAGE = [("N", 3, 9, 11)]

CASES = [
    Case("flatten", {}, [("N", 8, 28, 28)], nn.Flatten, id="ccp-flatten"),
    Case("flatten", {}, IMAGE, nn.Flatten, id="flatten-rectangular"),
    Case("flatten", {}, [("N", 3, "H", "W")], nn.Flatten, id="flatten-symbolic"),
    Case("flatten", {"start_dim": 2}, [("N", 4, 3, 5)], lambda: nn.Flatten(start_dim=2), id="flatten-spatial"),
    Case("flatten", {"start_dim": 2}, IMAGE, lambda: nn.Flatten(start_dim=2), id="flatten-spatial-rectangular"),
    Case("flatten", {"start_dim": 1, "end_dim": 2}, [("N", 4, 3, 5)], lambda: nn.Flatten(1, 2), id="flatten-middle"),
    Case("flatten", {"start_dim": 2, "end_dim": 3}, [("N", 3, 4, 5, 2)], lambda: nn.Flatten(2, 3),
         id="flatten-middle-rank-5"),
    Case("reshape", {"shape": [16, -1]}, [("N", 8, 4, 4)], lambda: Fn(lambda x: x.reshape(x.shape[0], 16, -1)),
         id="reshape-inferred"),
    Case("reshape", {"shape": [2, 3, 4]}, [("N", 24)], lambda: Fn(lambda x: x.reshape(x.shape[0], 2, 3, 4)),
         id="reshape-explicit"),
    Case("reshape", {"shape": [-1, 11]}, IMAGE, lambda: Fn(lambda x: x.reshape(x.shape[0], -1, 11)),
         id="reshape-inferred-first"),
    Case("identity", {}, [("N", 3, 2, 2)], nn.Identity, id="identity"),
    Case("identity", {}, IMAGE, nn.Identity, id="identity-rectangular"),
    Case("permute", {"dims": [0, 2, 3, 1]}, IMAGE, lambda: Fn(lambda x: x.permute(0, 2, 3, 1)), id="permute-nhwc"),
    Case("permute", {"dims": [0, -1, 1, 2]}, [("N", 3, "H", "W")], lambda: Fn(lambda x: x.permute(0, 3, 1, 2)),
         id="permute-symbolic-negative"),
    Case("transpose", {"dim0": 1, "dim1": 2}, [("N", 2, 4, 5, 5)], lambda: Fn(lambda x: x.transpose(1, 2)),
         id="transpose-shuffle"),
    Case("transpose", {"dim0": -1, "dim1": -2}, [("N", 3, "H", "W")], lambda: Fn(lambda x: x.transpose(-1, -2)),
         id="transpose-symbolic"),
    Case("roll", {"shifts": [3, -4], "dims": [2, 3]}, IMAGE,
         lambda: Fn(lambda x: torch.roll(x, (3, -4), (2, 3))), id="roll-both-ways"),
    Case("roll", {"shifts": [20], "dims": [-1]}, IMAGE, lambda: Fn(lambda x: torch.roll(x, 20, -1)),
         id="roll-past-the-size"),
    Case("roll", {"shifts": [-3, 2], "dims": [2, 3]}, [("N", 3, "H", "W")],
         lambda: Fn(lambda x: torch.roll(x, (-3, 2), (2, 3))), id="roll-symbolic"),
    Case("pad", {"pads": [1, 2]}, IMAGE, lambda: Fn(lambda x: F.pad(x, (1, 2))), id="pad-zeros-width"),
    Case("pad", {"pads": [1, 0, 2, 3], "value": -1.5}, [("N", 3, "H", "W")],
         lambda: Fn(lambda x: F.pad(x, (1, 0, 2, 3), value=-1.5)), id="pad-constant-symbolic"),
    Case("pad", {"pads": [2, 2, 1, 3], "mode": "reflect"}, IMAGE,
         lambda: Fn(lambda x: F.pad(x, (2, 2, 1, 3), mode="reflect")), id="pad-reflect"),
    Case("pad", {"pads": [1, 2, 3, 0], "mode": "replicate"}, [("N", 3, "H", "W")],
         lambda: Fn(lambda x: F.pad(x, (1, 2, 3, 0), mode="replicate")), id="pad-replicate-symbolic"),
    Case("pad", {"pads": [0, 1, 0, 1, 1, 0]}, IMAGE, lambda: Fn(lambda x: F.pad(x, (0, 1, 0, 1, 1, 0))),
         id="pad-three-axes"),
]

REFUSALS = [
    Refusal("reshape", {"shape": [5, -1]}, [("N", 8, 4, 4)], "shape-mismatch",
            lambda: (lambda x: x.reshape(x.shape[0], 5, -1)), id="reshape-not-dividing"),
    Refusal("reshape", {"shape": [3, 3]}, [("N", 8)], "shape-mismatch",
            lambda: (lambda x: x.reshape(x.shape[0], 3, 3)), id="reshape-wrong-count"),
    Refusal("reshape", {"shape": [-1, -1]}, [("N", 8)], "shape-mismatch",
            lambda: (lambda x: x.reshape(x.shape[0], -1, -1)), id="reshape-two-unknowns"),
    Refusal("flatten", {"start_dim": 3}, [("N", 4, 3)], "shape-mismatch", lambda: nn.Flatten(start_dim=3),
            id="flatten-out-of-range"),
    Refusal("permute", {"dims": [0, 1, 1, 2]}, IMAGE, "shape-mismatch", lambda: (lambda x: x.permute(0, 1, 1, 2)),
            id="permute-repeated-axis", fragments=["no permutation"]),
    Refusal("permute", {"dims": [1, 0, 2, 3]}, IMAGE, "shape-mismatch", fragments=["batch"],
            id="permute-moves-the-batch"),
    Refusal("transpose", {"dim0": 1, "dim1": 4}, IMAGE, "shape-mismatch", lambda: (lambda x: x.transpose(1, 4)),
            id="transpose-out-of-range"),
    Refusal("transpose", {"dim0": 0, "dim1": 1}, IMAGE, "shape-mismatch", fragments=["batch axis N"],
            id="transpose-the-batch"),
    Refusal("roll", {"shifts": [1, 2], "dims": [2]}, IMAGE, "shape-mismatch",
            lambda: (lambda x: torch.roll(x, (1, 2), (2,))), id="roll-unpaired"),
    Refusal("pad", {"pads": [1, 2, 3]}, IMAGE, "shape-mismatch", lambda: (lambda x: F.pad(x, (1, 2, 3))),
            id="pad-odd-count"),
    Refusal("pad", {"pads": [11, 0], "mode": "reflect"}, IMAGE, "shape-mismatch",
            lambda: (lambda x: F.pad(x, (11, 0), mode="reflect")), id="pad-reflect-beyond-the-edge"),
    Refusal("pad", {"pads": [1, 1, 1, 1, 1, 1, 1, 1]}, IMAGE, "shape-mismatch", fragments=["non-batch"],
            id="pad-the-batch"),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)
