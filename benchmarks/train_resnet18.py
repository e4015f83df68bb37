"""Training throughput of the ResNet-18 spec against a hand-written torchvision-style ResNet-18,
both trained by the runtime's step (objective, optimizer, bf16 autocast on CUDA,
channels_last) on the same random batches, timed alternately in one run so both see the
same machine state. Prints images/s for each and their ratio.

    python benchmarks/train_resnet18.py [--batch 128] [--size 224] [--steps 30] [--rounds 3]

Meant for a GPU (it picks CUDA when present); on a CPU use small sizes (--batch 4 --size 64).
"""

from __future__ import annotations

import argparse
import time
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from nncompile.compiler import to_torch
from nncompile.runtime.config import Train
from nncompile.runtime.metrics import LOSSES
from nncompile.runtime.objectives import Supervised
from nncompile.runtime.train import make_optimizer

SPEC = Path(__file__).resolve().parents[1] / "specs/resnet18.yaml"


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1, self.relu = nn.BatchNorm2d(channels), nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(OrderedDict(conv=nn.Conv2d(in_channels, channels, 1, stride=stride,
                                                                       bias=False), bn=nn.BatchNorm2d(channels)))

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNet18(nn.Module):
    """Written by hand, torchvision-style."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1, self.relu = nn.BatchNorm2d(64), nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        for index, (width, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)], 1):
            setattr(self, f"layer{index}", nn.Sequential(BasicBlock(channels, width, stride), BasicBlock(width, width, 1)))
            channels = width
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean((2, 3)))


def trainer(model: nn.Module, device: torch.device):
    """One training step as the runtime takes it (runtime/train.py)."""
    model = model.to(device, memory_format=torch.channels_last)
    task = Supervised(model, LOSSES["cross_entropy"])
    optimizer = make_optimizer(Train(optimizer="sgd", lr=0.01), list(task.parameters()), 0.01)

    def step(x, y):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss, _ = task(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x = torch.randn(args.batch, 3, args.size, args.size, device=device).to(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (args.batch,), device=device)
    steps = {"spec (to_torch)": trainer(to_torch(SPEC, seed=0), device), "hand-written": trainer(ResNet18(), device)}
    rates: dict[str, list[float]] = {name: [] for name in steps}
    for name, step in steps.items():  # warm-up: cuDNN autotuning, allocator
        for _ in range(3):
            step(x, y)
    for _ in range(args.rounds):
        for name, step in steps.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(args.steps):
                step(x, y)
            if device.type == "cuda":
                torch.cuda.synchronize()
            rates[name].append(args.steps * args.batch / (time.perf_counter() - start))
    where = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"ResNet-18 training, batch {args.batch}, {args.size}×{args.size}, bf16 autocast "
          f"{'on' if device.type == 'cuda' else 'off (CPU)'}, channels_last, {where}")
    for name, values in rates.items():
        print(f"  {name:<16} {max(values):>9,.1f} images/s (best of {args.rounds} rounds)")
    spec, hand = (max(v) for v in rates.values())
    print(f"  spec / hand-written: {spec / hand:.3f}")


if __name__ == "__main__":
    main()
