"""The `nncompile` command.

Exit codes: 0 success, 1 errors in a spec (diagnostics on stderr), 2 usage errors (a bad
flag, a missing file, an unknown --set name). Reports go to stdout, diagnostics to stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys

from ..compiler.backends.graphviz import FORMATS as DRAW_FORMATS
from ..compiler.backends.report import COLUMNS as REPORT_COLUMNS
from ..compiler import collector_paused
from ..compiler.diagnostics import SpecError
from ..compiler.expand import UsageError
from . import commands
from .arguments import column_names, depth, finite, output_dir, output_file, positive_int, seed, tolerance
from .commands import EXIT_OK, EXIT_SPEC, EXIT_USAGE, print_diagnostics


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: every command with its flags, or (`command`) only that
    command, which is all its arguments need (declaring the other thirteen costs ~1 ms, as
    much as building a small spec). A `command` that names none gets the full parser, whose
    error lists the commands."""
    p = argparse.ArgumentParser(prog="nncompile", description="Compile neural networks written as YAML specs.")
    p.add_argument("--version", action=_Version)
    sub = _Commands(p.add_subparsers(dest="command", required=True, metavar="COMMAND"), command)
    for add in (_analysis_commands, _learning_commands, _lowering_commands, _other_commands):  # --help's order
        add(sub)
    return p if command is None or sub.declared else parser()


class _Commands:
    """The subcommands, or only `only` (unless None): what declares the others is handed a
    stand-in that ignores it."""

    def __init__(self, action, only: str | None):
        self.action, self.only, self.declared = action, only, False

    def add_parser(self, name: str, **options):
        if self.only not in (None, name):
            return _Undeclared()
        self.declared = True
        return self.action.add_parser(name, **options)


class _Undeclared:
    """A command's parser that is not built: add_argument, set_defaults, … do nothing, and
    it is false, so what only its flags need is not even imported."""

    def __getattr__(self, name: str):
        return lambda *args, **options: self

    def __bool__(self) -> bool:
        return False


class _Version(argparse._VersionAction):
    """--version, its number looked up only when asked for (importlib.metadata's look-up costs
    as much as building a small spec)."""

    def __call__(self, parser, namespace, values, option_string=None):
        self.version = f"nncompile {_version()}"
        super().__call__(parser, namespace, values, option_string)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nncompile")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def _spec_command(sub, name: str, help: str, func, many: bool = False) -> argparse.ArgumentParser:
    """A command that reads specs, with the flags every such command takes."""
    c = sub.add_parser(name, help=help, description=help)
    spec_help = ("a spec file, or a network of the zoo by name (resnet50; zoo:resnet50 when a file of that "
                 "name is in the working directory); `nncompile zoo` lists them")
    if many:
        c.add_argument("specs", nargs="+", metavar="SPEC", help=spec_help)
    else:
        c.add_argument("spec", metavar="SPEC", help=spec_help)
    c.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a spec parameter")
    c.add_argument("--allow-path", action="append", metavar="DIR", help="allow imports from DIR")
    c.add_argument("--strict", action="store_true", help="make inexact conv/pool divisions errors")
    c.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    c.set_defaults(func=func)
    return c


