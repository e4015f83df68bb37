"""The one harness every op's cases go through (as Keras's run_layer_test).

A Case is data: an op, its attributes, its input shapes ("N" is the batch; H, W, P, Q and R,
a count of boxes, are symbolic sizes, run at SIZES; inputs an op needs valid, boxes, are drawn
by its `sample_input`) and a torch module, written independently of nncompile, that
computes the same thing. The harness writes a one-layer spec `y`, analyses it (no torch on
that path) and checks that layer three ways:

1. static analysis against the reference module: output shape, parameter names and shapes,
   parameter count, buffers, and MACs against torch's FlopCounterMode (FLOPs = 2 × MACs);
2. the torch lowering: its parameter and buffer totals (sum of numel), the reference's
   weights load into it by name, and then it computes what the reference computes;
3. the ONNX lowering, through `verify`: onnx's full checker, ONNX's strict shape inference
   against our shapes, onnxruntime against the lowered module at batches 1 and 3; the node
   that makes the output carries the layer's name and its parameters are initializers.

Stages 1 and 2 are one test (`test_case`), stage 3 another (`test_onnx`). A Refusal is a
layer nncompile must refuse with a given diagnostic code, and that torch refuses as well.
Each test_<family>.py beside this file holds CASES and REFUSALS and runs them with
`op_tests`; test_registry.py checks that every registered op has a case.
"""

from __future__ import annotations

import importlib
import json
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from nncompile.compiler import analyse, to_onnx, to_torch
from nncompile.compiler.ir import Graph
from nncompile.compiler.ops import REGISTRY
from nncompile.compiler.symbolic import evaluate
from nncompile.compiler.verify import render, verify

HERE = Path(__file__).parent
SIZES = {"H": 9, "W": 13, "P": 20, "Q": 17, "R": 6}  # the symbolic sizes cases use (R: boxes)
BATCH = 1
BIG_INPUT = 100_000  # input values per sample


@dataclass
class Case:
    op: str
    attrs: dict[str, Any]
    inputs: list[tuple]  # shapes; "N" is the batch
    torch: Callable[[], torch.nn.Module]  # the equivalent module (or Fn for a function)
    id: str = ""
    onnx: bool = True  # False: the ONNX stage is skipped, for the reason in `note`
    note: str = ""
    # the output's first size where it is not the batch N or the box count R: a count of the
    # data (anchors: 3·H·W) or a bound (proposals: R≤N·1000), as nncompile must write it
    first_dim: Any = None

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


def op_tests(cases: list[Case], refusals: list[Refusal]):
    """A family's tests, to assign in its module: `test_case, test_onnx, test_refusal = op_tests(…)`.
    The ONNX stage of a case with more than BIG_INPUT input values per sample runs in the
    slow suite (it is the slides' full-size layer; a small case of the same op runs by default)."""

    def onnx_param(case: Case):
        marks = [pytest.mark.slow] if _input_values(case) > BIG_INPUT else []
        if not case.onnx:
            marks.append(pytest.mark.skip(reason=case.note))
        return pytest.param(case, id=str(case), marks=marks)

    @pytest.mark.parametrize("case", cases, ids=str)
    def test_case(case, tmp_path):
        with one_thread():
            check_static_and_torch(case, tmp_path)

    @pytest.mark.parametrize("case", [onnx_param(case) for case in cases])
    def test_onnx(case, tmp_path):
        with one_thread():
            check_onnx(case, tmp_path)

    @pytest.mark.parametrize("refusal", refusals, ids=str)
    def test_refusal(refusal, tmp_path):
        check_refusal(refusal, tmp_path)

    return test_case, test_onnx, test_refusal


