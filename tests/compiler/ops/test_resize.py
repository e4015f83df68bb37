"""upsample against torch.nn.Upsample and F.interpolate."""

from torch import nn
from torch.nn import functional as F

from harness import Case, Fn, Refusal, op_tests

IMAGE = ("N", 3, 9, 11)

CASES = [
    Case("upsample", {"scale_factor": 2}, [("N", 8, 7, 7)], lambda: nn.Upsample(scale_factor=2), id="nearest-x2"),
    Case("upsample", {"scale_factor": [2, 3], "mode": "bilinear"}, [("N", 8, 5, 4)],
         lambda: nn.Upsample(scale_factor=(2, 3), mode="bilinear"), id="bilinear-2x3"),
    Case("upsample", {"scale_factor": 1.5}, [("N", 2, 5, 5)], lambda: nn.Upsample(scale_factor=1.5),
         id="fractional-floor"),
    Case("upsample", {"size": [224, 224], "mode": "bilinear", "align_corners": True}, [("N", 21, 7, 7)],
         lambda: nn.Upsample(size=(224, 224), mode="bilinear", align_corners=True), id="to-size"),
    Case("upsample", {"mode": "bilinear"}, [("N", 21, 7, 7), ("N", 3, 224, 200)],
         lambda: Fn(lambda x, like: F.interpolate(x, size=like.shape[2:], mode="bilinear")), id="like-input"),
    Case("upsample", {"mode": "bilinear", "align_corners": True}, [IMAGE, ("N", 1, 20, 17)],
         lambda: Fn(lambda x, like: F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=True)),
         id="like-input-corners"),
    Case("upsample", {"mode": "bilinear"}, [("N", 3, "H", "W"), ("N", 1, "P", "Q")],
         lambda: Fn(lambda x, like: F.interpolate(x, size=like.shape[2:], mode="bilinear")), id="like-input-symbolic"),
    Case("upsample", {"scale_factor": [2, 3]}, [IMAGE], lambda: nn.Upsample(scale_factor=(2, 3)), id="nearest-2x3"),
    Case("upsample", {"scale_factor": 1.5, "mode": "bilinear"}, [IMAGE],
         lambda: nn.Upsample(scale_factor=1.5, mode="bilinear"), id="bilinear-fractional"),
    Case("upsample", {"size": [4, 1], "mode": "bilinear"}, [IMAGE], lambda: nn.Upsample(size=(4, 1), mode="bilinear"),
         id="bilinear-down-to-size"),
]

REFUSALS = [
    Refusal("upsample", {}, [("N", 2, 4, 4)], "shape-mismatch", id="no-target"),
    Refusal("upsample", {"scale_factor": 2, "size": [8, 8]}, [("N", 2, 4, 4)], "bad-attribute",
            lambda: nn.Upsample(size=(8, 8), scale_factor=2), id="two-targets"),
    Refusal("upsample", {"scale_factor": 2}, [("N", 4)], "shape-mismatch", id="rank-2"),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)
