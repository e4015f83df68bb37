"""Normalisation against torch.nn's BatchNorm1d/2d, LayerNorm, GroupNorm and LocalResponseNorm,
and layernorm2d against ConvNeXt's LayerNorm2d (written here: permute, LayerNorm, permute back)."""

import pytest
import torch
from torch import nn

from harness import Case, Refusal, op_tests


class ChannelsLayerNorm(nn.LayerNorm):
    """torchvision.models.convnext.LayerNorm2d, as torchvision writes it."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def randomised(module: nn.Module) -> nn.Module:
    """Affine values other than 1 and 0, so that a scale applied per group, or along the wrong
    axis, shows."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape))
    return module


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
    Case("layernorm", {"normalized_shape": 96}, [("N", 5, 96)], lambda: nn.LayerNorm(96), id="ln-integer-shape"),
    Case("layernorm2d", {}, IMAGE, lambda: randomised(ChannelsLayerNorm(3)), id="ln2d"),
    Case("layernorm2d", {"eps": 0.0001}, [("N", 96, 7, 7)], lambda: randomised(ChannelsLayerNorm(96, eps=1e-4)),
         id="ln2d-convnext"),
    Case("layernorm2d", {"elementwise_affine": False}, [("N", 4, "H", "W")],
         lambda: ChannelsLayerNorm(4, elementwise_affine=False), id="ln2d-no-affine-symbolic"),
    Case("groupnorm", {"num_groups": 2}, [("N", 6, 5, 4)], lambda: randomised(nn.GroupNorm(2, 6)), id="gn"),
    Case("groupnorm", {"num_groups": 32, "eps": 0.0001}, [("N", 64, "H", "W")],
         lambda: randomised(nn.GroupNorm(32, 64, eps=1e-4)), id="gn-32-symbolic"),
    Case("groupnorm", {"num_groups": 4, "affine": False}, [("N", 8, 10)], lambda: nn.GroupNorm(4, 8, affine=False),
         id="gn-sequence-no-affine"),
    Case("groupnorm", {"num_groups": 1}, [("N", 3)], lambda: randomised(nn.GroupNorm(1, 3)), id="gn-one-group-features"),
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
    Refusal("groupnorm", {"num_groups": 4}, [("N", 6, 5, 5)], "shape-mismatch", lambda: nn.GroupNorm(4, 6),
            id="gn-groups-do-not-divide", fragments=["6 mod 4 = 2"]),
    Refusal("layernorm2d", {}, [("N", 6, 5)], "shape-mismatch", id="ln2d-rank-3"),
    Refusal("local_response_norm", {}, [("N", 8)], "shape-mismatch", lambda: nn.LocalResponseNorm(5),
            id="lrn-rank-2"),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)


def check_onnx_with_random_weights(tmp_path, op: str, attrs: dict, shape: tuple):
    """The ONNX lowering against the torch lowering with random parameters: the harness's
    ONNX stage runs the default ones and zeros (or ¼s), which hide a per-channel scale applied
    per group or along the wrong axis."""
    import onnxruntime

    from harness import analyse_layer
    from nncompile.compiler import to_onnx, to_torch

    graph = analyse_layer(tmp_path, op, attrs, [("N", *shape)])
    module = randomised(to_torch(graph).eval())
    x = torch.randn(2, *shape)
    model = to_onnx(graph, weights=module.state_dict())
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x0": x.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), module(x))


@pytest.mark.parametrize("op, attrs, shape", [("groupnorm", {"num_groups": 3}, (6, 4, 5)),
                                              ("groupnorm", {"num_groups": 2}, (4, 7)),
                                              ("layernorm2d", {}, (5, 3, 4))], ids=str)
def test_onnx_scales_each_channel(tmp_path, op, attrs, shape):
    check_onnx_with_random_weights(tmp_path, op, attrs, shape)
