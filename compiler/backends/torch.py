"""Lowering to PyTorch: `to_torch(spec)` -> an nn.Module that trains on CPU or GPU.

The module's class is the source `torch_source.generate` writes (what `emit-torch`
saves), compiled once, so forward is straight-line code with no per-call dispatch and
`torch.compile(fullgraph=True)` sees plain tensor code. Then the spec's `init:` is applied.
"""

from __future__ import annotations

import linecache

import torch
from torch import nn

from ..diagnostics import Diagnostic, SpecError
from ..init_schemes import SCHEMES
from ..ir import Graph
from ..passes.infer import BYTES_PER_VALUE
from ..spec import InitScheme
from .torch_source import class_name, generate

DEFAULT_MAX_PARAM_BYTES = 8 * 2**30


def to_torch(graph: Graph, *, seed: int | None = None, max_param_bytes: int = DEFAULT_MAX_PARAM_BYTES) -> nn.Module:
    """The analysed network as a torch.nn.Module (`nncompile.compiler.to_torch` takes a spec
    path too and builds it first).

    forward takes the spec's inputs in order and returns one tensor for one output, else a
    tuple in the spec's output order. `seed` makes initialisation deterministic without
    touching the global RNG; a network whose parameters and buffers would take more than
    `max_param_bytes` is refused (SpecError) before anything is allocated."""
    _check_budget(graph, max_param_bytes)
    cls = load_class(generate(graph), graph)
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        model = cls()
        _initialise(model, graph)
    return model


def load_class(source: str, graph: Graph) -> type[nn.Module]:
    """Compiles the generated source once; linecache keeps it visible to tracebacks,
    inspect and torch.compile (as torch.fx does for GraphModules)."""
    filename = f"<nncompile {graph.name} {graph.source_hash[:12]}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    namespace = {"__name__": f"nncompile_generated_{class_name(graph)}"}
    exec(compile(source, filename, "exec"), namespace)  # our own generated code, never spec text
    return namespace[class_name(graph)]


def _check_budget(graph: Graph, max_param_bytes: int) -> None:
    size = (graph.totals.params + graph.totals.buffers) * BYTES_PER_VALUE
    if size <= max_param_bytes:
        return
    owners = sorted((n for n in graph.nodes.values() if n.param_count), key=lambda n: -n.param_count)
    largest = owners[0] if owners else None
    error = SpecError(Diagnostic(
        f"network '{graph.name}' needs {_bytes(size)} for its parameters and buffers "
        f"({graph.totals.params + graph.totals.buffers:,} float32 values), over the budget of "
        f"{_bytes(max_param_bytes)}", largest.span if largest else None, code="too-large",
        notes=["largest layers: " + ", ".join(f"{n.name} ({n.param_count:,})" for n in owners[:3]),
               "raise max_param_bytes to allow it"]))
    error.sources = graph.sources
    raise error


def _bytes(n: int) -> str:
    return f"{n / 2**30:.3g} GiB" if n >= 2**30 else f"{n / 2**20:.3g} MiB"


# --- initialisation ------------------------------------------------------------------

def _initialise(model: nn.Module, graph: Graph) -> None:
    errors = []
    for node in graph.nodes.values():
        for name, value in node.init.items():
            tensor = model.get_parameter(node.state_key(name))
            try:
                with torch.no_grad():
                    _apply(tensor, value)
            except ValueError as e:  # e.g. a fan-in scheme on a 1-D bias
                errors.append(Diagnostic(f"layer '{node.name}' ({node.op}): cannot initialise {name} "
                                         f"{tuple(tensor.shape)} this way: {e}",
                                         node.span_of("init"), code="bad-init"))
    if errors:
        error = SpecError(errors)
        error.sources = graph.sources
        raise error


def _apply(tensor: torch.Tensor, value) -> None:
    if isinstance(value, list):
        tensor.copy_(torch.tensor(value, dtype=tensor.dtype))
    elif isinstance(value, (int, float)):
        nn.init.constant_(tensor, value)
    else:
        scheme = value if isinstance(value, InitScheme) else InitScheme(scheme=value)
        SCHEMES[scheme.scheme].torch(nn.init, tensor, scheme)

