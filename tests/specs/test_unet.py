"""specs/unet.yaml against an independent U-Net: milesial/Pytorch-UNet's architecture
(unet/unet_parts.py and unet_model.py, bilinear=False) written here by hand in torch, with
that repository's module names. Its parameter count, state_dict, every layer's output shape
at several sizes (concrete builds, and the symbolic 16·h × 16·w build evaluated there) and,
with its weights loaded strictly, its eval outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from nncompile.compiler import analyse, to_torch
from nncompile.compiler.symbolic import evaluate
from nncompile.compiler.verify import render, verify
from torchvision_outputs import assert_gives_its_outputs

SPEC = Path(__file__).resolve().parents[2] / "specs" / "unet.yaml"
SIZES = [(32, 32), (64, 96), (80, 48)]  # multiples of 16


class DoubleConv(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(c_in, c_out))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_in // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(c_in, c_out)

    def forward(self, x1, x2):  # sides multiples of 16: milesial's F.pad of the difference pads nothing
        return self.conv(torch.cat([x2, self.up(x1)], dim=1))


class OutConv(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=1)

    def forward(self, x):
        return self.conv(x)


class UNet(nn.Module):
    def __init__(self, n_channels: int = 3, n_classes: int = 2):
        super().__init__()
        self.inc = DoubleConv(n_channels, 64)
        self.down1, self.down2, self.down3, self.down4 = Down(64, 128), Down(128, 256), Down(256, 512), Down(512, 1024)
        self.up1, self.up2, self.up3, self.up4 = Up(1024, 512), Up(512, 256), Up(256, 128), Up(128, 64)
        self.outc = OutConv(64, n_classes)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x = self.up1(self.down4(x4), x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        return self.outc(self.up4(x, x1))


def _count(module: nn.Module) -> tuple[int, int]:
    buffers = sum(b.numel() for k, b in module.named_buffers() if not k.endswith("num_batches_tracked"))
    return sum(p.numel() for p in module.parameters()), buffers


@pytest.mark.parametrize("n_classes", [2, 3])
def test_parameters_are_the_reference_modules(n_classes):
    with torch.device("meta"):
        reference = UNet(n_classes=n_classes)
    totals = analyse(SPEC, {"n_classes": n_classes}).totals
    assert (totals.params, totals.buffers) == _count(reference)
    # 31,037,698 for n_classes=2 (milesial's Carvana model); the 31,037,763 often quoted is n_classes=3's
    assert totals.params == {2: 31_037_698, 3: 31_037_763}[n_classes]


def test_state_dict_is_the_reference_modules_key_for_key():
    with torch.device("meta"):
        ours, reference = to_torch(SPEC), UNet()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}


def _reference_shapes(reference: nn.Module, x: torch.Tensor) -> dict[str, tuple]:
    """Every leaf module's output shape by name, and each up's concat (its double conv's input)."""
    shapes, hooks = {}, []
    for name, module in reference.named_modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, o.shape)))
        if name.endswith(".conv") and name.startswith("up"):
            hooks.append(module.register_forward_pre_hook(
                lambda m, i, name=name: shapes.__setitem__(name.replace(".conv", ".cat"), i[0].shape)))
    with torch.no_grad():
        reference(x)
    for hook in hooks:
        hook.remove()
    return shapes


@pytest.mark.parametrize("height, width", SIZES)
def test_every_layers_shape_is_torchs_concrete_and_symbolic(height, width):
    with torch.device("meta"):
        shapes = _reference_shapes(UNet(), torch.zeros(2, 3, height, width))
    concrete = analyse(SPEC, {"height": height, "width": width})
    symbolic = analyse(SPEC)
    assert set(shapes) == {name for name, node in concrete.nodes.items() if not node.is_input}  # every layer
    values = {"N": 2, "h": height // 16, "w": width // 16}
    for name, shape in shapes.items():
        assert tuple(evaluate(d, values) for d in concrete.nodes[name].type.shape) == tuple(shape), name
        assert tuple(evaluate(d, values) for d in symbolic.nodes[name].type.shape) == tuple(shape), name


def test_any_multiple_of_16_is_admissible():
    graph = analyse(SPEC)
    assert graph.errors == []
    assert graph.nodes["down4.maxpool_conv.1.double_conv.5"].type.shape == ("N", 1024, "h", "w")
    assert graph.nodes["outc.conv"].type.shape == ("N", 2, "16·h", "16·w")
    assert [e.code for e in analyse(SPEC, {"height": 72, "width": 64}).errors] == ["shape-mismatch"]  # 72/8 is odd


@pytest.mark.parametrize("params", [{}, {"height": 48, "width": 64}], ids=["symbolic", "concrete"])
def test_the_reference_weights_load_strictly_and_give_its_outputs(params):
    assert_gives_its_outputs(UNet(), to_torch(analyse(SPEC, params)), (48, 64))


@pytest.mark.slow  # 31M parameters through torch, ONNX and onnxruntime
def test_verify_agrees_at_a_concrete_size():
    checks = verify(analyse(SPEC, {"height": 48, "width": 64}), batches=(1, 2))
    assert all(c.ok for c in checks), render(checks)
