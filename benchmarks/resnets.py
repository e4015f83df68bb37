"""ResNets written by hand, torchvision-style, as the benchmarks' reference: their
state_dict keys are the specs' layer names (specs/resnet18.yaml, specs/resnet50.yaml), so
a lowered spec's weights load into them with strict=True (`layer2.0.downsample.0`, …).

    ResNet(BasicBlock, [2, 2, 2, 2])   # ResNet-18
    ResNet(Bottleneck, [3, 4, 6, 3])   # ResNet-50
"""

from __future__ import annotations

from torch import nn


def downsample(in_channels: int, out: int, stride: int) -> nn.Module | None:
    """The 1×1 projection of the shortcut, where the block changes the shape."""
    if stride == 1 and in_channels == out:
        return None
    return nn.Sequential(nn.Conv2d(in_channels, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))


class Block(nn.Module):
    expansion: int  # output channels per unit of width

    def forward(self, x):
        return self.relu(self.residual(x) + (self.downsample(x) if self.downsample is not None else x))


class BasicBlock(Block):
    expansion = 1

    def __init__(self, in_channels: int, width: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=stride, padding=1, bias=False)
        self.bn1, self.relu = nn.BatchNorm2d(width), nn.ReLU()
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = downsample(in_channels, width, stride)

    def residual(self, x):
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))


class Bottleneck(Block):
    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int):
        super().__init__()
        out = self.expansion * width
        self.conv1, self.bn1 = nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out)
        self.relu = nn.ReLU()
        self.downsample = downsample(in_channels, out, stride)

    def residual(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.bn3(self.conv3(y))


class ResNet(nn.Module):
    def __init__(self, block: type[Block], blocks_per_stage: list[int], num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1, self.relu = nn.BatchNorm2d(64), nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        for index, (blocks, width) in enumerate(zip(blocks_per_stage, (64, 128, 256, 512)), 1):
            stage = []
            for i in range(blocks):
                stride = 2 if i == 0 and index > 1 else 1  # each stage after the first halves H×W
                stage.append(block(channels, width, stride))
                channels = block.expansion * width
            setattr(self, f"layer{index}", nn.Sequential(*stage))
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean((2, 3)))
