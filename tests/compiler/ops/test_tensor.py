"""flatten, reshape and identity against torch.nn.Flatten, Tensor.reshape and nn.Identity."""

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
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)