def _analysis_commands(sub) -> None:
    b = _spec_command(sub, "build", "analyse a spec: shapes, parameters, MACs, receptive fields", commands.cmd_build)
    b.add_argument("--format", choices=["table", "json", "markdown"], default="table")
    b.add_argument("--depth", type=depth, metavar="K",
                   help="roll blocks deeper than K levels up into one row each, with their totals (a repeated "
                        "block is a stage, one level; 0: every top-level block is a row); table and Markdown")
    b.add_argument("--columns", type=column_names, metavar="A,B,…",
                   help=f"the table's columns, in this order: {', '.join(c.key for c in REPORT_COLUMNS)}")
    b.add_argument("--width", type=positive_int, metavar="W", help="fit the table in W characters (default: "
                   "$COLUMNS, else the terminal's width; a pipe or file gets the whole table)")
    b.add_argument("--color", choices=["auto", "always", "never"], default="auto",
                   help="bold headings and block rows; auto: on a terminal, unless NO_COLOR is set")
    b.add_argument("-o", "--output", metavar="DIR", type=output_dir,
                   help="write report.json, report.md and the diagram into DIR (made if missing, not its parents)")
    _spec_command(sub, "check", "validate specs only (for editors and pre-commit hooks)", commands.cmd_check, many=True)
    d = _spec_command(sub, "draw", "draw the network: layers, shapes on the edges, blocks as clusters", commands.cmd_draw)
    d.add_argument("-o", "--output", metavar="FILE", type=output_file(*DRAW_FORMATS),
                   help="FILE.svg, .png or .pdf (rendered by Graphviz's dot) or .dot; default: DOT on stdout")
    d.add_argument("--rankdir", choices=["TB", "LR"], default="TB", help="top to bottom, or left to right")
    d.add_argument("--depth", type=depth, metavar="K",
                   help="expand blocks K levels deep; deeper blocks become one box (0: every block is a box)")
    d.add_argument("--collapse", action=argparse.BooleanOptionalAction,
                   help="draw runs of identical repeated block instances as one cluster marked × n "
                        "(default: when the network has more than 60 layers)")
    d.add_argument("--no-progress", action="store_true", help="no progress while dot lays the diagram out")


def _learning_commands(sub) -> None:
    t = _spec_command(sub, "train", "train a spec as a config says (docs/training.md); NAME=VALUE with a dot, "
                      "like train.lr=0.01, sets the config", commands.cmd_train)
    x = _spec_command(sub, "explain", "backprop, shown: every layer's value and gradient for one input, or the "
                      "gradient flow over a batch (docs/explain.md)", commands.cmd_explain)
    if not (t or x):  # neither runs: their flags' runtime modules stay unimported (~0.8 ms)
        return
    from ..runtime.launch import add_arguments as add_train_arguments
    from ..runtime.losses import NAMES as LOSS_NAMES

    add_train_arguments(t)
    x.add_argument("--input", metavar="X1,X2,…", help="one sample's values (default: random, seeded)")
    x.add_argument("--target", metavar="Y", help="the target: values, or one class index (default: random)")
    x.add_argument("--loss", choices=LOSS_NAMES, default="mse")
    x.add_argument("--weights", metavar="CKPT", help="a state_dict or training checkpoint (.pt, .safetensors); "
                   "default: the spec's initialisation")
    x.add_argument("--seed", type=seed, default=0, help="of the initialisation and of random inputs and targets")
    x.add_argument("--step", type=finite, metavar="LR", help="also take one gradient-descent step W ← W − LR·∂L/∂W")
    x.add_argument("--draw", metavar="FILE", type=output_file(*DRAW_FORMATS), help="the diagram with values on the layers and gradients on the edges")
    x.add_argument("--json", action="store_true", help="every number at full precision, as JSON")
    x.add_argument("--gradient-flow", action="store_true",
                   help="per-layer gradient norms over a random batch, vanishing and exploding layers flagged")
    x.add_argument("--batch", type=int, default=16, metavar="B", help="batch size of --gradient-flow")
    x.add_argument("--plot", metavar="FILE.png", type=output_file(".png"), help="plot --gradient-flow's norms per layer")


