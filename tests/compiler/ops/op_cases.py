"""The harness of the per-op tests: static inference checked against torch's real module.

A Case is one layer of one op on given input shapes, with the torch module that computes
the same thing. check() writes a one-layer spec, analyses it with nncompile (no torch on
that path), runs the torch module on random tensors, and compares the output shape,
parameter names and shapes, parameter count, buffers and MACs (torch's own FLOP counter,
FLOPs = 2 × MACs, on one sample). A Refusal is a layer nncompile must refuse with a given
diagnostic code, and that torch refuses as well.

Each tests/compiler/ops/test_<family>.py lists CASES and REFUSALS; test_registry.py
checks that every registered op appears in some CASES.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from nncompile.compiler import analyse
from nncompile.compiler.ir import Graph


@dataclass
class Case:
    op: str
    attrs: dict[str, Any]
    inputs: list[tuple]  # shapes; "N" is the batch
    torch: Callable[[], torch.nn.Module]  # the equivalent module (or Fn for a function)
    id: str = ""
    macs: bool = True  # compare MACs with torch's FLOP counter

    def __str__(self):
        return self.id or f"{self.op}-{'-'.join(f'{k}{v}' for k, v in self.attrs.items())}"


@dataclass
class Refusal:
    op: str
    attrs: dict[str, Any]
    inputs: list[tuple]
    code: str  # the diagnostic's code
    torch: Callable[[], Any] | None = None  # builds and runs the torch equivalent: must raise
    id: str = ""
    fragments: list[str] = field(default_factory=list)  # text the message must contain

    def __str__(self):
        return self.id or f"{self.op}-{self.code}"


class Fn(torch.nn.Module):
    """A torch function as a module (for ops torch has no module for)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


def analyse_layer(tmp_path: Path, op: str, attrs: dict, inputs: list[tuple], strict: bool = False) -> Graph:
    """A spec with the given inputs and one layer `y` reading all of them, analysed."""
    names = [f"x{i}" for i in range(len(inputs))]
    layer = {"op": op, "in": names, **attrs}
    spec = {"name": "case", "inputs": {n: list(s) for n, s in zip(names, inputs)}, "layers": [{"y": layer}]}
    path = tmp_path / "case.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")  # JSON is YAML
    return analyse(path, strict=strict)


def check(case: Case, tmp_path: Path) -> None:
    graph = analyse_layer(tmp_path, case.op, case.attrs, case.inputs)
    assert not graph.errors, [d.message for d in graph.errors]
    node = graph.nodes["y"]

    torch.manual_seed(0)
    module = case.torch()
    module.eval()  # dropout and batch norm deterministic; shapes are the same either way
    xs = [torch.randn(*[1 if d == "N" else d for d in shape]) for shape in case.inputs]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = module(*xs)

    assert tuple(node.type.shape) == ("N", *y.shape[1:]), f"nncompile {node.type} vs torch {tuple(y.shape)}"
    torch_params = {name: tuple(p.shape) for name, p in module.named_parameters()}
    assert node.params == torch_params
    assert node.param_count == sum(p.numel() for p in module.parameters())
    torch_buffers = {name: tuple(b.shape) for name, b in module.named_buffers() if name != "num_batches_tracked"}
    assert node.buffers == torch_buffers
    if case.macs:
        assert 2 * node.macs == counter.get_total_flops(), f"MACs {node.macs:,} vs torch's FLOPs / 2"


def check_refusal(refusal: Refusal, tmp_path: Path) -> None:
    graph = analyse_layer(tmp_path, refusal.op, refusal.attrs, refusal.inputs)
    assert graph.errors, "nncompile accepted it"
    error = graph.errors[0]
    assert error.code == refusal.code, error.message
    assert error.span is not None and error.span.line >= 1
    for fragment in refusal.fragments:
        assert fragment in error.message + " ".join(error.notes)
    if refusal.torch is not None:
        xs = [torch.randn(*[1 if d == "N" else d for d in shape]) for shape in refusal.inputs]
        try:
            refusal.torch()(*xs)
        except (RuntimeError, ValueError, IndexError):
            return
        raise AssertionError("torch accepts what nncompile refuses")
