"""The `nncompile` command.

Exit codes: 0 success, 1 errors in a spec (diagnostics on stderr), 2 usage errors (a bad
flag, a missing file, an unknown --set name). Reports go to stdout, diagnostics to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from pathlib import Path

from ..compiler import analyse
from ..compiler.backends.diagram import FORMATS as DRAW_FORMATS
from ..compiler.diagnostics import SourceCache, SpecError, render_all
from ..compiler.expand import UsageError

EXIT_OK, EXIT_SPEC, EXIT_USAGE = 0, 1, 2


def _params(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set expects name=value, got '{pair}'")
        out[name.strip()] = value
    return out


def _depth(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expects a block depth 0, 1, 2, …, got '{text}'")
    return int(text)


def _positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expects a whole number 1 or more, got '{text}'")
    return int(text)


MAX_SEED = 2**63 - 1  # the largest every generator takes (torch's, NumPy's, Python's)


def _seed(text: str) -> int:
    if not text.strip().isdigit() or int(text) > MAX_SEED:
        raise argparse.ArgumentTypeError(f"expects a whole number from 0 to 2^63 − 1, got '{text}'")
    return int(text)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _finite(text: str) -> float:
    if not math.isfinite(value := _number(text)):
        raise argparse.ArgumentTypeError(f"expects a finite number, got '{text}'")
    return value


def _tolerance(text: str) -> float:
    if not math.isfinite(value := _number(text)) or value < 0:
        raise argparse.ArgumentTypeError(f"expects a finite number 0 or more, got '{text}'")
    return value


def output_file(*suffixes: str):
    """An argparse type for a file to write: its directory must exist (an output never creates
    directories) and, when `suffixes` are given, its suffix must be one of them."""

    def check(text: str) -> Path:
        path = Path(text)
        if suffixes and path.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"cannot write '{text}': the suffix picks the format, one of "
                                             f"{', '.join(suffixes)}")
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"'{text}' is a directory; give a file name")
        if not path.absolute().parent.is_dir():
            raise argparse.ArgumentTypeError(f"cannot write '{text}': no such directory "
                                             f"'{path.parent}' (create it first)")
        return path

    return check


def _output_dir(text: str) -> Path:
    """build -o DIR: DIR is the command's own output folder, so it is made if missing; its
    parent must exist (a typo in a path never grows a tree of directories)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"'{text}' is a file, not a directory")
    if not path.absolute().parent.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write into '{text}': no such directory "
                                         f"'{path.parent}' (create it first)")
    return path


