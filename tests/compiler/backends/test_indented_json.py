"""indented_json against json.dumps(indent=2) itself, on the reports of the zoo and on
arbitrary JSON values (hypothesis), including subclasses of str, int and float; objects laid
out from their values' text as json lays them out."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nncompile.compiler import build
from nncompile.compiler.backends import report
from nncompile.compiler.backends.indented_json import dumps, encode, object_text, objects_text
from suite import ROOT


class Text(str):
    def __str__(self) -> str:  # json ignores an overridden __str__: so must we
        return "not this"


class Count(int):
    def __repr__(self) -> str:
        return "not this"


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(),
                    st.text().map(Text), st.integers().map(Count))
keys = st.one_of(st.text(), st.sampled_from(["%s", "%", "%%(x)s"]), st.integers(), st.floats(allow_nan=False),
                 st.booleans(), st.none())  # (a % in a key must not be taken for a value's place)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                                                       st.dictionaries(keys, inner, max_size=4)), max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(values)
def test_the_text_of_json_dumps_with_indent_2(value):
    assert dumps(value) == json.dumps(value, indent=2)


@settings(max_examples=200, deadline=None)
@given(st.lists(keys, max_size=5), st.data())
def test_objects_are_laid_out_from_their_values_text_as_json_lays_them_out(names, data):
    rows = [dict(zip(names, data.draw(st.lists(values, min_size=len(names), max_size=len(names)))))
            for _ in range(data.draw(st.integers(0, 3)))]
    texts = [{k: encode(v, "\n    ") for k, v in row.items()} for row in rows]
    assert objects_text(texts, "\n") == json.dumps(rows, indent=2)
    for row in rows:
        assert object_text({k: encode(v, "\n  ") for k, v in row.items()}, "\n") == json.dumps(row, indent=2)


@pytest.mark.parametrize("spec", sorted(p.stem for p in (ROOT / "specs").glob("*.yaml")))
def test_a_report_is_json_dumps_text(spec):
    text = report.render_json(build(ROOT / "specs" / f"{spec}.yaml"))
    assert text == json.dumps(json.loads(text), indent=2)


def test_what_json_cannot_encode_is_refused_alike():
    for value in ({1, 2}, object(), {(1, 2): 3}):
        with pytest.raises(TypeError):
            json.dumps(value, indent=2)
        with pytest.raises(TypeError):
            dumps(value)
    assert dumps([math.inf, -math.inf, math.nan]) == json.dumps([math.inf, -math.inf, math.nan], indent=2)
