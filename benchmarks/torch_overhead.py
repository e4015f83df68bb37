"""Does lowering cost anything? Forward+backward time of each network lowered from its spec
against torchvision's own module carrying the very same weights (loaded strictly), measured
alternately in one run so both see the same machine state. Prints, per family, the median of
the per-round ratios (lowered / torchvision); the target is ≤ 1.02 (issue 14).

    python benchmarks/torch_overhead.py [--batch 1] [--size 128] [--rounds 5] [--threads T] [--device cpu] [NAME ...]

The CNNs run at --size (they pool adaptively: any size works, a small one keeps a run of
every family within minutes); ViT, Swin and ShuffleNet (whose channel shuffle reshapes to
the spec's sizes) at 224.
On a machine other work loads, `--threads 1` keeps torch's threads from waiting on each
other, so the ratio measures the code rather than the scheduler (at load 5 on 2 cores, two
threads made every step ten times slower and the ratios swing from 0.9 to 1.3).
Without torchvision, ResNet-50 is compared with the hand-written one of benchmarks/resnets.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from pathlib import Path

import torch
from torch import nn

from nncompile.compiler import to_torch

SPECS = Path(__file__).resolve().parents[1] / "specs"
FAMILIES = ["resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "shufflenet_v2_x1_0",
            "densenet121", "resnext50_32x4d", "convnext_tiny", "vit_b_16", "squeezenet1_1", "swin_t"]
FIXED_SIZE = {"vit_b_16": 224, "swin_t": 224, "shufflenet_v2_x1_0": 224}  # reshapes sized for 224


def torchvision_models():
    """torchvision.models, imported as tests/torchvision_shim.py does, or None."""
    for name in ("torchvision._meta_registrations", "torchvision._autograd_registrations"):
        sys.modules.setdefault(name, types.ModuleType(name))
    try:
        import torchvision
    except Exception:  # not installed, or built against another torch
        return None
    return torchvision.models


def step_time(model: nn.Module, x: torch.Tensor) -> float:
    if x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    model(x).sum().backward()
    if x.is_cuda:
        torch.cuda.synchronize()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def pair(name: str, models) -> tuple[nn.Module, nn.Module, str]:
    """(lowered, reference, the reference's name) with the reference's weights in both."""
    lowered = to_torch(SPECS / f"{name}.yaml", seed=0)
    if models is None:
        from resnets import Bottleneck, ResNet  # benchmarks/ is the script's folder

        reference, what = ResNet(Bottleneck, [3, 4, 6, 3]), "hand-written"
    else:
        reference, what = getattr(models, name)(weights=None), "torchvision"
    lowered.load_state_dict(reference.state_dict(), strict=True)
    return lowered, reference, what


def compare(name: str, models, args) -> str:
    lowered, reference, what = pair(name, models)
    lowered, reference = lowered.to(args.device), reference.to(args.device)
    size = FIXED_SIZE.get(name, args.size)
    x = torch.randn(args.batch, 3, size, size, device=args.device)
    with torch.no_grad():
        lowered.eval(), reference.eval()
        expected = reference(x)
        difference = float((lowered(x) - expected).abs().max())
    if difference > 1e-4 * (1 + float(expected.abs().max())):
        raise SystemExit(f"{name}: the lowered module does not compute what {what}'s does ({difference:.2g})")
    lowered.train(), reference.train()
    for model in (lowered, reference):  # warm-up
        step_time(model, x)
    ratios, times = [], {"lowered": [], "reference": []}
    for round_ in range(args.rounds):
        order = [("lowered", lowered), ("reference", reference)][:: 1 if round_ % 2 == 0 else -1]
        measured = {key: step_time(model, x) for key, model in order}
        for key, t in measured.items():
            times[key].append(t)
        ratios.append(measured["lowered"] / measured["reference"])
    return (f"{name:<20} {size:>4}  {statistics.median(times['lowered']) * 1e3:9.1f}  "
            f"{statistics.median(times['reference']) * 1e3:9.1f} ({what})  {statistics.median(ratios):6.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", metavar="NAME", help="families to run (default: all with a spec)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--size", type=int, default=128, help="input height and width of the CNNs")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch's CPU threads")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    models = torchvision_models()
    names = args.names or [n for n in FAMILIES if (SPECS / f"{n}.yaml").exists()]
    if models is None:
        print("torchvision cannot be imported: ResNet-50 only, against benchmarks/resnets.py")
        names = ["resnet50"]
    print(f"forward+backward, batch {args.batch}, train mode, on {args.device}, {args.rounds} rounds, "
          f"{torch.get_num_threads()} threads; median ms and median ratio (target ≤ 1.02)")
    print(f"{'network':<20} {'size':>4}  {'lowered':>9}  {'reference':>9}               {'ratio':>6}")
    for name in names:
        print(compare(name, models, args), flush=True)


if __name__ == "__main__":
    main()
