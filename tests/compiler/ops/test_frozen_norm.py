"""frozen_batchnorm2d against torchvision's FrozenBatchNorm2d (pure Python), with random
statistics and affine values (the defaults, ones and zeros, would hide a swapped buffer)."""

import torch

from harness import Case, Refusal, op_tests


def torchvision_or_skip():
    """Imported when a case runs, so scripts/gen_op_tables.py reads the cases without tests/ on its path."""
    from torchvision_shim import torchvision_or_skip

    return torchvision_or_skip()


def frozen(channels: int, eps: float | None = None):
    def build():
        ops = torchvision_or_skip().ops
        module = ops.FrozenBatchNorm2d(channels) if eps is None else ops.FrozenBatchNorm2d(channels, eps=eps)
        generator = torch.Generator().manual_seed(channels)
        for name, b in module.named_buffers():
            values = torch.rand(b.shape, generator=generator) + 0.1 if name == "running_var" else \
                torch.randn(b.shape, generator=generator)
            b.copy_(values)
        return module
    return build


CASES = [
    Case("frozen_batchnorm2d", {}, [("N", 64, 56, 56)], frozen(64), id="frozen-bn-resnet-stem"),
    Case("frozen_batchnorm2d", {"num_features": 8}, [("N", 8, "H", "W")], frozen(8), id="frozen-bn-symbolic"),
    Case("frozen_batchnorm2d", {"eps": 0.0}, [("N", 3, 5, 4)], frozen(3, eps=0.0), id="frozen-bn-eps-0"),
]

REFUSALS = [
    Refusal("frozen_batchnorm2d", {"num_features": 32}, [("N", 64, 8, 8)], "in-channels", id="frozen-bn-wrong-width"),
    Refusal("frozen_batchnorm2d", {}, [("N", 64)], "shape-mismatch", id="frozen-bn-rank-2"),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)


def test_torchvision_default_eps():
    """The op's default is torchvision's."""
    import inspect

    from nncompile.compiler.ops import REGISTRY
    from nncompile.compiler.records import fields

    ops = torchvision_or_skip().ops
    default = inspect.signature(ops.FrozenBatchNorm2d).parameters["eps"].default
    assert fields(REGISTRY["frozen_batchnorm2d"].Attrs)["eps"].default == default == 1e-5


def test_onnx_with_random_buffers(tmp_path):
    """ONNX BatchNormalization against the torch lowering with random statistics and affine
    values (the harness's ONNX stage runs the defaults)."""
    import onnxruntime

    from harness import analyse_layer
    from nncompile.compiler import to_onnx, to_torch

    graph = analyse_layer(tmp_path, "frozen_batchnorm2d", {"eps": 0.001}, [("N", 6, 5, 4)])
    module = to_torch(graph).eval()
    with torch.no_grad():
        for name, b in module.named_buffers():
            b.copy_(torch.rand(b.shape) + 0.1 if name.endswith("running_var") else torch.randn(b.shape))
    x = torch.randn(2, 6, 5, 4)
    session = onnxruntime.InferenceSession(to_onnx(graph, weights=module.state_dict()).SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x0": x.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), module(x))
