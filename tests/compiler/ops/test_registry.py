"""Every registered op is documented, typed, grouped, and tested against torch."""

import importlib
from pathlib import Path

import pytest

from nncompile.compiler.ops import REGISTRY, Op
from nncompile.compiler.ops.base import Attrs


def _tested_ops() -> set[str]:
    """The ops in the CASES tables of the per-family test files beside this one."""
    ops = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        module = importlib.import_module(path.stem)
        ops |= {case.op for case in getattr(module, "CASES", [])}
    return ops


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_op_is_complete(name):
    op = REGISTRY[name]
    assert isinstance(op, Op) and op.name == name
    assert op.doc, "its docstring is its documentation (nncompile ops)"
    assert isinstance(op.Attrs, type) and issubclass(op.Attrs, Attrs)
    assert op.family and op.family.isidentifier()
    family_module = type(op).__module__.rsplit(".", 1)[-1]
    assert Path(__file__).with_name(f"test_{family_module}.py").exists(), \
        f"tests mirror compiler/ops/{family_module}.py"


def test_every_op_has_a_torch_checked_case():
    untested = set(REGISTRY) - _tested_ops()
    assert not untested, f"add a Case to tests/compiler/ops/test_<family>.py for: {sorted(untested)}"