@contextmanager
def one_thread():
    """torch on one intra-op thread: a case's tensors are small, and a second thread only
    adds waiting (several times the run time on a loaded machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _input_values(case: Case) -> int:
    return sum(math.prod(evaluate(d, {"N": 1, **SIZES}) for d in shape) for shape in case.inputs)


def all_cases() -> list[Case]:
    """The CASES of every test_<family>.py beside this file."""
    modules = [importlib.import_module(path.stem) for path in sorted(HERE.glob("test_*.py"))]
    return [case for module in modules for case in getattr(module, "CASES", [])]


def analyse_layer(tmp_path: Path, op: str, attrs: dict, inputs: list[tuple], strict: bool = False) -> Graph:
    """A spec with the given inputs and one layer `y` reading all of them, analysed."""
    names = [f"x{i}" for i in range(len(inputs))]
    layer = {"op": op, "in": names, **attrs}
    spec = {"name": "case", "inputs": {n: list(s) for n, s in zip(names, inputs)}, "layers": [{"y": layer}]}
    path = tmp_path / "case.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")  # JSON is YAML
    return analyse(path, strict=strict)


def _sample(shapes: list[tuple], seed: int = 0, op: str | None = None, attrs=None) -> list[torch.Tensor]:
    """Random normal inputs, but those the op must have valid (boxes) drawn by the op."""
    generator = torch.Generator().manual_seed(seed)
    sizes = {"N": BATCH, **SIZES}
    concrete = [[evaluate(d, sizes) for d in shape] for shape in shapes]
    xs = [torch.randn(shape, generator=generator) for shape in concrete]
    rng = np.random.default_rng(seed)
    for k in range(len(xs) if op else 0):
        drawn = REGISTRY[op].sample_input(attrs, k, concrete, rng)
        xs[k] = xs[k] if drawn is None else torch.from_numpy(drawn)
    return xs


def _analysed(case: Case, tmp_path: Path) -> Graph:
    graph = analyse_layer(tmp_path, case.op, case.attrs, case.inputs)
    assert not graph.errors, [d.message for d in graph.errors]
    return graph


def check_static_and_torch(case: Case, tmp_path: Path) -> None:
    graph = _analysed(case, tmp_path)
    node = graph.nodes["y"]
    xs = _sample(case.inputs, op=case.op, attrs=node.attrs)

    # 1. static analysis against the independent torch module
    torch.manual_seed(0)
    reference = case.torch().eval()  # dropout and batch norm deterministic
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        want = reference(*xs)
    static = [evaluate(d, {"N": BATCH, **SIZES}) for d in node.type.shape]  # None: a product of symbols
    assert node.type.shape[0] in (("N", "R") if case.first_dim is None else (case.first_dim,)) and \
        len(static) == want.dim() and \
        all(s in (None, n) for s, n in zip(static, want.shape)), f"nncompile {node.type} vs torch {tuple(want.shape)}"
    assert node.params == {name: tuple(p.shape) for name, p in reference.named_parameters()}
    assert node.param_count == sum(p.numel() for p in reference.parameters())
    assert node.buffers == {name: tuple(b.shape) for name, b in reference.named_buffers()
                            if name != "num_batches_tracked"}
    symbolic = any(isinstance(d, str) and d != "N" for shape in case.inputs for d in shape)
    if node.macs is None:
        assert symbolic, "MACs unknown though every size is concrete"
    else:
        assert 2 * BATCH * node.macs == counter.get_total_flops(), f"MACs {node.macs:,} vs torch's FLOPs / 2"

    # 2. the torch lowering: the same weights give the same values
    lowered = to_torch(graph, seed=0).eval()
    totals = graph.totals
    assert sum(p.numel() for p in lowered.parameters()) == totals.params == node.param_count
    assert sum(p.numel() for p in lowered.parameters() if p.requires_grad) == totals.trainable_params == totals.params
    assert sum(b.numel() for name, b in lowered.named_buffers()
               if not name.endswith("num_batches_tracked")) == totals.buffers
    lowered.load_state_dict({node.state_key(k): v for k, v in reference.state_dict().items()})  # strict: same names, shapes
    with torch.no_grad():
        torch.testing.assert_close(lowered(*xs), want, equal_nan=True)  # lppool: (negative sum)^(1/p)


def check_onnx(case: Case, tmp_path: Path) -> None:
    """3. the ONNX lowering against onnxruntime and the lowered torch module."""
    graph = _analysed(case, tmp_path)
    checks = verify(graph, batches=(1, 3), sizes=SIZES)
    assert all(c.ok for c in checks), render(checks)
    model = to_onnx(graph)
    assert "y" in [n.name for n in model.graph.node]  # the node that makes the output has the layer's name
    assert {t.name for t in model.graph.initializer} >= {f"y.{p}" for p in graph.nodes["y"].params}


def check_refusal(refusal: Refusal, tmp_path: Path) -> None:
    graph = analyse_layer(tmp_path, refusal.op, refusal.attrs, refusal.inputs)
    assert graph.errors, "nncompile accepted it"
    error = graph.errors[0]
    assert error.code == refusal.code, error.message
    assert error.span is not None and error.span.line >= 1
    for fragment in refusal.fragments:
        assert fragment in error.message + " ".join(error.notes)
    if refusal.torch is not None:
        try:
            refusal.torch()(*_sample(refusal.inputs))
        except (RuntimeError, ValueError, IndexError):
            return
        raise AssertionError("torch accepts what nncompile refuses")
