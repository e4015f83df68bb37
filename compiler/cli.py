"""The `nncompile` command.

Exit codes: 0 success, 1 errors in a spec (diagnostics on stderr), 2 usage errors (a bad
flag, a missing file, an unknown --set name). Reports go to stdout, diagnostics to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import analyse
from .diagnostics import SourceCache, SpecError
from .expand import UsageError

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


def _spec_path(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise UsageError(f"no such spec file: {text}")
    return path


def _print_diagnostics(diagnostics, sources: SourceCache | None, stream=None) -> None:
    stream = stream or sys.stderr  # looked up now: tests and callers may redirect it
    for d in diagnostics:
        print(d.render(sources), file=stream)
    errors = sum(d.severity == "error" for d in diagnostics)
    if errors:
        print(f"{errors} error{'s' if errors != 1 else ''}", file=stream)


def _analyse(args, spec: str):
    graph = analyse(_spec_path(spec), _params(args.set), strict=getattr(args, "strict", False),
                    allow_paths=args.allow_path or ())
    if not getattr(args, "quiet", False) or graph.errors:
        _print_diagnostics(graph.warnings + graph.errors, graph.sources)
    return graph


def cmd_build(args) -> int:
    from .atomic import write_text
    from .backends import report

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
        out = Path(args.output)
        write_text(out / "report.json", json.dumps(report.report_json(graph), indent=2) + "\n")
        write_text(out / "report.md", report.render_markdown(graph))
        print(f"wrote {out / 'report.json'}, {out / 'report.md'}", file=sys.stderr)
        _build_diagram(graph, out)
    return EXIT_OK


def _build_diagram(graph, out: Path) -> None:
    """diagram.dot and diagram.svg beside the reports; a missing `dot` is a warning here,
    since the reports are the build's job."""
    from .backends import diagram

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

    from .backends import diagram

    if args.output and Path(args.output).suffix.lower() not in diagram.FORMATS:
        raise UsageError(f"cannot draw to '{args.output}': the suffix picks the format, one of "
                         f"{', '.join(diagram.FORMATS)}")
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
    from .atomic import write_text
    from .spec import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if args.output:
        write_text(args.output, text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_emit_torch(args) -> int:
    from .atomic import write_text
    from .backends.torch_source import generate

    graph = _analyse(args, args.spec)
    if graph.errors:
        return EXIT_SPEC
    write_text(args.output, generate(graph))
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_ops(args) -> int:
    from .ops import REGISTRY

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
    b.add_argument("-o", "--output", metavar="DIR", help="write report.json and report.md into DIR")
    spec_command("check", "validate specs only (for editors and pre-commit hooks)", cmd_check, many=True)
    d = spec_command("draw", "draw the network: layers, shapes on the edges, blocks as clusters", cmd_draw)
    d.add_argument("-o", "--output", metavar="FILE",
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
    t = spec_command("emit-torch", "write the network as standalone PyTorch source", cmd_emit_torch)
    t.add_argument("-o", "--output", metavar="FILE", required=True, help="the .py file to write")

    s = sub.add_parser("schema", help="print the JSON Schema of the spec format")
    s.add_argument("-o", "--output", metavar="FILE")
    s.set_defaults(func=cmd_schema)
    o = sub.add_parser("ops", help="list the ops")
    o.add_argument("-v", "--verbose", action="store_true", help="show each op's attributes")
    o.set_defaults(func=cmd_ops)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except SpecError as e:
        _print_diagnostics(e.diagnostics, getattr(e, "sources", None))
        return EXIT_SPEC
    except UsageError as e:
        print(f"nncompile: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("nncompile: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
