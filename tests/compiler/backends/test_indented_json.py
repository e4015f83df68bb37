"""indented_json.dumps against json.dumps(indent=2) itself, on the reports of the zoo and on
arbitrary JSON values (hypothesis), including subclasses of str, int and float."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nncompile.compiler import build
from nncompile.compiler.backends import report
from nncompile.compiler.backends.indented_json import dumps
from suite import ROOT


class Text(str):
    def __str__(self) -> str:  # json ignores an overridden __str__: so must we
        return "not this"


class Count(int):
    def __repr__(self) -> str:
        return "not this"


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(),
                    st.text().map(Text), st.integers().map(Count))
keys = st.one_of(st.text(), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none())
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                                                       st.dictionaries(keys, inner, max_size=4)), max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(values)
def test_the_text_of_json_dumps_with_indent_2(value):
    assert dumps(value) == json.dumps(value, indent=2)


@pytest.mark.parametrize("spec", ["resnet50", "vit_b_16", "googlenet", "xor"])
def test_a_report_encodes_as_json_dumps_encodes_it(spec):
    data = report.report_json(build(ROOT / "specs" / f"{spec}.yaml"))
    assert report.render_json(build(ROOT / "specs" / f"{spec}.yaml")) == json.dumps(data, indent=2)


def test_what_json_cannot_encode_is_refused_alike():
    for value in ({1, 2}, object(), {(1, 2): 3}):
        with pytest.raises(TypeError):
            json.dumps(value, indent=2)
        with pytest.raises(TypeError):
            dumps(value)
    assert dumps([math.inf, -math.inf, math.nan]) == json.dumps([math.inf, -math.inf, math.nan], indent=2)
