"""Records (compiler/records.py) against pydantic, the authority: over every registered op's
Attrs, every op's layer record and the spec's records, with values generated around their
declarations (bounds ±1, bool for int, int for float, list for tuple, patterns matched and
not, None, nested junk, extra and alias keys, YAML's own mapping and list types):
whenever the fast validator accepts, pydantic accepts with an equal result, value for value
and type for type; and validate() always has pydantic's outcome, its errors included."""

from __future__ import annotations

import copy
import math
import pickle
import re
import types
import typing
from typing import Annotated, Any, Literal, Union

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nncompile.compiler import records, spec
from nncompile.compiler.declarations import FieldInfo, Marker, Tag
from nncompile.compiler.ops import REGISTRY
from nncompile.compiler.source import YList, YMap

pydantic = pytest.importorskip("pydantic")

SPEC_RECORDS = [spec.InitScheme, spec.LayerCommon, spec.BlockCall, spec.ChosenOpLayer, spec.BlockDef, spec.Document]
RECORDS = SPEC_RECORDS + [op.Attrs for op in REGISTRY.values()] + [spec.layer_model(name) for name in REGISTRY]
JUNK = st.sampled_from([None, True, False, 0, -1, 1.5, "x", "$p", "", [], {}, [[]], {"a": {}}, (), float("nan")])


# --- values around a declaration ---------------------------------------------------------

def _numbers(constraints: dict, integer: bool) -> st.SearchStrategy:
    edges = [0, 1, -1, 2**40, 2**53, 2**63]
    for key in ("ge", "gt", "le", "lt"):
        if key in constraints:
            bound = constraints[key]
            edges += [bound - 1, bound, bound + 1, bound - 0.5, bound + 0.5]
    ints = [int(e) for e in edges]
    floats = [float(e) for e in edges] + [math.inf, -math.inf, math.nan]
    return st.sampled_from(ints if integer else floats) | st.sampled_from(floats if integer else ints) | \
        st.sampled_from([True, False, "1", "1.5"])


def _strings(constraints: dict) -> st.SearchStrategy:
    samples = ["a", "x_1", "0", "12", "01", "-1", "$p", "${a + 1}", "a.b", "a\n", "é", "a b", "", "1.5"]
    options = [st.sampled_from(samples), st.text(max_size=5)]
    if "pattern" in constraints:
        options.append(st.from_regex(constraints["pattern"]))
    longest = constraints.get("max_length")
    if longest:
        options.append(st.sampled_from(["a" * longest, "a" * (longest + 1)]))
    return st.one_of(options)


def _as_yaml(value: Any) -> Any:
    """The value as the YAML loader builds it (YMap, YList)."""
    if isinstance(value, dict):
        out = YMap({k: _as_yaml(v) for k, v in value.items()})
        out.span, out.key_spans, out.value_spans = None, {}, {}
        return out
    if isinstance(value, list):
        return YList(_as_yaml(v) for v in value)
    return value


def _sequences(item: st.SearchStrategy, constraints: dict, sizes: tuple[int, ...] = ()) -> st.SearchStrategy:
    lengths = {0, 1, 2, 3, 4, 5, *sizes}
    for key in ("min_length", "max_length"):
        if key in constraints:
            lengths |= {constraints[key] - 1, constraints[key], constraints[key] + 1}
    size = st.sampled_from(sorted(n for n in lengths if 0 <= n <= 9))
    lists = size.flatmap(lambda n: st.lists(item, min_size=n, max_size=n))
    return lists | lists.map(tuple) | lists.map(_as_yaml)


def _unannotated(hint: Any, constraints: dict | None) -> tuple[Any, dict]:
    """The type inside Annotated[...], with its constraints added to those given."""
    constraints = dict(constraints or {})
    if typing.get_origin(hint) is Annotated:
        hint, *metadata = typing.get_args(hint)
        for item in metadata:
            if isinstance(item, FieldInfo):
                constraints.update(item.constraints())
    return hint, constraints


