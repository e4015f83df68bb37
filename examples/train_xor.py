"""Train the slides' XOR network and check it separates the four points.

    python examples/train_xor.py        (the same as: nncompile train specs/xor.yaml --config examples/xor.yaml)

Then loads runs/xor/best.pt into the spec's module, as any user of the weights would.
"""

import sys
from pathlib import Path

import torch

from nncompile.compiler import to_torch
from nncompile.cli import main

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    spec = ROOT / "specs/xor.yaml"
    code = main(["train", str(spec), "--config", str(ROOT / "examples/xor.yaml"),
                 "--exist-ok", *sys.argv[1:]])  # a rerun replaces this example's own run, which it reads
    if code:
        sys.exit(code)
    model = to_torch(spec)
    model.load_state_dict(torch.load("runs/xor/best.pt", weights_only=True)["model"])
    points = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    with torch.no_grad():
        predicted = (model(points).squeeze(1) >= 0.5).long()
    for (a, b), p in zip(points.long().tolist(), predicted.tolist()):
        print(f"{a} xor {b} -> {p}")
    correct = (predicted == torch.tensor([0, 1, 1, 0])).float().mean().item()
    print(f"accuracy {correct:.0%} on the four points")
    sys.exit(0 if correct == 1.0 else 1)
