"""nncompile's compiler: YAML spec -> IR -> analysis -> report, diagram, torch, ONNX.

    from nncompile.compiler import build
    net = build("specs/ccp.yaml", params={"num_classes": 5})
    net.totals.params, net.nodes["fc"].type
    summary(net, depth=1)      # build's table; in a notebook, `net` shows it and its diagram

Nothing here imports torch; the torch and ONNX backends import it when called.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from pathlib import Path

from .diagnostics import Diagnostic, SpecError
from .expand import UsageError, expand
from . import ir
from .ir import Graph, Node, TensorType
from .passes import infer


def analyse(path: str | Path, params: dict | None = None, *, strict: bool = False, allow_paths=()) -> Graph:
    """Expand and analyse a spec. Errors that leave a graph (shape mismatches, bad
    references) are in graph.errors, so a caller can still show what was inferred; errors
    that leave none (unreadable YAML) raise SpecError."""
    overrides = {k: v if isinstance(v, str) else _yaml_text(v) for k, v in (params or {}).items()}
    with collector_paused():
        graph, sources = expand(path, overrides, allow_paths, strict=strict)
        graph.sources = sources
        graph.totals = infer(graph, strict=strict)
    return graph


@contextmanager
def collector_paused():
    """Python's cyclic garbage collector off for the block (as it was, after). Expansion and
    reporting allocate a few objects per layer and make no cycles: the collector's passes over
    the growing graph cost a third of a 10,000-layer build, and found nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build(path: str | Path, params: dict | None = None, *, strict: bool = False, allow_paths=()) -> Graph:
    """The analysed network; raises SpecError (all its diagnostics) if the spec has errors."""
    graph = analyse(path, params, strict=strict, allow_paths=allow_paths)
    if graph.errors:
        error = SpecError(graph.errors)
        error.sources, error.graph = graph.sources, graph
        raise error
    return graph


def to_torch(network: Graph | str | Path, params: dict | None = None, *, allow_paths=(), **options):
    """The spec (a path, built here with `params` and `allow_paths`, or a network from
    `build`) as a torch.nn.Module; see backends/torch.py for the options (seed,
    max_param_bytes). Imports torch."""
    from .backends.torch import to_torch as lower

    return lower(_built(network, params, allow_paths), **options)


def to_onnx(network: Graph | str | Path, weights=None, params: dict | None = None, *, allow_paths=(), **options):
    """The spec (a path, built here with `params` and `allow_paths`, or a network from
    `build`) as an onnx.ModelProto, straight from the IR; see backends/onnx.py for the
    options (seed, opset). Needs onnx, not torch."""
    from .backends.onnx import to_onnx as lower

    return lower(_built(network, params, allow_paths), weights, **options)


class _Views:
    """Graph's notebook views (ir.VIEWS), importing the backends when first shown."""

    @staticmethod
    def diagram(graph: Graph, **options):
        from .backends.diagram import draw

        return draw(graph, **options)

    @staticmethod
    def html(graph: Graph) -> str:
        from .backends.report import render_html

        return render_html(graph, depth=1) + graph.diagram(depth=1).html()


ir.VIEWS = _Views()


class Summary(str):
    """The table, as text; shown as itself (not quoted) in a REPL or a notebook."""

    def __repr__(self) -> str:
        return str(self)


def summary(network: Graph | str | Path, depth: int | None = None, columns: list[str] | None = None, *,
            width: int | None = None, params: dict | None = None, allow_paths=(), verbose: bool | None = None) -> Summary:
    """`nncompile build`'s table of a spec (a path, built here) or a built network: `depth` rolls
    blocks deeper than that up into one row each, `columns` chooses (layer, line, inputs, output,
    arithmetic, params, macs, rf), `width` fits. Returns the text; like torchinfo's summary(),
    it also prints it, except where the returned value shows itself (a REPL or a notebook);
    verbose=True or False decides."""
    from .backends.report import render_table

    text = Summary(render_table(_built(network, params, allow_paths), depth=depth, columns=columns, width=width))
    if verbose if verbose is not None else not _shows_itself():
        print(text)
    return text


def _shows_itself() -> bool:
    """In a REPL, IPython or Jupyter the returned value is displayed: printing it would show it twice."""
    import sys

    ipython = sys.modules.get("IPython")
    return hasattr(sys, "ps1") or ipython is not None and ipython.get_ipython() is not None


def _built(network: Graph | str | Path, params: dict | None, allow_paths) -> Graph:
    if not isinstance(network, Graph):
        return build(network, params, allow_paths=allow_paths)
    if params or allow_paths:
        raise TypeError("params and allow_paths apply to a spec path; pass them to build() for a built network")
    return network


def _yaml_text(value) -> str:
    import json

    return json.dumps(value)


__all__ = ["analyse", "build", "summary", "to_torch", "to_onnx", "Graph", "Node", "TensorType", "Diagnostic", "SpecError", "UsageError"]
