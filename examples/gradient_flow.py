"""Why depth needed ReLU and skip connections, measured.

Three networks of the same depth (examples/specs/): a deep MLP of sigmoid layers, the same
with ReLU and He initialisation, and a residual version. One backward pass over a random
batch each; the gradient norm of every layer's parameters, and how far the first layer's
lies below the residual network's.

    python examples/gradient_flow.py [--depth 10] [--batch 16] [--seed 0] [--plot flow.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nncompile.compiler import build, to_torch
from nncompile.runtime import gradient_flow as flow

SPECS = Path(__file__).resolve().parent / "specs"
NETWORKS = ("deep_sigmoid", "deep_relu", "deep_residual")


def compare(depth: int, batch: int, seed: int) -> dict[str, list[flow.LayerFlow]]:
    reports = {}
    for name in NETWORKS:
        graph = build(SPECS / f"{name}.yaml", {"depth": depth})
        reports[name] = flow.gradient_flow(graph, to_torch(graph, seed=seed), batch=batch, seed=seed)
    return reports


def summary(reports: dict[str, list[flow.LayerFlow]]) -> str:
    firsts = {name: flow.first_layer(rows) for name, rows in reports.items()}
    residual = firsts["deep_residual"].param_grad
    lines = [f"{'network':<14} {'first layer':<12} {'‖∂L/∂θ‖':>10}  {'÷ residual':>10}  flagged layers"]
    for name, first in firsts.items():
        flagged = sum(bool(r.flag) for r in reports[name])
        lines.append(f"{name:<14} {first.name:<12} {first.param_grad:10.3e}  {first.param_grad / residual:10.2e}  "
                     f"{flagged}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--depth", type=int, default=10)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", metavar="FILE.png", help="the three networks' norms per layer")
    p.add_argument("--tables", action="store_true", help="also print each network's per-layer table")
    args = p.parse_args()
    reports = compare(args.depth, args.batch, args.seed)
    if args.tables:
        for name, rows in reports.items():
            print(flow.render(rows, name))
    print(summary(reports))
    if args.plot:
        flow.plot(reports, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
