"""specs/localize_shapes.yaml, the classification + localization network, against the same
network written with torchvision's own ResNet BasicBlock: names, shapes, the total and both
outputs with the same weights."""

from pathlib import Path

import torch
from torch import nn
from torchvision_shim import torchvision_or_skip

from nncompile.compiler import build, to_torch

SPEC = Path(__file__).resolve().parents[2] / "specs/localize_shapes.yaml"


class TorchvisionLocalizer(nn.Module):
    """ResNet-18's stem (3×3, no pool) and its first three stages at a quarter of the widths, one
    BasicBlock each, then a class head and a sigmoid box head on the flattened 4×4 map."""

    def __init__(self, block, width=16, classes=3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        channels = width
        for i, out in enumerate((width, 2 * width, 4 * width)):
            downsample = nn.Sequential(nn.Conv2d(channels, out, 1, stride=2, bias=False), nn.BatchNorm2d(out))
            setattr(self, f"layer{i + 1}", block(channels, out, stride=2, downsample=downsample))
            channels = out
        setattr(self, "class", nn.Linear(channels * 16, classes))
        self.box_fc = nn.Linear(channels * 16, 4)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x)))))).flatten(1)
        return getattr(self, "class")(x), torch.sigmoid(self.box_fc(x))


def test_localize_shapes_is_a_small_torchvision_resnet_with_two_heads():
    tv = torchvision_or_skip()
    graph = build(SPEC)
    assert list(graph.outputs) == ["class", "box"]
    ours, theirs = to_torch(graph, seed=0), TorchvisionLocalizer(tv.models.resnet.BasicBlock)
    shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert sum(p.numel() for p in theirs.parameters()) == sum(p.numel() for p in ours.parameters()) == 84_855
    theirs.load_state_dict(ours.state_dict(), strict=True)
    ours.eval()
    theirs.eval()
    x = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for a, b in zip(ours(x), theirs(x)):
            assert torch.allclose(a, b, atol=1e-6)
