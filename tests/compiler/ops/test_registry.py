"""Every registered op is documented, typed, grouped, lowered both ways, and has a case."""

from pathlib import Path

import pytest

from harness import all_cases
from nncompile.compiler.ops import REGISTRY, Op
from nncompile.compiler.ops.base import Attrs


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_op_is_complete(name):
    op = REGISTRY[name]
    assert isinstance(op, Op) and op.name == name
    assert op.doc, "its docstring is its documentation (nncompile ops)"
    assert isinstance(op.Attrs, type) and issubclass(op.Attrs, Attrs)
    assert op.family and op.family.isidentifier()
    assert type(op).torch is not Op.torch and type(op).onnx is not Op.onnx, "it lowers to torch and to ONNX"
    family_module = type(op).__module__.rsplit(".", 1)[-1]
    assert Path(__file__).with_name(f"test_{family_module}.py").exists(), \
        f"tests mirror compiler/ops/{family_module}.py"


def test_every_op_has_a_case():
    untested = set(REGISTRY) - {case.op for case in all_cases()}
    assert not untested, f"add a Case to tests/compiler/ops/test_<family>.py for: {sorted(untested)}"


def test_case_ids_are_unique():
    ids = [str(case) for case in all_cases()]
    assert len(ids) == len(set(ids))
