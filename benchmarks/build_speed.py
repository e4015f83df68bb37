"""Whole-process time and peak memory of nncompile's commands, side by side with `python -c "import torch"`.

    python benchmarks/build_speed.py [--repeat 5] [--scale-repeat 3] [--max-layers 100000]

1. Issue 16's four rows, measured in one run and interleaved (machine noise hits every row
   alike), as medians and ratios to importing torch: `build specs/resnet152.yaml --format
   json` (goal ≤ 0.10×), `build` of a 10,000-layer linear/relu chain (≤ 0.40×, peak memory
   ≤ 150 MB), `check` of a 300-byte spec repeating a block 100×100×100, refused as too large
   (≤ 0.10×, ≤ 200 MB), `export specs/resnet50.yaml` with the spec's random initialisation
   (≤ 0.50×); torchinfo's summary of torchvision's ResNet-152 where both are installed; and
   `python -c pass`, the start every row pays before its own work.
2. Cost against size: chains from 500 to --max-layers layers, in ms per layer.
3. Hostile files, over a limit or amplified by aliases, that must be refused quickly and within
   little memory (issue 16): each row gives the in-process time, the peak memory and the bytes
   written to stderr. Then a spec within every limit with one mistake, beside the same spec
   without it: refusing it should cost what checking the valid one costs.

Every process runs with a bytecode cache (PYTHONPYCACHEPREFIX, a temporary folder, warmed
first), as an installed package has one: without it each run would compile nncompile's
sources again, a cost no user pays.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = "nncompile.cli"
TORCH = 'python -c "import torch"'
PYTHON = 'python -c pass'  # Python's own start with this machine's site packages: every row pays it
TORCHINFO = """
import sys, types
for name in ("torchvision._meta_registrations", "torchvision._autograd_registrations"):
    sys.modules.setdefault(name, types.ModuleType(name))  # as tests/torchvision_shim.py does
import torchinfo, torchvision
torchinfo.summary(torchvision.models.resnet152(), input_size=(1, 3, 224, 224), verbose=0)
"""


def chain_spec(layers: int) -> str:
    """A linear-relu chain of `layers` layers (ops alternate, so every op is exercised)."""
    lines = [f"name: chain{layers}", "inputs: {x: [N, 64]}", "layers:"]
    for i in range(layers // 2):
        lines += [f"  - fc{i}: {{op: linear, out_features: 64}}", f"  - act{i}: relu"]
    return "\n".join(lines) + "\n"


NESTED_REPEATS = """\
inputs: {x: [N, 8]}
blocks:
  inner: {layers: [{fc: {op: linear, out_features: 8, repeat: 100}}]}
  outer: {layers: [{b: {block: inner, repeat: 100}}]}
layers:
  - top: {block: outer, repeat: 100}
