"""The `nncompile` commands, one function each: args in, an exit code out (docs/cli.md).
Reports go to stdout, diagnostics to stderr; torch, onnx and the runtime are imported by the
commands that need them, so `build` stays light."""

from __future__ import annotations

import json
import os
import shutil
import sys
from functools import partial
from pathlib import Path

from ..compiler import analyse, collector_paused
from ..compiler.diagnostics import render_all
from ..compiler.source import SourceCache
from ..compiler.expand import UsageError
from .arguments import name_values, spec_path

EXIT_OK, EXIT_SPEC, EXIT_USAGE = 0, 1, 2
QUIET_FOR_S = 1.0  # progress shows only once work has taken this long: a fast command stays quiet
WAITING_PLAIN_EVERY_S = 5.0  # off a terminal, a line this often while work that cannot count runs (dot, a write)


def print_diagnostics(diagnostics, sources: SourceCache | None, stream=None) -> None:
    if diagnostics:
        print(render_all(diagnostics, sources), file=stream or sys.stderr)  # looked up now: tests may redirect it


def _progress(args, title: str, **options):
    """Progress on stderr for a long export, verify or draw (runtime/log.py's, as training's)."""
    from ..runtime.log import Progress

    return Progress(title, enabled=not args.no_progress, delay=QUIET_FOR_S, **options)


def _analyse(args, spec: str):
    graph = analyse(spec_path(spec), name_values(args.set), strict=getattr(args, "strict", False),
                    allow_paths=args.allow_path or ())
    if not getattr(args, "quiet", False) or graph.errors:
        print_diagnostics(graph.warnings + graph.errors, graph.sources)
    return graph


def cmd_build(args) -> int:
    from ..compiler.atomic import write_text
    from ..compiler.backends import report

    if args.format != "table" and (args.width or args.color != "auto") or args.format == "json" and (
            args.depth is not None or args.columns):
        raise UsageError(f"--depth and --columns shape the table and Markdown, --width and --color the table; "
                         f"--format {args.format} lists every layer" if args.format == "json" else
                         "--width and --color shape the terminal table, not Markdown")
    graph = _analyse(args, args.spec)
    if graph.errors:
        return EXIT_SPEC
    with collector_paused():  # (the report walks the graph, which holds no cycles)
        if args.format == "json":
            print(report.render_json(graph))
        elif args.format == "markdown":
            print(report.render_markdown(graph, depth=args.depth, columns=args.columns))
        else:
            print(report.render_table(graph, depth=args.depth, columns=args.columns, width=_table_width(args),
                                      color=_color(args.color)))
    if args.output:
        out = args.output
        out.mkdir(exist_ok=True)
        write_text(out / "report.json", report.render_json(graph) + "\n")
        write_text(out / "report.md", report.render_markdown(graph))
        print(f"wrote {out / 'report.json'}, {out / 'report.md'}", file=sys.stderr)
        _build_diagram(graph, out)
    return EXIT_OK


def _table_width(args) -> int | None:
    """--width; else $COLUMNS (a width asked for), else a terminal's; a pipe or a file gets the
    whole table, as scripts have always read it."""
    if args.width:
        return args.width
    if os.environ.get("COLUMNS", "").isdigit() or sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def _color(choice: str) -> bool:
    """auto: on a terminal unless NO_COLOR is set to anything but "" (https://no-color.org)."""
    if choice != "auto":
        return choice == "always"
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


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
            with _progress(args, "[draw] dot layout", plain_every=WAITING_PLAIN_EVERY_S).ticking():
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
    from ..compiler.backends.onnx import TorchExportError, lower as lower_to_onnx, save, to_onnx_via_torch

    graph = _analyse(args, args.spec)
    if graph.errors:
        return EXIT_SPEC
    progress = _progress(args, "[export]")
    lower = to_onnx_via_torch if args.via == "torch" else partial(lower_to_onnx, progress=progress.advance)
    try:
        model = lower(graph, weights=args.weights, seed=args.seed)
    except ModuleNotFoundError as e:  # --via torch without torch
        raise UsageError(f"--via {args.via} needs {e.name}, which is not installed") from None
    except TorchExportError as e:
        raise UsageError(f"{e}; export without --via torch (the direct export)") from None
    finally:
        progress.close()
    with _progress(args, f"[export] writing {args.output}", plain_every=WAITING_PLAIN_EVERY_S).ticking():
        written = save(model, args.output)
    weights = args.weights or f"the spec's initialisation, seed {args.seed}"
    how = " by torch.onnx.export (the legacy TorchScript exporter)" if args.via == "torch" else ""
    print(f"wrote {', '.join(map(str, written))}{how}: {len(model.graph.node)} nodes, opset "
          f"{model.opset_import[0].version}, weights from {weights}", file=sys.stderr)
    return EXIT_OK


