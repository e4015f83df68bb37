"""Whole-process time of `nncompile build`, side by side with `python -c "import torch"`.

    python benchmarks/build_speed.py [--repeat 5]

Measures, in one run and interleaved (so machine noise hits every row alike): the largest
shipped spec, generated chains of 500, 2,000 and 10,000 layers (to show the cost is linear
in layers), and importing torch. Prints medians and ratios. Targets (issue 2): a
ResNet-152-sized spec (≈ 500 layers) ≤ 0.4 s, the 10,000-layer chain ≤ 3 s.

Then hostile files that must be refused quickly and within little memory (issue 16): a
flat 300,000-layer file, a 9 MB flow list, 100,000 `[`, a 2 MB one-line flow spec with an
error; each row gives the time, the peak memory and the bytes written to stderr.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = "nncompile.cli" if importlib.util.find_spec("nncompile.cli") else "nncompile.compiler.cli"


def chain_spec(layers: int) -> str:
    """A linear-relu chain of `layers` layers (ops alternate, so every op is exercised)."""
    lines = [f"name: chain{layers}", "inputs: {x: [N, 64]}", "layers:"]
    for i in range(layers // 2):
        lines += [f"  - fc{i}: {{op: linear, out_features: 64}}", f"  - act{i}: relu"]
    return "\n".join(lines) + "\n"


def hostile_specs() -> dict[str, str]:
    """name -> text of specs that must be refused."""
    one_line = [f"{{a{i}: relu}}" for i in range(150_000)]
    one_line.insert(75_000, "{b: {op: nope}}")
    return {"flat 300,000-layer file": chain_spec(300_000),
            "9 MB flow list": "inputs: {x: [N, 3]}\nlayers: [" + ", ".join(["{a: relu}"] * 900_000) + "]\n",
            "100,000 [": "[" * 100_000,
            "2 MB line, one error": f"{{inputs: {{x: [N, 3]}}, layers: [{', '.join(one_line)}]}}\n"}


def refused(path: Path) -> tuple[float, float, int]:
    """(seconds, peak MB, stderr bytes) of `nncompile check path`, in a fresh process."""
    program = (f"import resource, sys, time; from {CLI} import main; start = time.perf_counter(); "
               f"code = main(['check', {str(path)!r}]); "
               "print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
               "file=sys.__stdout__); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT)
    seconds, peak_kb = done.stdout.split()
    return float(seconds), int(peak_kb) / 1024, len(done.stderr.encode())


def largest_spec() -> Path:
    """The shipped spec that expands to the most layers."""
    sys.path.insert(0, str(ROOT))
    from nncompile.compiler import analyse

    sizes = {}
    for path in sorted((ROOT / "specs").glob("*.yaml")):
        try:
            sizes[path] = len(analyse(path).nodes)
        except Exception:  # a broken spec is not this benchmark's business
            continue
    return max(sizes, key=sizes.get)


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    build = [sys.executable, "-m", CLI, "build", "--quiet"]
    with tempfile.TemporaryDirectory() as tmp:
        cases = {}
        spec = largest_spec()
        from nncompile.compiler import analyse

        cases[f"{spec.name} ({len(analyse(spec).nodes)} layers)"] = build + [str(spec)]
        for n in (500, 2000, 10_000):
            path = Path(tmp) / f"chain{n}.yaml"
            path.write_text(chain_spec(n))
            cases[f"chain of {n:,} layers"] = build + [str(path)]
        cases['python -c "import torch"'] = [sys.executable, "-c", "import torch"]
        times = {name: [] for name in cases}
        for _ in range(args.repeat):
            for name, command in cases.items():  # interleaved: noise hits every case alike
                times[name].append(timed(command))
    torch_time = statistics.median(times['python -c "import torch"'])
    print(f"{'case':<40} {'median s':>9} {'min s':>7} {'vs import torch':>16}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:<40} {median:>9.3f} {min(samples):>7.3f} {median / torch_time:>15.2f}×")
    chains = [statistics.median(times[f"chain of {n:,} layers"]) for n in (500, 2000, 10_000)]
    per_layer = (chains[2] - chains[0]) / 9_500 * 1e3
    print(f"\nmarginal cost: {per_layer:.3f} ms per layer (from 500 to 10,000 layers); "
          f"2,000/500 ratio {chains[1] / chains[0]:.2f}, 10,000/2,000 ratio {chains[2] / chains[1]:.2f}")
    print(f"\n{'refused (check, in-process time)':<40} {'s':>9} {'peak MB':>8} {'stderr B':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in hostile_specs().items():
            path = Path(tmp) / "hostile.yaml"
            path.write_text(text)
            seconds, peak, stderr = refused(path)
            print(f"{name:<40} {seconds:>9.2f} {peak:>8.0f} {stderr:>9,}")


if __name__ == "__main__":
    main()