def values(hint: Any, constraints: dict | None = None) -> st.SearchStrategy:
    """Values near what hint takes, and some far from it."""
    hint, constraints = _unannotated(hint, constraints)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return st.one_of([values(a, constraints) for a in args])
    if hint is bool:
        return st.sampled_from([True, False, 0, 1, "true", None])
    if hint in (int, float):
        return _numbers(constraints, hint is int)
    if hint is str:
        return _strings(constraints)
    if origin is Literal:
        return st.sampled_from([*args, *(str(a).upper() for a in args), None])
    if hint is Any:
        return JUNK | st.builds(_as_yaml, st.dictionaries(st.text(max_size=2), JUNK, max_size=2))
    if hint is list or origin in (list, tuple):
        item = values(args[0]) if args else JUNK
        return _sequences(item, constraints, (len(args),) if origin is tuple else ())
    if hint is dict or origin is dict:
        keys, items = (values(args[0]), values(args[1])) if args else (st.text(max_size=3), JUNK)
        mappings = st.dictionaries(keys, items, max_size=3)
        return mappings | mappings.map(_as_yaml)
    if isinstance(hint, type) and issubclass(hint, records.Record):
        return mappings_for(hint)
    return JUNK


def valid(hint: Any, constraints: dict | None = None) -> st.SearchStrategy:
    """Values hint takes as they are (or that look so: a pattern's match may end in a newline)."""
    hint, constraints = _unannotated(hint, constraints)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return st.one_of([valid(a, constraints) for a in args])
    if hint is int or hint is float:
        low = constraints.get("ge", constraints.get("gt", -(2**40)) + (1 if "gt" in constraints else 0))
        high = constraints.get("le", constraints.get("lt", 2**40) - (1 if "lt" in constraints else 0))
        ints = st.integers(math.ceil(low), math.floor(high))
        return ints if hint is int else ints | st.floats(low, high, allow_nan=False).filter(
            lambda v: v not in (constraints.get("gt"), constraints.get("lt")))
    if hint is str:
        text = st.from_regex(constraints["pattern"]) if "pattern" in constraints else st.text(max_size=6)
        return text.filter(lambda v: len(v) <= constraints.get("max_length", 10**9))
    if hint is bool or hint is None or hint is type(None):
        return st.booleans() if hint is bool else st.none()
    if origin is Literal:
        return st.sampled_from(args)
    if origin is tuple:
        return st.tuples(*map(valid, args))
    if hint is list or origin is list:
        low, high = constraints.get("min_length", 0), min(constraints.get("max_length", 4), 4)
        items = st.lists(valid(args[0]) if args else JUNK, min_size=low, max_size=max(low, high))
        return items | items.map(_as_yaml)
    if hint is dict or origin is dict:
        keys, items = (valid(args[0]), valid(args[1])) if args else (st.text(max_size=3), JUNK)
        return st.dictionaries(keys, items, min_size=constraints.get("min_length", 0),
                               max_size=constraints.get("max_length", 3))
    if isinstance(hint, type) and issubclass(hint, records.Record):
        return mappings_for(hint)
    return JUNK


def mappings_for(cls: type) -> st.SearchStrategy:
    """Mappings for a record: each field present or not (by name or alias), its value mostly
    a valid one, some near misses and junk; sometimes a junk key."""
    fields = records.fields(cls)

    def field_value(info: FieldInfo) -> st.SearchStrategy:
        hint = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        good = st.deferred(lambda: valid(hint))
        return st.one_of(good, good, good, st.deferred(lambda: values(hint)))

    keys = {}
    for name, info in fields.items():
        written = st.sampled_from([info.alias or name, name]) if info.alias else st.just(name)
        keys[name] = st.tuples(written, field_value(info))
    required = {k: v for k, v in keys.items() if fields[k].is_required()}
    optional = {k: v for k, v in keys.items() if not fields[k].is_required()}
    chosen = st.fixed_dictionaries(required, optional=optional).map(lambda found: dict(found.values()))
    some = st.fixed_dictionaries({}, optional=keys).map(lambda found: dict(found.values()))
    extras = st.dictionaries(st.sampled_from(["junk", "extra_key", "in", "op", "block"]), JUNK, max_size=1)
    both = st.tuples(st.one_of(chosen, chosen, some), st.one_of(st.just({}), st.just({}), extras)
                     ).map(lambda pair: {**pair[1], **pair[0]})
    return both | both.map(_as_yaml)


