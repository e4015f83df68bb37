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
from pathlib import Path

import torch
from torch import nn

from nncompile.compiler import to_torch
from resnets import Bottleneck, ResNet  # benchmarks/ is the script's folder

SPEC = Path(__file__).resolve().parents[1] / "specs/resnet50.yaml"


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
    hand = ResNet(Bottleneck, [3, 4, 6, 3]).to(args.device)
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