def cmd_verify(args) -> int:
    from ..compiler.verify import check_sizes, render, verify

    graph = _analyse(args, args.spec)
    if graph.errors:
        return EXIT_SPEC
    sizes = {}
    for name, value in name_values(args.size).items():
        if not value.strip().isdigit() or int(value) < 1:
            raise UsageError(f"--size expects NAME=POSITIVE_INT, got '{name}={value}'")
        sizes[name] = int(value)
    check_sizes(graph, sizes)
    progress = _progress(args, "[verify]")
    try:
        checks = verify(graph, batches=args.batch_sizes, tolerance=args.tolerance, seed=args.seed, sizes=sizes,
                        progress=progress.advance)
    finally:
        progress.close()
    print(render(checks))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_SPEC


def cmd_predict(args) -> int:
    from ..runtime import inference

    model = Path(args.model)
    if not model.is_file():
        raise UsageError(f"{model} is a directory, not a model file" if model.is_dir() else f"no such model file: {model}")
    try:
        session = inference.InferenceSession(args.model, provider=args.provider)
        inference.check_output_format(args.output, [o.name for o in session.outputs])  # before the work
        inputs = session.inputs
        groups = [args.input] if len(inputs) == 1 else [[p] for p in args.input]
        if len(groups) != len(inputs):
            raise ValueError(f"the model takes {len(inputs)} inputs ({', '.join(i.name for i in inputs)}): "
                             "give one --input file for each, in that order")
        feeds = {i.name: inference.load_input(paths, i.shape, args.normalize, i.name) for i, paths in zip(inputs, groups)}
        outputs = session.run_batched(feeds, args.batch_size)
        scored = inference.class_outputs(args.model, outputs)  # the others' values are printed as they are
        labels = inference.read_labels(args.labels, max((outputs[n].shape[1] for n in scored), default=0)) \
            if args.labels else None
    except (inference.ProviderUnavailable, OSError, ValueError) as e:
        raise UsageError(str(e)) from None
    text = None  # the JSON, unless the output is .npy or .npz
    if args.output is None or args.output.suffix.lower() == ".json":
        text, nonfinite = inference.predictions_json(args.model, session.provider, outputs, args.top_k, labels, scored)
        if nonfinite:
            print(f"warning: the model's outputs hold {nonfinite:,} NaN or infinite values; JSON has none, "
                  "so they are written as null", file=sys.stderr)
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    inference.write_predictions(args.output, outputs, text)
    shapes = ", ".join(f"{name} {'×'.join(map(str, y.shape))}" for name, y in outputs.items())
    print(f"wrote {args.output}: {shapes} ({session.provider})", file=sys.stderr)
    return EXIT_OK


def cmd_zoo(args) -> int:
    """The networks that ship with nncompile, each as `nncompile build NAME` analyses it."""
    from ..compiler import zoo

    rows = [["name", "input", "output", "params", "MACs"]]
    for path in zoo.networks():
        graph = analyse(path)
        rows.append([path.stem, *zoo.summary(graph)[1:]])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:  # numbers right-aligned, as in build's table
        cells = [cell.rjust(w) if i >= 3 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip())
    print(f"\nlibraries, imported as zoo:lib/NAME.yaml: {', '.join(p.removeprefix('zoo:lib/') for p in zoo.libraries())}")
    return EXIT_OK


def cmd_ops(args) -> int:
    from ..compiler.ops import REGISTRY
    from ..compiler.records import fields

    for name, op in sorted(REGISTRY.items(), key=lambda item: (item[1].family, item[0])):
        first = op.doc.split("\n\n")[0].replace("\n", " ")
        print(f"{op.family:<14} {name:<20} {first}")
        if args.verbose:
            for field, info in fields(op.Attrs).items():
                default = "required" if info.is_required() else f"default {info.default!r}"
                print(f"{'':36}{field}: {default}")
    return EXIT_OK


def cmd_train(args) -> int:
    from ..runtime import launch  # torch is imported only once training starts

    args.spec = str(spec_path(args.spec))  # a zoo name becomes its file, for torchrun's workers too
    return launch.run(args, name_values(args.set))


def cmd_explain(args) -> int:
    from ..runtime import explain  # imports torch

    graph = _analyse(args, args.spec)
    if graph.errors:
        return EXIT_SPEC
    sys.stdout.write(explain.command(graph, args))
    return EXIT_OK
