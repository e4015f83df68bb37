"""add, multiply and concat against torch's +, * and torch.cat (with broadcasting)."""

import torch

from harness import Case, Fn, Refusal, analyse_layer, op_tests

IMAGE = ("N", 3, 9, 11)

CASES = [
    Case("add", {}, [("N", 64, 56, 56), ("N", 64, 56, 56)], lambda: Fn(lambda a, b: a + b), id="residual"),
    Case("add", {}, [("N", 8, 4, 4), ("N", 8, 1, 1), ("N", 8, 4, 4)], lambda: Fn(lambda a, b, c: a + b + c),
         id="three-broadcast"),
    Case("add", {}, [IMAGE, IMAGE], lambda: Fn(lambda a, b: a + b), id="two"),
    Case("add", {}, [IMAGE, ("N", 1, 9, 11), IMAGE], lambda: Fn(lambda a, b, c: a + b + c),
         id="three-broadcast-channels"),
    Case("multiply", {}, [("N", 16, 7, 7), ("N", 16, 1, 1)], lambda: Fn(lambda a, b: a * b), id="se-gating"),
    Case("multiply", {}, [IMAGE, ("N", 1, 9, 11)], lambda: Fn(lambda a, b: a * b), id="broadcast-channels"),
    Case("concat", {}, [("N", 64, 28, 28), ("N", 128, 28, 28), ("N", 32, 28, 28), ("N", 32, 28, 28)],
         lambda: Fn(lambda *xs: torch.cat(xs, dim=1)), id="inception-branches"),
    Case("concat", {"axis": -1}, [("N", 3, 5), ("N", 3, 2)], lambda: Fn(lambda a, b: torch.cat((a, b), dim=-1)),
         id="last-axis"),
    Case("concat", {"axis": 1}, [IMAGE, ("N", 4, 9, 11)], lambda: Fn(lambda a, b: torch.cat((a, b), dim=1)),
         id="axis-1-explicit"),
]

REFUSALS = [
    Refusal("add", {}, [("N", 32, 8, 8), ("N", 16, 8, 8)], "shape-mismatch", lambda: (lambda a, b: a + b),
            id="add-channel-mismatch", fragments=["16", "32"]),
    Refusal("multiply", {}, [("N", 4, 3), ("N", 4, 2)], "shape-mismatch", lambda: (lambda a, b: a * b),
            id="multiply-mismatch"),
    Refusal("multiply", {}, [("N", 96, 8, 8), ("N", 96)], "shape-mismatch", lambda: (lambda a, b: a * b),
            id="multiply-squeeze-excitation-flattened", fragments=["axis 2: 8 vs N", "N×96×1×1", "keepdim"]),
    Refusal("concat", {}, [("N", 4, 8, 8), ("N", 4, 7, 8)], "shape-mismatch",
            lambda: (lambda a, b: torch.cat((a, b), dim=1)), id="concat-spatial-mismatch"),
    Refusal("concat", {"axis": 0}, [("N", 4), ("N", 4)], "shape-mismatch", id="concat-batch-axis"),
    Refusal("add", {}, [("N", 4)], "shape-mismatch", id="add-one-input"),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)


def test_the_broadcast_hint_is_only_for_a_shorter_input_with_a_batch_axis(tmp_path):
    for shapes in ([("N", 4, 3), ("N", 3, 2)], [("N", 96, 8, 8), (96, 1, 2)]):
        (error,) = analyse_layer(tmp_path, "multiply", {}, shapes).errors
        assert error.code == "shape-mismatch" and not error.notes