# --- equality, type for type -------------------------------------------------------------

def same(ours: Any, theirs: Any) -> bool:
    """Equal values of the same types all the way down; a record equals pydantic's instance
    of its model, field for field and extra for extra."""
    if isinstance(ours, records.Record):
        model = records.pydantic_model(type(ours))
        return (type(theirs) is model and ours.__dict__.keys() == theirs.__dict__.keys()
                and all(same(v, theirs.__dict__[k]) for k, v in ours.__dict__.items())
                and same(records.extra(ours) if theirs.__pydantic_extra__ is not None else None,
                         theirs.__pydantic_extra__))
    if type(ours) is not type(theirs):
        return False
    if isinstance(ours, (list, tuple)):
        return len(ours) == len(theirs) and all(same(a, b) for a, b in zip(ours, theirs))
    if isinstance(ours, dict):
        return ours.keys() == theirs.keys() and all(same(v, theirs[k]) for k, v in ours.items())
    if isinstance(ours, float) and math.isnan(ours):
        return math.isnan(theirs)
    return ours == theirs


def pydantic_outcome(cls: type, data: Any):
    try:
        return records.pydantic_model(cls).model_validate(data), None
    except pydantic.ValidationError as e:
        return None, e.errors(include_url=False)


def check_agrees(cls: type, data: Any) -> None:
    theirs, errors = pydantic_outcome(cls, data)
    try:
        fast = records._compile_record(cls)(data)
    except Exception:  # noqa: BLE001 (unsure: only validate's outcome is checked)
        fast = None
    if fast is not None:
        assert errors is None, f"the fast path accepted what pydantic refuses: {data!r} → {errors}"
        assert same(fast, theirs), f"{data!r}: fast {fast!r} ≠ pydantic {theirs!r}"
    try:
        ours, our_errors = records.validate(cls, data), None
    except records.Invalid as e:
        ours, our_errors = None, e.errors
    assert repr(our_errors) == repr(errors)
    if errors is None:
        assert same(ours, theirs), f"{data!r}: {ours!r} ≠ pydantic {theirs!r}"


ANY_RECORD = st.sampled_from(RECORDS).flatmap(lambda cls: st.tuples(st.just(cls), mappings_for(cls)))
SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@SETTINGS
@given(ANY_RECORD)
def test_records_agree_with_pydantic(case):
    check_agrees(*case)


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__name__)
def test_each_record_agrees_with_pydantic(cls):
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(mappings_for(cls))
    def agrees(data):
        check_agrees(cls, data)
    agrees()


def _without_fast_validators() -> None:
    for cls in RECORDS:
        cls.__dict__.get("_record_check") and delattr(cls, "_record_check")


def test_a_fast_path_that_skips_a_bound_is_caught(monkeypatch):
    """The property can fail: a fast validator that forgets `le` accepts what pydantic refuses."""
    real = records._constrained
    monkeypatch.setattr(records, "_constrained",
                        lambda inner, constraints: real(inner, {k: v for k, v in constraints.items() if k != "le"}))
    _without_fast_validators()
    try:
        cls = REGISTRY["dropout"].Attrs  # p: 0 ≤ p ≤ 1
        with pytest.raises(AssertionError, match="accepted what pydantic refuses"):
            SETTINGS(given(mappings_for(cls))(lambda data: check_agrees(cls, data)))()
    finally:
        monkeypatch.undo()
        _without_fast_validators()


def test_the_fast_path_takes_what_specs_write():
    """Plain valid input never needs pydantic (else `build` would import it)."""
    conv = REGISTRY["conv2d"].Attrs
    fast = records._compile_record(conv)
    made = fast(_as_yaml({"out_channels": 64, "kernel": [3, 3], "stride": 2, "padding": "same"}))
    assert (made.kernel, made.stride, made.padding, made.bias) == ((3, 3), (2, 2), "same", True)
    layer = records._compile_record(spec.layer_model("linear"))
    made = layer(_as_yaml({"op": "linear", "out_features": "$n", "in": "x", "init": {"weight": {"scheme": "normal"}}}))
    assert made.out_features == "$n" and made.in_ == "x" and type(made.init["weight"]) is spec.InitScheme