def _lowering_commands(sub) -> None:
    t = _spec_command(sub, "emit-torch", "write the network as standalone PyTorch source", commands.cmd_emit_torch)
    t.add_argument("-o", "--output", metavar="FILE", type=output_file(), required=True, help="the .py file to write")

    e = _spec_command(sub, "export", "write the network as an ONNX model (docs/onnx.md)", commands.cmd_export)
    e.add_argument("-o", "--output", metavar="FILE", type=output_file(), required=True, help="the .onnx file to write")
    e.add_argument("--weights", metavar="CKPT", help="a state_dict (.pt, loaded with weights_only) or .safetensors; "
                   "default: the spec's initialisation")
    e.add_argument("--seed", type=seed, default=0, help="seed of the initialisation when no weights are given")
    e.add_argument("--via", choices=["direct", "torch"], default="direct",
                   help="direct: from the IR, no torch needed; torch: torch.onnx.export of the torch module")
    e.add_argument("--no-progress", action="store_true", help="no progress while the weights are made and written")
    v = _spec_command(sub, "verify", "cross-check static shapes, the torch module, ONNX and onnxruntime", commands.cmd_verify)
    v.add_argument("--batch-sizes", type=positive_int, nargs="+", default=[1, 3], metavar="B")
    v.add_argument("--tolerance", type=tolerance, default=1e-4,
                   help="largest output difference allowed, relative to the output's largest magnitude")
    v.add_argument("--seed", type=seed, default=0)
    v.add_argument("--size", action="append", metavar="NAME=INT",
                   help="a value for a symbolic input size other than the batch (default 32)")
    v.add_argument("--no-progress", action="store_true", help="no progress through the checks")


def _other_commands(sub) -> None:
    r = sub.add_parser("predict", help="run an ONNX model with onnxruntime on .npy arrays or images",
                       description="run an ONNX model with onnxruntime on .npy arrays or images")
    r.add_argument("model", metavar="MODEL.onnx")
    r.add_argument("--input", nargs="+", required=True, metavar="FILE",
                   help=".npy arrays or images; one input: all join into one batch; several: one file each")
    r.add_argument("--batch-size", type=positive_int, default=32, metavar="B", help="samples per onnxruntime run")
    r.add_argument("-o", "--output", metavar="FILE", type=output_file(".npy", ".npz", ".json"), help="out.npz (every output, an array named as "
                   "each), out.npy (a model with one output) or out.json; default: JSON on stdout")
    r.add_argument("--top-k", type=positive_int, default=5, metavar="K", help="classes listed per sample of an N×classes output")
    r.add_argument("--labels", metavar="FILE", help="class names, one a line")
    r.add_argument("--normalize", choices=["imagenet"], help="normalise images with ImageNet's mean and std")
    r.add_argument("--provider", choices=["cpu", "cuda"], help="force an onnxruntime execution provider")
    r.set_defaults(func=commands.cmd_predict)

    s = sub.add_parser("schema", help="print the JSON Schema of the spec format")
    s.add_argument("-o", "--output", metavar="FILE", type=output_file())
    s.set_defaults(func=commands.cmd_schema)
    z = sub.add_parser("zoo", help="list the networks that ship with nncompile (build NAME analyses one)",
                       description="list the networks that ship with nncompile: `nncompile build resnet50` "
                                   "analyses one, `import: {resnet: zoo:lib/resnet.yaml}` imports a library")
    z.set_defaults(func=commands.cmd_zoo)
    o = sub.add_parser("ops", help="list the ops")
    o.add_argument("-v", "--verbose", action="store_true", help="show each op's attributes")
    o.set_defaults(func=commands.cmd_ops)


# commands that build a graph and report on it, making no reference cycles: Python's collector
# stays off until they are done, as its passes over the graph would cost a tenth of a build
_WITHOUT_COLLECTOR = {"build", "check", "draw"}


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into the unwinding Ctrl-C gets, so every `finally` (the atomic writer's
    removal of its temporary file, the kill of a `dot` child) runs before the exit."""

    signum = signal.SIGTERM


def _terminate(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser(argv[0] if argv and not argv[0].startswith("-") else None).parse_args(argv)
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
        if args.command in _WITHOUT_COLLECTOR:
            with collector_paused():
                return args.func(args)
        return args.func(args)
    except SpecError as e:
        print_diagnostics(e.diagnostics, getattr(e, "sources", None))
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
