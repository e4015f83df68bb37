"""Spec document -> flat IR, in four stages with typed data between them:

    load     (load.py)    files, imports, content hash    -> LoadedSpec (Document, Namespace)
    bind     (bind.py)    spec params, `--set`, inputs     -> values for names
             (budget.py)  the layers it will expand to     -> refused at once if over MAX_NODES
    walk     (walk.py)    layer sites -> nodes and aliases -> Graph nodes, Links
                          (shapes.py: the types of a block's inputs, inferred on demand)
    resolve  (resolve.py) aliases -> nodes, cycle check    -> Graph (inputs, shares, outputs)

Layers that name no input take the previous one; `in:` may name any layer of the same
scope, earlier or later (a later one makes a DAG that is checked for cycles), the scope's
inputs, or a layer inside a block instance (`stage4.pool`). A block instance's own name
stands for its output; a layer whose `when` is false stands for its input, and is left out
of the spec's outputs (an optional head). Errors are collected, so one run reports every
independent mistake.
"""

from __future__ import annotations

from pathlib import Path

from ..diagnostics import SpecError
from ..source import SourceCache
from ..ir import INPUT, Graph, Node
from .bind import UsageError, spec_inputs, spec_params
from .budget import check_budget
from .load import Loader
from .problems import Problems
from .resolve import Resolver
from .walk import Walker, check_library

MAX_NODES = 250_000  # repeats of repeats can multiply: bound the graph


def expand(path: str | Path, params: dict[str, str] | None = None, allow_paths=(), *,
           strict: bool = False) -> tuple[Graph, SourceCache]:
    """The spec's graph, not yet analysed (but for the layers whose shapes a block reads:
    those are inferred on demand, `strict` as the analysis will be), and the text of every
    file read. Errors that leave a graph are in graph.errors; others raise SpecError
    (UsageError for `--set`)."""
    problems, sources = Problems(), SourceCache()
    try:
        return _expand(Loader(path, allow_paths, problems, sources), params or {}, problems, strict), sources
    except SpecError as e:
        e.sources = sources
        raise


def _expand(loader: Loader, overrides: dict[str, str], problems: Problems, strict: bool) -> Graph:
    spec = loader.load()
    doc, raw = spec.document, spec.raw
    graph = Graph(name=doc.name or spec.path.stem, file=spec.namespace.file, doc=doc.doc, errors=problems)
    graph.params = spec_params(doc, raw, overrides, problems)
    graph.source_hash = spec.fingerprint(graph.params)
    if not doc.layers:
        if doc.blocks:  # a block library: check every block, with its parameter defaults
            problems += check_library(spec.namespace)
            return graph
        problems.error("the spec has no layers", raw.span, "no-layers")
        raise SpecError(problems)
    if not doc.inputs:
        problems.error("the spec has no inputs: add `inputs: {x: [N, 3, 224, 224]}`", raw.span, "no-inputs")
        raise SpecError(problems)
    for name, type_ in spec_inputs(doc, raw, graph.params, problems).items():
        graph.add(Node(name, INPUT, span=raw["inputs"].key_spans[name], type=type_))
        graph.inputs.append(name)
    if any(graph.nodes[name].type is None for name in graph.inputs):
        raise SpecError(problems)
    # counted before any is expanded: a spec too large is refused at once, at its repeat
    check_budget(doc, raw, spec.namespace, graph.params, len(graph.inputs), MAX_NODES, problems)
    walker = Walker(graph, problems, MAX_NODES, strict)
    walker.spec(doc, raw, spec.namespace)
    Resolver(graph, walker.links, problems).resolve()
    return graph


__all__ = ["expand", "UsageError", "MAX_NODES"]