def _spec_path(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise UsageError(f"no such spec file: {text}")
    return path


def _print_diagnostics(diagnostics, sources: SourceCache | None, stream=None) -> None:
    if diagnostics:
        print(render_all(diagnostics, sources), file=stream or sys.stderr)  # looked up now: tests may redirect it


def _analyse(args, spec: str):
    graph = analyse(_spec_path(spec), _params(args.set), strict=getattr(args, "strict", False),
                    allow_paths=args.allow_path or ())
    if not getattr(args, "quiet", False) or graph.errors:
        _print_diagnostics(graph.warnings + graph.errors, graph.sources)
    return graph


def cmd_build(args) -> int:
    from ..compiler.atomic import write_text
    from ..compiler.backends import report

    graph = _analyse(args, args.spec)
    if graph.errors:
        return EXIT_SPEC
    if args.format == "json":
        print(json.dumps(report.report_json(graph), indent=2))
    elif args.format == "markdown":
        print(report.render_markdown(graph))
    else:
        print(report.render_table(graph))
    if args.output:
        out = args.output
        out.mkdir(exist_ok=True)
        write_text(out / "report.json", json.dumps(report.report_json(graph), indent=2) + "\n")
        write_text(out / "report.md", report.render_markdown(graph))
        print(f"wrote {out / 'report.json'}, {out / 'report.md'}", file=sys.stderr)
        _build_diagram(graph, out)
    return EXIT_OK


def _build_diagram(graph, out: Path) -> None:
    """diagram.dot and diagram.svg beside the reports; a missing `dot` is a warning here,
    since the reports are the build's job."""
    from ..compiler.backends import diagram

    drawing = diagram.draw(graph)
    diagram.write(drawing.dot, out / "diagram.dot")
    try:
        diagram.write(drawing.dot, out / "diagram.svg")
    except diagram.DotNotFound:
        print(f"warning: diagram.svg not drawn: Graphviz's `dot` is not on PATH; {diagram.INSTALL_HINT}",
              file=sys.stderr)
        return
    print(f"wrote {out / 'diagram.dot'}, {out / 'diagram.svg'}", file=sys.stderr)


def cmd_draw(args) -> int:
    import time

    from ..compiler.backends import diagram

    graph = _analyse(args, args.spec)
    start = time.perf_counter()
    drawing = diagram.draw(graph, rankdir=args.rankdir, depth=args.depth, collapse=args.collapse)
    ours = time.perf_counter() - start
    if args.collapse is None and drawing.collapsed:
        print(f"note: repeated blocks collapsed (more than {diagram.AUTO_COLLAPSE} layers); "
              f"--no-collapse draws every instance", file=sys.stderr)
    if not args.output:
        sys.stdout.write(drawing.dot)
        layout = None
    else:
        try:
            layout = diagram.write(drawing.dot, args.output)
        except (diagram.DotNotFound, diagram.RenderError) as e:
            print(f"nncompile: error: {e}", file=sys.stderr)
            return EXIT_USAGE
    timing = f"drew {drawing.boxes} nodes in {ours * 1000:.1f} ms"
    print(timing + (f"; dot layout {layout * 1000:.0f} ms" if layout is not None else ""), file=sys.stderr)
    return EXIT_SPEC if graph.errors else EXIT_OK


def cmd_check(args) -> int:
    failed = 0
    for spec in args.specs:
        graph = _analyse(args, spec)
        failed += bool(graph.errors)
        if not graph.errors and not args.quiet:
            print(f"{spec}: ok ({graph.totals.params:,} params)")
    return EXIT_SPEC if failed else EXIT_OK


def cmd_schema(args) -> int:
    from ..compiler.atomic import write_text
    from ..compiler.spec import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if args.output:
        write_text(args.output, text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_emit_torch(args) -> int:
    from ..compiler.atomic import write_text
    from ..compiler.backends.torch_source import generate

    graph = _analyse(args, args.spec)
    if graph.errors:
        return EXIT_SPEC
    write_text(args.output, generate(graph))
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_export(args) -> int:
    from ..compiler.backends.onnx import save, to_onnx, to_onnx_via_torch

    graph = _analyse(args, args.spec)
    if graph.errors:
        return EXIT_SPEC
    lower = to_onnx_via_torch if args.via == "torch" else to_onnx
    try:
        model = lower(graph, weights=args.weights, seed=args.seed)
    except ModuleNotFoundError as e:  # --via torch without torch
        raise UsageError(f"--via {args.via} needs {e.name}, which is not installed") from None
    written = save(model, args.output)
    weights = args.weights or f"the spec's initialisation, seed {args.seed}"
    how = " by torch.onnx.export (the legacy TorchScript exporter)" if args.via == "torch" else ""
    print(f"wrote {', '.join(map(str, written))}{how}: {len(model.graph.node)} nodes, opset "
          f"{model.opset_import[0].version}, weights from {weights}", file=sys.stderr)
    return EXIT_OK


def cmd_verify(args) -> int:
    from ..compiler.verify import render, verify

    graph = _analyse(args, args.spec)
    if graph.errors:
        return EXIT_SPEC
    sizes = {}
    for name, value in _params(args.size).items():
        if not value.strip().isdigit() or int(value) < 1:
            raise UsageError(f"--size expects NAME=POSITIVE_INT, got '{name}={value}'")
        sizes[name] = int(value)
    checks = verify(graph, batches=args.batch_sizes, tolerance=args.tolerance, seed=args.seed, sizes=sizes)
    print(render(checks))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_SPEC


def cmd_predict(args) -> int:
    from ..runtime import inference

    model = Path(args.model)
    if not model.is_file():
        raise UsageError(f"{model} is a directory, not a model file" if model.is_dir() else f"no such model file: {model}")
    try:
        session = inference.InferenceSession(args.model, provider=args.provider)
        inputs = session.inputs
        groups = [args.input] if len(inputs) == 1 else [[p] for p in args.input]
        if len(groups) != len(inputs):
            raise ValueError(f"the model takes {len(inputs)} inputs ({', '.join(i.name for i in inputs)}): "
                             "give one --input file for each, in that order")
        feeds = {i.name: inference.load_input(paths, i.shape, args.normalize, i.name) for i, paths in zip(inputs, groups)}
        outputs = session.run_batched(feeds, args.batch_size)
        classes = max((y.shape[1] for y in outputs.values() if y.ndim == 2), default=0)
        labels = inference.read_labels(args.labels, classes) if args.labels else None
    except (inference.ProviderUnavailable, OSError, ValueError) as e:
        raise UsageError(str(e)) from None
    text = None  # the JSON, unless the output is .npy or .npz
    if args.output is None or args.output.suffix.lower() == ".json":
        text, non_finite = inference.predictions_json(args.model, session.provider, outputs, args.top_k, labels)
        if non_finite:
            print(f"warning: the model's outputs hold {non_finite:,} NaN or infinite values; JSON has none, "
                  "so they are written as null", file=sys.stderr)
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    inference.write_predictions(args.output, outputs, text)
    print(f"wrote {args.output} ({session.provider})", file=sys.stderr)
    return EXIT_OK


def cmd_ops(args) -> int:
    from ..compiler.ops import REGISTRY

    for name, op in sorted(REGISTRY.items(), key=lambda item: (item[1].family, item[0])):
        first = op.doc.split("\n\n")[0].replace("\n", " ")
        print(f"{op.family:<14} {name:<20} {first}")
        if args.verbose:
            for field, info in op.Attrs.model_fields.items():
                default = "required" if info.is_required() else f"default {info.default!r}"
                print(f"{'':36}{field}: {default}")
    return EXIT_OK


def cmd_train(args) -> int:
    from ..runtime import launch  # torch is imported only once training starts

    _spec_path(args.spec)
    return launch.run(args, _params(args.set))


def cmd_explain(args) -> int:
    from ..runtime import explain  # imports torch

    graph = _analyse(args, args.spec)
    if graph.errors:
        return EXIT_SPEC
    sys.stdout.write(explain.command(graph, args))
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nncompile", description="Compile neural networks written as YAML specs.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def spec_command(name, help, func, many=False):
        c = sub.add_parser(name, help=help, description=help)
        if many:
            c.add_argument("specs", nargs="+", metavar="SPEC")
        else:
            c.add_argument("spec", metavar="SPEC")
        c.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a spec parameter")
        c.add_argument("--allow-path", action="append", metavar="DIR", help="allow imports from DIR")
        c.add_argument("--strict", action="store_true", help="make inexact conv/pool divisions errors")
        c.add_argument("-q", "--quiet", action="store_true", help="print errors only")
        c.set_defaults(func=func)
        return c

    b = spec_command("build", "analyse a spec: shapes, parameters, MACs, receptive fields", cmd_build)
    b.add_argument("--format", choices=["table", "json", "markdown"], default="table")
    b.add_argument("-o", "--output", metavar="DIR", type=_output_dir,
                   help="write report.json, report.md and the diagram into DIR (made if missing, not its parents)")
    spec_command("check", "validate specs only (for editors and pre-commit hooks)", cmd_check, many=True)
    d = spec_command("draw", "draw the network: layers, shapes on the edges, blocks as clusters", cmd_draw)
    d.add_argument("-o", "--output", metavar="FILE", type=output_file(*DRAW_FORMATS),
                   help="FILE.svg, .png or .pdf (rendered by Graphviz's dot) or .dot; default: DOT on stdout")
    d.add_argument("--rankdir", choices=["TB", "LR"], default="TB", help="top to bottom, or left to right")
    d.add_argument("--depth", type=_depth, metavar="K",
                   help="expand blocks K levels deep; deeper blocks become one box (0: every block is a box)")
    d.add_argument("--collapse", action=argparse.BooleanOptionalAction,
                   help="draw runs of identical repeated block instances as one cluster marked × n "
                        "(default: when the network has more than 60 layers)")
    t = spec_command("train", "train a spec as a config says (docs/training.md); NAME=VALUE with a dot, "
                     "like train.lr=0.01, sets the config", cmd_train)
    from ..runtime.launch import add_arguments

    add_arguments(t)
    x = spec_command("explain", "backprop, shown: every layer's value and gradient for one input, or the "
                     "gradient flow over a batch (docs/explain.md)", cmd_explain)
    x.add_argument("--input", metavar="X1,X2,…", help="one sample's values (default: random, seeded)")
    x.add_argument("--target", metavar="Y", help="the target: values, or one class index (default: random)")
    x.add_argument("--loss", choices=["mse", "cross_entropy", "nll", "bce", "bce_with_logits"], default="mse")
    x.add_argument("--weights", metavar="CKPT", help="a state_dict or training checkpoint (.pt, .safetensors); "
                   "default: the spec's initialisation")
    x.add_argument("--seed", type=_seed, default=0, help="of the initialisation and of random inputs and targets")
    x.add_argument("--step", type=_finite, metavar="LR", help="also take one gradient-descent step W ← W − LR·∂L/∂W")
    x.add_argument("--draw", metavar="FILE", type=output_file(*DRAW_FORMATS), help="the diagram with values on the layers and gradients on the edges")
    x.add_argument("--json", action="store_true", help="every number at full precision, as JSON")
    x.add_argument("--gradient-flow", action="store_true",
                   help="per-layer gradient norms over a random batch, vanishing and exploding layers flagged")
    x.add_argument("--batch", type=int, default=16, metavar="B", help="batch size of --gradient-flow")
    x.add_argument("--plot", metavar="FILE.png", type=output_file(".png"), help="plot --gradient-flow's norms per layer")
    t = spec_command("emit-torch", "write the network as standalone PyTorch source", cmd_emit_torch)
    t.add_argument("-o", "--output", metavar="FILE", type=output_file(), required=True, help="the .py file to write")

    e = spec_command("export", "write the network as an ONNX model (docs/onnx.md)", cmd_export)
    e.add_argument("-o", "--output", metavar="FILE", type=output_file(), required=True, help="the .onnx file to write")
    e.add_argument("--weights", metavar="CKPT", help="a state_dict (.pt, loaded with weights_only) or .safetensors; "
                   "default: the spec's initialisation")
    e.add_argument("--seed", type=_seed, default=0, help="seed of the initialisation when no weights are given")
    e.add_argument("--via", choices=["direct", "torch"], default="direct",
                   help="direct: from the IR, no torch needed; torch: torch.onnx.export of the torch module")
    v = spec_command("verify", "cross-check static shapes, the torch module, ONNX and onnxruntime", cmd_verify)
    v.add_argument("--batch-sizes", type=_positive_int, nargs="+", default=[1, 3], metavar="B")
    v.add_argument("--tolerance", type=_tolerance, default=1e-4,
                   help="largest output difference allowed, relative to the output's largest magnitude")
    v.add_argument("--seed", type=_seed, default=0)
    v.add_argument("--size", action="append", metavar="NAME=INT",
                   help="a value for a symbolic input size other than the batch (default 32)")
    r = sub.add_parser("predict", help="run an ONNX model with onnxruntime on .npy arrays or images",
                       description="run an ONNX model with onnxruntime on .npy arrays or images")
    r.add_argument("model", metavar="MODEL.onnx")
    r.add_argument("--input", nargs="+", required=True, metavar="FILE",
                   help=".npy arrays or images; one input: all join into one batch; several: one file each")
    r.add_argument("--batch-size", type=_positive_int, default=32, metavar="B", help="samples per onnxruntime run")
    r.add_argument("-o", "--output", metavar="FILE", type=output_file(".npy", ".npz", ".json"), help="out.npy (first output), out.npz (all) or out.json; "
                   "default: JSON on stdout")
    r.add_argument("--top-k", type=_positive_int, default=5, metavar="K", help="classes listed per sample of an N×classes output")
    r.add_argument("--labels", metavar="FILE", help="class names, one a line")
    r.add_argument("--normalize", choices=["imagenet"], help="normalise images with ImageNet's mean and std")
    r.add_argument("--provider", choices=["cpu", "cuda"], help="force an onnxruntime execution provider")
    r.set_defaults(func=cmd_predict)

    s = sub.add_parser("schema", help="print the JSON Schema of the spec format")
    s.add_argument("-o", "--output", metavar="FILE", type=output_file())
    s.set_defaults(func=cmd_schema)
    o = sub.add_parser("ops", help="list the ops")
    o.add_argument("-v", "--verbose", action="store_true", help="show each op's attributes")
    o.set_defaults(func=cmd_ops)
    return p


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into the unwinding Ctrl-C gets, so every `finally` (the atomic writer's
    removal of its temporary file, the kill of a `dot` child) runs before the exit."""

    signum = signal.SIGTERM


def _terminate(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: signals stay as they are
        previous = None
    try:
        return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(args) -> int:
    try:
        return args.func(args)
    except SpecError as e:
        _print_diagnostics(e.diagnostics, getattr(e, "sources", None))
        return EXIT_SPEC
    except UsageError as e:
        print(f"nncompile: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:  # 128 + the signal, as a shell reports a process it killed
        signum = getattr(e, "signum", signal.SIGINT)
        print(f"nncompile: {'terminated' if signum == signal.SIGTERM else 'interrupted'}", file=sys.stderr)
        return 128 + signum
    except BrokenPipeError:
        return EXIT_OK
    except OSError as e:  # an output that cannot be written (a read-only directory, a full disk)
        print(f"nncompile: error: {e.strerror or e}: {e.filename or ''}", file=sys.stderr)
        return EXIT_USAGE

