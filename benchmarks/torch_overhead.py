"""Does lowering cost anything? Forward+backward time of the lowered ResNet-50
(specs/resnet50.yaml) against a hand-written equivalent carrying the very same weights,
measured alternately in one run so both see the same machine state. Prints the median of
the per-round ratios (lowered / hand-written); the target is ≤ 1.02.

    python benchmarks/torch_overhead.py [--batch 4] [--size 224] [--rounds 10] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from nncompile.compiler import to_torch

SPEC = Path(__file__).resolve().parents[1] / "specs/resnet50.yaml"


class Bottleneck(nn.Module):
    def __init__(self, in_channels: int, width: int, stride: int):
        super().__init__()
        out = 4 * width
        self.conv1, self.bn1 = nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or in_channels != out:
            self.downsample = nn.Sequential(OrderedDict(conv=nn.Conv2d(in_channels, out, 1, stride=stride, bias=False),
                                                        bn=nn.BatchNorm2d(out)))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNet50(nn.Module):
    """Written by hand, torchvision-style; state_dict keys match the spec's layer names."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1, self.relu = nn.BatchNorm2d(64), nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        for index, (blocks, width, stride) in enumerate([(3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)], 1):
            stage = []
            for i in range(blocks):
                stage.append(Bottleneck(channels, width, stride if i == 0 else 1))
                channels = 4 * width
            setattr(self, f"layer{index}", nn.Sequential(*stage))
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean((2, 3)))


def step_time(model: nn.Module, x: torch.Tensor) -> float:
    if x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    model(x).sum().backward()
    if x.is_cuda:
        torch.cuda.synchronize()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()

    lowered = to_torch(SPEC, seed=0).to(args.device)
    hand = ResNet50().to(args.device)
    hand.load_state_dict(lowered.state_dict())  # strict: same names, same shapes
    x = torch.randn(args.batch, 3, args.size, args.size, device=args.device)
    with torch.no_grad():
        lowered.eval(), hand.eval()
        if not torch.equal(lowered(x), hand(x)):
            raise SystemExit("the hand-written model does not compute what the lowered one does")
    lowered.train(), hand.train()
    for model in (lowered, hand):  # warm-up
        step_time(model, x)

    ratios, times = [], {"lowered": [], "hand": []}
    for round_ in range(args.rounds):
        order = [("lowered", lowered), ("hand", hand)][:: 1 if round_ % 2 == 0 else -1]
        measured = {name: step_time(model, x) for name, model in order}
        for name, t in measured.items():
            times[name].append(t)
        ratios.append(measured["lowered"] / measured["hand"])
    print(f"ResNet-50 forward+backward, batch {args.batch} at {args.size}×{args.size} on {args.device}, "
          f"{args.rounds} rounds, {torch.get_num_threads()} threads")
    print(f"  lowered (nncompile): median {statistics.median(times['lowered']) * 1e3:.1f} ms")
    print(f"  hand-written:        median {statistics.median(times['hand']) * 1e3:.1f} ms")
    print(f"  median ratio lowered/hand: {statistics.median(ratios):.3f} (target ≤ 1.02)")


if __name__ == "__main__":
    main()