def test_records_behave_as_frozen_models():
    conv = REGISTRY["conv2d"].Attrs
    a = records.validate(conv, {"out_channels": 8, "kernel": 3})
    assert a == records.validate(conv, {"out_channels": 8, "kernel": [3, 3]}) and hash(a) == hash(conv(out_channels=8,
                                                                                                         kernel=3))
    with pytest.raises(TypeError):
        a.groups = 2
    b = records.replace(a, groups=2)
    assert (b.groups, a.groups, b != a) == (2, 1, True)
    assert records.dump(a) == pydantic_outcome(conv, {"out_channels": 8, "kernel": 3})[0].model_dump()
    assert repr(a) == repr(pydantic_outcome(conv, {"out_channels": 8, "kernel": 3})[0])
    call = records.validate(spec.BlockCall, {"block": "b", "width": 4})
    assert records.extra(call) == {"width": 4}
    assert pickle.loads(pickle.dumps(a)) == a == copy.deepcopy(a) and records.extra(copy.deepcopy(call)) == {"width": 4}


def test_markers_are_pydantics_by_name():
    assert {cls.__name__ for cls in Marker.__subclasses__()} | {Tag.__name__} <= set(dir(pydantic))


def test_an_item_given_twice_is_validated_once(monkeypatch):
    """A list that holds one object several times (YAML aliases of one layer) validates it
    once, with pydantic's result and errors whether the item is valid or not."""
    conv, relu = _as_yaml({"conv": {"op": "conv2d", "out_channels": 8, "kernel": 3}}), _as_yaml({"act": "relu"})
    wrong = _as_yaml({"1x": "relu"})
    discriminator = next(m for m in typing.get_args(spec.LayerBody)[1:] if isinstance(m, records.Discriminator))
    seen = []
    monkeypatch.setattr(discriminator, "func", lambda body, tag=discriminator.func: seen.append(body) or tag(body))
    _without_fast_validators()
    try:
        for layers in ([conv, relu, conv, conv], [conv, wrong, wrong], [3, conv, 3]):
            doc = _as_yaml({"inputs": {"x": ["N", 3, 8, 8]}})
            doc["layers"] = YList(layers)
            seen.clear()
            check_agrees(spec.Document, doc)
        doc["layers"] = YList([conv] * 5 + [relu])
        seen.clear()
        assert len(records.validate(spec.Document, doc).layers) == 6 and seen == [conv["conv"], relu["act"]]
    finally:
        monkeypatch.undo()
        _without_fast_validators()


class _Shape(records.Record):
    size: int | None = None
    nothing: None = None
    _hidden: int = 0
    kind: typing.ClassVar[str] = "shape"


class _Box(_Shape):
    size: int = 1  # the narrower declaration wins, in the base's place
    unit: Literal["px", "mm"] = "px"


def _plain(hint: Any) -> str:
    """The hint's text without object addresses (a validator marker is made for each evaluation)."""
    return re.sub(r" at 0x[0-9a-f]+", "", repr(hint))


@pytest.mark.parametrize("cls", RECORDS + [_Box], ids=lambda cls: cls.__name__)
def test_fields_read_annotations_as_typing_does(cls):
    """Each class's own annotations are evaluated once (not again for each subclass), to what
    typing.get_type_hints makes of the whole class."""
    hints = {name: typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint
             for name, hint in typing.get_type_hints(cls, include_extras=True).items()
             if not name.startswith("_") and typing.get_origin(hint) is not typing.ClassVar}
    assert {name: _plain(info.annotation) for name, info in records.fields(cls).items()} == \
        {name: _plain(hint) for name, hint in hints.items()}
    assert list(records.fields(cls)) == list(hints)


def test_layer_records_share_the_common_keys():
    """A layer record of each op uses the common keys' declarations, not its own copies."""
    common, relu, linear = (records.fields(cls) for cls in (spec.LayerCommon, spec.layer_model("relu"),
                                                            spec.layer_model("linear")))
    assert all(relu[name] is linear[name] is info for name, info in common.items())
    assert records.fields(_Box)["size"].default == 1 and records.fields(_Box)["nothing"].annotation is type(None)