"""  # 1,000,000 layers from 230 bytes: refused before expanding


def hostile_specs() -> dict[str, str]:
    """name -> text of specs over a limit (bytes, YAML events, nesting, values, layers) or
    amplified by aliases: each must be refused in well under a second and within 200 MB."""
    return {"flat 300,000-layer file": chain_spec(300_000),
            "9 MB flow list": "inputs: {x: [N, 3]}\nlayers: [" + ", ".join(["{a: relu}"] * 900_000) + "]\n",
            "100,000 [": "[" * 100_000,
            "block repeated 100×100×100": NESTED_REPEATS,
            "20 MB flow list of scalars": "x: [" + "a," * 10_485_000 + "a]\n",  # the most events a file holds
            "200,000 aliases of one layer": "inputs: {x: [N, 3]}\nlayers:\n  - &l {a: relu}\n" + "  - *l\n" * 200_000}


def mistaken_specs() -> dict[str, tuple[str, str]]:
    """name -> (a spec within every limit with one mistake, the same spec without it). Only
    the whole analysis finds such a mistake (and every other independent one), so refusing it
    costs what checking the valid spec of that size costs: linear, not bounded."""
    def one_line(middle: str) -> str:
        layers = [f"{{a{i}: relu}}" for i in range(150_000)]
        layers.insert(75_000, middle)
        return f"{{inputs: {{x: [N, 3]}}, layers: [{', '.join(layers)}]}}\n"
    return {"2 MB line, 150,000 layers, one unknown op": (one_line("{b: {op: nope}}"), one_line("{b: relu}"))}


def checked(path: Path, env: dict) -> tuple[float, float, float, int]:
    """(seconds, CPU seconds, peak MB, stderr bytes) of `nncompile check path`, in a fresh
    process (CPU time as well: on a loaded machine it is the steadier figure)."""
    program = (f"import resource, sys, time; from {CLI} import main; start = time.perf_counter(); "
               f"cpu = time.process_time(); code = main(['check', {str(path)!r}]); "
               "print(time.perf_counter() - start, time.process_time() - cpu, "
               "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.__stdout__); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, env=env)
    seconds, cpu, peak_kb = done.stdout.split()[-3:]  # after what `check` printed
    return float(seconds), float(cpu), int(peak_kb) / 1024, len(done.stderr.encode())


def cached_bytecode_env(folder: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": folder}


def run(command: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, peak MB) of one process; its exit status is not checked (`check` of a
    refused spec exits 1)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=env)
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0  # reaped here
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def interleaved(cases: dict[str, list[str]], repeat: int, env: dict) -> dict[str, list[tuple[float, float]]]:
    """Each case run `repeat` times, the cases taking turns, after one warm-up run of each."""
    for command in cases.values():
        run(command, env)
    samples = {name: [] for name in cases}
    for _ in range(repeat):
        for name, command in cases.items():
            samples[name].append(run(command, env))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each row of the main table")
    parser.add_argument("--scale-repeat", type=int, default=3, help="runs of each chain of the size table")
    parser.add_argument("--max-layers", type=int, default=100_000, help="the longest chain of the size table")
    args = parser.parse_args()
    cli = [sys.executable, "-m", CLI]
    with tempfile.TemporaryDirectory() as tmp:
        env = cached_bytecode_env(str(Path(tmp) / "pycache"))
        (Path(tmp) / "chain10000.yaml").write_text(chain_spec(10_000))
        (Path(tmp) / "nested.yaml").write_text(NESTED_REPEATS)
        cases = {"build specs/resnet152.yaml --format json": cli + ["build", "specs/resnet152.yaml", "--format", "json"],
                 "build, 10,000-layer chain": cli + ["build", str(Path(tmp) / "chain10000.yaml")],
                 "check, block repeated 100×100×100": cli + ["check", str(Path(tmp) / "nested.yaml")],
                 "export specs/resnet50.yaml (random init)": cli + ["export", "specs/resnet50.yaml", "-o",
                                                                     str(Path(tmp) / "resnet50.onnx")],
                 TORCH: [sys.executable, "-c", "import torch"],
                 PYTHON: [sys.executable, "-c", "pass"]}
        if importlib.util.find_spec("torchinfo") and importlib.util.find_spec("torchvision"):
            cases["torchinfo.summary(resnet152)"] = [sys.executable, "-c", TORCHINFO]
        samples = interleaved(cases, args.repeat, env)
        print(f"whole processes, median of {args.repeat} interleaved runs; {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f} at the end")
        torch_time = statistics.median(t for t, _ in samples[TORCH])
        print(f"{'case':<44} {'median s':>9} {'min s':>7} {'peak MB':>8} {'vs import torch':>16}")
        for name, runs in samples.items():
            median = statistics.median(t for t, _ in runs)
            print(f"{name:<44} {median:>9.3f} {min(t for t, _ in runs):>7.3f} {max(m for _, m in runs):>8.0f} "
                  f"{median / torch_time:>15.2f}×")
        if "torchinfo.summary(resnet152)" in samples:
            theirs = statistics.median(t for t, _ in samples["torchinfo.summary(resnet152)"])
            ours = statistics.median(t for t, _ in samples["build specs/resnet152.yaml --format json"])
            print(f"torchinfo's ResNet-152 summary / our build: {theirs / ours:.1f}× (goal ≥ 40×)")
        else:
            print("torchinfo's ResNet-152 summary: not measured (torchinfo or torchvision is not installed)")
        scaling(cli, env, Path(tmp), args.scale_repeat, args.max_layers)
    with tempfile.TemporaryDirectory() as tmp:
        env = cached_bytecode_env(str(Path(tmp) / "pycache"))
        path = Path(tmp) / "spec.yaml"
        print(f"\n{'refused by a limit (check, in-process)':<44} {'s':>6} {'cpu s':>6} {'peak MB':>8} {'stderr B':>9}")
        for name, text in hostile_specs().items():
            path.write_text(text)
            seconds, cpu, peak, stderr = checked(path, env)
            print(f"{name:<44} {seconds:>6.2f} {cpu:>6.2f} {peak:>8.0f} {stderr:>9,}")
        print(f"\n{'one mistake (check, in-process)':<44} {'s':>6} {'peak MB':>8} {'valid s':>8} {'valid MB':>9}")
        for name, (mistaken, valid) in mistaken_specs().items():
            path.write_text(mistaken)
            seconds, _, peak, _ = checked(path, env)
            path.write_text(valid)
            valid_seconds, _, valid_peak, _ = checked(path, env)
            print(f"{name:<44} {seconds:>6.2f} {peak:>8.0f} {valid_seconds:>8.2f} {valid_peak:>9.0f}")


def scaling(cli: list[str], env: dict, tmp: Path, repeat: int, max_layers: int) -> None:
    """`build --format json` of chains from 500 layers up: the cost per layer should not grow."""
    sizes = [n for n in (500, 5_000, 20_000, 100_000) if n < max_layers] + [max_layers]
    cases = {}
    for n in sizes:
        (tmp / f"chain{n}.yaml").write_text(chain_spec(n))
        cases[n] = cli + ["build", "--format", "json", str(tmp / f"chain{n}.yaml")]
    samples = interleaved(cases, repeat, env)
    medians = {n: statistics.median(t for t, _ in runs) for n, runs in samples.items()}
    print(f"\nchains, build --format json, median of {repeat}: marginal cost from {sizes[0]:,} layers")
    print(f"{'layers':>8} {'median s':>9} {'peak MB':>8} {'ms/layer':>9}")
    for n in sizes:
        marginal = (medians[n] - medians[sizes[0]]) / (n - sizes[0]) * 1e3 if n > sizes[0] else float("nan")
        print(f"{n:>8,} {medians[n]:>9.3f} {max(m for _, m in samples[n]):>8.0f} {marginal:>9.3f}")


if __name__ == "__main__":
    main()
