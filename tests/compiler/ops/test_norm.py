"""Normalisation against torch.nn's BatchNorm1d/2d, LayerNorm and LocalResponseNorm."""

from torch import nn

from harness import Case, Refusal, op_tests

IMAGE = [("N", 3, 9, 11)]

CASES = [
    Case("batchnorm2d", {}, [("N", 64, 56, 56)], lambda: nn.BatchNorm2d(64), id="resnet-bn"),
    Case("batchnorm2d", {"affine": False, "num_features": 8}, [("N", 8, 4, 4)],
         lambda: nn.BatchNorm2d(8, affine=False), id="bn-no-affine"),
    Case("batchnorm2d", {"momentum": 0.2}, IMAGE, lambda: nn.BatchNorm2d(3, momentum=0.2), id="bn-momentum"),
    Case("batchnorm1d", {}, [("N", 32)], lambda: nn.BatchNorm1d(32), id="bn1d-features"),
    Case("batchnorm1d", {"eps": 0.001, "momentum": 0.01}, [("N", 16, 20)],
         lambda: nn.BatchNorm1d(16, eps=0.001, momentum=0.01), id="bn1d-sequence"),
    Case("batchnorm1d", {"eps": 0.001, "affine": False}, [("N", 6)], lambda: nn.BatchNorm1d(6, eps=0.001, affine=False),
         id="bn1d-no-affine"),
    Case("batchnorm1d", {}, [("N", 4, 7)], lambda: nn.BatchNorm1d(4), id="bn1d-sequence-defaults"),
    Case("layernorm", {}, [("N", 10, 512)], lambda: nn.LayerNorm(512), id="ln-last-axis"),
    Case("layernorm", {"normalized_shape": [4, 6], "elementwise_affine": False}, [("N", 3, 4, 6)],
         lambda: nn.LayerNorm([4, 6], elementwise_affine=False), id="ln-two-axes-no-affine"),
    Case("layernorm", {"normalized_shape": [9, 11]}, IMAGE, lambda: nn.LayerNorm([9, 11]), id="ln-two-axes"),
    Case("layernorm", {"elementwise_affine": False}, [("N", 5, 8)], lambda: nn.LayerNorm(8, elementwise_affine=False),
         id="ln-no-affine"),
    Case("local_response_norm", {"size": 5, "alpha": 0.0001, "beta": 0.75, "k": 2.0}, [("N", 96, 55, 55)],
         lambda: nn.LocalResponseNorm(5, 0.0001, 0.75, 2.0), id="alexnet-lrn"),
    Case("local_response_norm", {"size": 3, "alpha": 0.1, "beta": 0.6, "k": 2.0}, [("N", 7, 5, 4)],
         lambda: nn.LocalResponseNorm(3, 0.1, 0.6, 2.0), id="lrn-3"),
    Case("local_response_norm", {"size": 3, "k": 2.0}, IMAGE, lambda: nn.LocalResponseNorm(3, k=2.0),
         id="lrn-default-alpha-beta"),
]

REFUSALS = [
    Refusal("batchnorm2d", {"num_features": 32}, [("N", 64, 8, 8)], "in-channels", lambda: nn.BatchNorm2d(32),
            id="bn-wrong-num-features"),
    Refusal("batchnorm2d", {}, [("N", 64)], "shape-mismatch", lambda: nn.BatchNorm2d(64), id="bn2d-rank-2"),
    Refusal("layernorm", {"normalized_shape": [5]}, [("N", 3, 4)], "shape-mismatch", lambda: nn.LayerNorm([5]),
            id="ln-shape-mismatch"),
    Refusal("local_response_norm", {}, [("N", 8)], "shape-mismatch", lambda: nn.LocalResponseNorm(5),
            id="lrn-rank-2"),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)
