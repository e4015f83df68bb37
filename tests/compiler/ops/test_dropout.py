"""dropout against torch.nn.Dropout."""

from torch import nn

from harness import Case, Refusal, op_tests

CASES = [
    Case("dropout", {}, [("N", 4096)], lambda: nn.Dropout(0.5), id="alexnet-classifier"),
    Case("dropout", {"p": 0.1}, [("N", 3, 4, 4)], lambda: nn.Dropout(0.1), id="image"),
    Case("dropout", {"p": 0.3}, [("N", 6)], lambda: nn.Dropout(0.3), id="vector"),
]

REFUSALS = [
    Refusal("dropout", {"p": 1.5}, [("N", 4)], "bad-attribute", lambda: nn.Dropout(1.5), id="p-above-1"),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)
