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
from pathlib import Path

import torch
from torch import nn

from nncompile.compiler import to_torch
from resnets import BasicBlock, ResNet  # benchmarks/ is the script's folder
from nncompile.runtime.config import Train
from nncompile.runtime.metrics import LOSSES
from nncompile.runtime.objectives import Supervised
from nncompile.runtime.train import make_optimizer

SPEC = Path(__file__).resolve().parents[1] / "specs/resnet18.yaml"


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
    steps = {"spec (to_torch)": trainer(to_torch(SPEC, seed=0), device),
             "hand-written": trainer(ResNet(BasicBlock, [2, 2, 2, 2]), device)}
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
