"""ONNX export and inference side by side, in one run, on one network.

    python benchmarks/onnx_export.py [specs/resnet50.yaml] [--repeat 3] [--runs 10]

1. Whole-process wall time of `nncompile export` (straight from the IR, neither torch nor
   onnx imported) against a process that imports torch, lowers the spec with to_torch and
   runs torch.onnx.export (the legacy TorchScript exporter; the dynamo exporter too when
   onnxscript is installed), and against `python -c "import torch"`: interleaved runs
   (build_speed.py's), medians and their ratios.
2. Latency in onnxruntime (CPU) of our graph against the torch-exported graph, and against
   torch eager, at batch 1 and 8: two warm-up runs each, then --runs rounds that run the
   three in turn (so a change in the machine's load hits all three), medians compared.
   onnxruntime's threads do not spin between runs, which would starve torch's.
Targets: export ≥ 5× faster than torch.onnx.export as a whole process (issue 5) and ≤ 0.50×
`import torch` (issue 16); our graph no slower than torch's in onnxruntime (ratio ≤ 1.05).
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from build_speed import cached_bytecode_env, interleaved  # benchmarks/ is the script's folder

TORCH_EXPORT = """
import sys, torch
from nncompile.compiler import build, to_torch
graph = build(sys.argv[1])
module = to_torch(graph, seed=0).eval()
[name] = graph.inputs
shape = [2 if not isinstance(d, int) else d for d in graph.nodes[name].type.shape]
outputs = list(graph.outputs)
torch.onnx.export(module, (torch.zeros(shape),), sys.argv[2], input_names=[name], output_names=outputs,
                  dynamic_axes={name: {0: "N"}, **{o: {0: "N"} for o in outputs}}, opset_version=18,
                  dynamo=sys.argv[3] == "dynamo")
"""


def latencies(engines: dict, rounds: int) -> dict[str, float]:
    """Median seconds per call of each engine, the engines taking turns in every round."""
    for run in engines.values():
        run(), run()  # warm-up
    times = {name: [] for name in engines}
    for _ in range(rounds):
        for name, run in engines.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("spec", nargs="?", default="specs/resnet50.yaml")
    p.add_argument("--repeat", type=int, default=3, help="interleaved process timings per exporter (median kept)")
    p.add_argument("--runs", type=int, default=10, help="timed inference runs per engine and batch size")
    p.add_argument("--threads", type=int, help="threads of torch and onnxruntime alike (default: their own)")
    args = p.parse_args()

    import numpy as np
    import onnxruntime as ort
    import torch

    from nncompile.compiler import build, to_torch

    if args.threads:
        torch.set_num_threads(args.threads)
    graph = build(args.spec)
    [name] = graph.inputs
    nncompile = shutil.which("nncompile")
    direct_cmd = [nncompile] if nncompile else [sys.executable, "-m", "nncompile.cli"]
    exporters = ["legacy"] + (["dynamo"] if importlib.util.find_spec("onnxscript") else [])
    print(f"{graph.name}: {graph.totals.params:,} params, {graph.totals.macs / 1e9:.2f} GMACs per sample; "
          f"{torch.get_num_threads()} torch threads, onnxruntime {ort.__version__}, torch {torch.__version__}")

    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = Path(tmp, "ours.onnx"), Path(tmp, "torch.onnx")
        print(f"\nwhole-process export time (median of {args.repeat} interleaved runs)")
        cases = {"nncompile export (direct)": [*direct_cmd, "export", args.spec, "-o", str(ours)],
                 **{f"torch.onnx.export ({e})": [sys.executable, "-c", TORCH_EXPORT, args.spec, str(theirs), e]
                    for e in exporters},
                 'python -c "import torch"': [sys.executable, "-c", "import torch"]}
        medians = {name: statistics.median(t for t, _ in runs) for name, runs in
                   interleaved(cases, args.repeat, cached_bytecode_env(str(Path(tmp) / "pycache"))).items()}
        direct, torch_import = medians["nncompile export (direct)"], medians['python -c "import torch"']
        for name, median in medians.items():
            print(f"  {name:<34} {median:7.2f} s   {median / direct:5.1f}× ours   {median / torch_import:5.2f}× import torch")
        if "dynamo" not in exporters:
            print("  torch.onnx.export (dynamo)         skipped: onnxscript is not installed")
        subprocess.run([sys.executable, "-c", TORCH_EXPORT, args.spec, str(theirs), "legacy"], check=True,
                       capture_output=True)
        options = ort.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.intra_op_num_threads = args.threads or 0  # 0: onnxruntime's default
        sessions = {path: ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                    for path in (ours, theirs)}
        module = to_torch(graph, seed=0).eval()

        print(f"\ninference latency (median of {args.runs}, CPU)")
        print(f"  {'batch':>5}  {'ours (ort)':>11}  {'torch→onnx (ort)':>17}  {'torch eager':>11}  "
              f"{'ours/torch-onnx':>15}  {'ours/eager':>10}")
        for batch in (1, 8):
            shape = [batch if not isinstance(d, int) else d for d in graph.nodes[name].type.shape]
            x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
            tx = torch.from_numpy(x)

            def eager():
                with torch.inference_mode():
                    module(tx)

            a, b, c = latencies({"ours": lambda: sessions[ours].run(None, {name: x}),
                                 "torch-onnx": lambda: sessions[theirs].run(None, {name: x}),
                                 "eager": eager}, args.runs).values()
            print(f"  {batch:>5}  {a * 1e3:9.1f}ms  {b * 1e3:15.1f}ms  {c * 1e3:9.1f}ms  {a / b:15.3f}  {a / c:10.3f}")


if __name__ == "__main__":
    main()
