"""Declared records, validated without importing pydantic when the input is plainly valid.

A record is declared as a pydantic model is (annotations, `Field(...)`, validators in
`Annotated`, `model_config`), but creating the class costs nothing, and validating it runs a
small validator compiled from the declarations on first use. That validator accepts only what
it is sure of (the exact types pydantic's strict mode takes, every constraint checked) and
returns what pydantic would. Anything else goes to the pydantic model built from the same
declarations (`pydantic_model`, imported and built on first need), so every error and every
lax conversion is pydantic's own; pydantic is also the authority for the JSON Schema.
`build` and `check` of a valid spec thus never import pydantic (issue 16: it alone costs
more than the whole build).
"""

from __future__ import annotations

import copy
import functools
import operator
import re
import sys
import types
import typing
from typing import Annotated, Any, Callable, Literal, Union

from .declarations import (REQUIRED, BeforeValidator, ConfigDict, Discriminator, Field, FieldInfo, Marker, Tag,
                           WrapValidator, model_validator)

__all__ = ["BeforeValidator", "ConfigDict", "Discriminator", "Field", "Invalid", "Record", "Tag", "WrapValidator",
           "dump", "extra", "fields", "model_validator", "pydantic_model", "replace", "validate"]

_EXACT_INT = 2**53  # beyond it int → float may round, and pydantic's big ints are its own business


class Invalid(ValueError):
    """A record's input was refused: `errors` is pydantic's `errors(include_url=False)`."""

    def __init__(self, title: str, errors: list[dict]):
        super().__init__(f"{len(errors)} validation error(s) for {title}")
        self.title, self.errors = title, errors


# conversions made so far (an int as a float, a record from a mapping, a validator function's):
# a union member whose value needed none took it exactly, as pydantic's smart union ranks them
_conversions = [0]


class _Unsure(Exception):
    """The fast validator cannot vouch for a value: pydantic decides."""


# --- records ---------------------------------------------------------------------------

class Record:
    """Base of declared records: attribute access, equality as pydantic's models, hashable
    and immutable when frozen. Build one by validate(cls, data) or cls(**data)."""

    __slots__ = ("_extra", "__weakref__")

    def __init__(self, **data):
        validated = validate(type(self), data)
        object.__setattr__(self, "_extra", validated._extra)
        self.__dict__.update(validated.__dict__)

    def __setattr__(self, name: str, value: Any) -> None:
        if _config(type(self)).get("frozen"):
            raise TypeError(f"{type(self).__name__} is frozen")
        object.__setattr__(self, name, value)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__ and self._extra == other._extra

    def __hash__(self) -> int:
        if not _config(type(self)).get("frozen"):
            raise TypeError(f"unhashable record: {type(self).__name__} is not frozen")
        return hash((type(self), *self.__dict__.values()))

    def __reduce__(self):  # pickle and deepcopy without __setattr__, which a frozen record refuses
        return _new, (type(self), dict(self.__dict__), self._extra)

    def __repr__(self) -> str:
        items = {**self.__dict__, **(self._extra or {})}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in items.items())})"


def _config(cls: type) -> dict:
    """The class's model_config over its bases' (as pydantic merges them), made once."""
    merged = cls.__dict__.get("_record_config")
    if merged is None:
        merged = {}
        for klass in reversed(cls.__mro__):
            merged.update(klass.__dict__.get("model_config", {}))
        cls._record_config = merged
    return merged


def _new(cls: type, values: dict, extra: dict | None) -> Record:
    record = object.__new__(cls)
    object.__setattr__(record, "_extra", extra)
    record.__dict__.update(values)
    return record


def fields(cls: type) -> dict[str, FieldInfo]:
    """The record's fields, the inherited first, as pydantic's model_fields lists them: its base's
    (records inherit singly), not evaluated again for each op's layer record as get_type_hints would."""
    found = cls.__dict__.get("_record_fields")
    if found is None:
        found = {} if cls is Record else dict(fields(cls.__base__))
        module, names = vars(sys.modules[cls.__module__]), dict(vars(cls))  # read as get_type_hints reads them
        for name, hint in cls.__dict__.get("__annotations__", {}).items():
            hint = eval(hint, names, module) if isinstance(hint, str) else hint  # noqa: S307 (the class's own source)
            if not name.startswith("_") and typing.get_origin(hint) is not typing.ClassVar:
                found[name] = _field(type(None) if hint is None else hint, cls.__dict__.get(name, REQUIRED))
        cls._record_fields = found
    return found


def _field(hint: Any, declared: Any) -> FieldInfo:
    """The declaration with its type split as pydantic splits it: the type, and the
    Annotated metadata (validators, constraints) in order, the default's constraints last."""
    info = declared if isinstance(declared, FieldInfo) else FieldInfo(declared)
    info = FieldInfo(info.default, **info.kwargs)
    metadata = []
    if typing.get_origin(hint) is Annotated:
        hint, *metadata = typing.get_args(hint)
    for item in metadata:
        if isinstance(item, FieldInfo) and item.description and "description" not in info.kwargs:
            info.kwargs["description"] = item.description
    info.annotation, info.metadata = hint, metadata + ([FieldInfo(**info.constraints())] if info.constraints() else [])
    return info


def extra(record: Record) -> dict:
    """The keys an extra="allow" record was given beyond its fields."""
    return dict(record._extra or {})


def replace(record: Record, **update) -> Record:
    """A copy with some fields changed, not validated (as pydantic's model_copy(update=…))."""
    return _new(type(record), {**record.__dict__, **update}, record._extra)


def dump(record: Record) -> dict:
    """The fields as a dict, nested records as dicts (as pydantic's model_dump())."""
    def plain(value):
        if isinstance(value, Record):
            return dump(value)
        if isinstance(value, (list, tuple)):
            return type(value)(map(plain, value))
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value
    return {name: plain(value) for name, value in record.__dict__.items()} | dict(record._extra or {})


# --- validation --------------------------------------------------------------------------

def validate(cls: type, data: Any) -> Record:
    """The record for data, exactly as pydantic would make it; raises Invalid."""
    check = cls.__dict__.get("_record_check") or _compile_record(cls)
    try:
        return check(data)
    except Exception:  # noqa: BLE001 (anything unsure, a validator's own error included: pydantic decides)
        return _by_pydantic(cls, data)


def _by_pydantic(cls: type, data: Any) -> Record:
    import pydantic

    model = pydantic_model(cls)
    try:
        return _as_records(model.model_validate(data))
    except pydantic.ValidationError as e:
        raise Invalid(cls.__name__, e.errors(include_url=False)) from None


def _as_records(value: Any) -> Any:
    """pydantic's result with each model instance as its record (other values as they are)."""
    record = getattr(type(value), "__record__", None)
    if record is not None:
        values = {k: _as_records(v) for k, v in value.__dict__.items()}
        return _new(record, values, dict(value.__pydantic_extra__) if value.__pydantic_extra__ is not None else None)
    if type(value) in (list, tuple):
        items = [_as_records(v) for v in value]
        return value if all(a is b for a, b in zip(items, value)) else type(value)(items)
    if type(value) is dict:
        items = {k: _as_records(v) for k, v in value.items()}
        return value if all(items[k] is v for k, v in value.items()) else items
    return value


def _compile_record(cls: type) -> Callable[[Any], Record]:
    """The record's fast validator: a pass over the keys given (a layer names two or three
    of its op's fifteen fields), then the defaults of the others, in the fields' order."""
    config = _config(cls)
    by_alias = config.get("populate_by_name", False)
    by_key, template, mutable, required = {}, {}, [], set()
    for name, info in fields(cls).items():
        validator = _compile(Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation)
        for key in (info.alias, name) if info.alias and by_alias else (info.alias or name,):
            by_key[key] = (name, validator)
        template[name] = info.default
        if info.is_required():
            required.add(name)
        elif not isinstance(info.default, (str, int, float, bool, tuple, type(None))):
            mutable.append(name)  # pydantic copies a list or dict default for each instance
    extra_allowed = config.get("extra") == "allow"
    after = [f for klass in reversed(cls.__mro__) for f in klass.__dict__.values() if getattr(f, "record_after", 0)]

    def check(data: Any) -> Record:
        if not isinstance(data, dict):
            raise _Unsure
        values, given, extras = template.copy(), set(), {}
        for key, value in data.items():
            field = by_key.get(key)
            if field is None:
                if type(key) is not str or not extra_allowed:
                    raise _Unsure
                extras[key] = value
            elif field[0] in given:  # both the alias and the name
                raise _Unsure
            else:
                given.add(field[0])
                values[field[0]] = field[1](value)
        if not required <= given:
            raise _Unsure
        for name in mutable:
            if name not in given:
                values[name] = copy.deepcopy(values[name])
        record = _new(cls, values, extras if extra_allowed else None)
        for func in after:
            func(record)
        _conversions[0] += 1
        return record

    cls._record_check = check
    return check


def _compile(hint: Any) -> Callable[[Any], Any]:
    """The fast validator of a type: returns the value as pydantic would, or raises _Unsure."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return lambda v: v
    if hint is None or hint is type(None):
        return _exact(lambda v: v is None)
    if hint is bool or hint is str:
        return _exact_type(hint)
    if hint is int:
        return _exact(lambda v: type(v) is int and -_EXACT_INT < v < _EXACT_INT)
    if hint is float:
        def as_float(v):
            if type(v) is float:
                return v
            if type(v) is int and -_EXACT_INT < v < _EXACT_INT:
                _conversions[0] += 1
                return float(v)
            raise _Unsure
        return as_float
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.__dict__.get("_record_check") or _compile_record(hint)
    if origin is Literal:
        allowed = {(type(a), a) for a in args}
        kinds = {type(a) for a in args}
        return _exact(lambda v: type(v) in kinds and (type(v), v) in allowed)
    if origin is Annotated:
        return _annotated(args[0], args[1:])
    if origin in (Union, types.UnionType):
        return _union([_compile(a) for a in args])
    if hint is list or origin is list:
        return _list(_compile(args[0]) if args else (lambda v: v))
    if origin is tuple:
        if len(args) == 2 and args[1] is ...:
            item = _compile(args[0])
            return lambda v: tuple(item(x) for x in v) if type(v) is tuple else _unsure_of(v)
        items = [_compile(a) for a in args]
        return lambda v: tuple(f(x) for f, x in zip(items, v)) if type(v) is tuple and len(v) == len(items) \
            else _unsure_of(v)
    if hint is dict or origin is dict:
        key, value = (_compile(args[0]), _compile(args[1])) if args else (lambda v: v, lambda v: v)
        return lambda v: {key(k): value(x) for k, x in v.items()} if isinstance(v, dict) else _unsure_of(v)
    raise TypeError(f"records cannot validate {hint!r}")


def _unsure_of(v: Any) -> Any:
    raise _Unsure


def _list(item: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def check(v):  # an item held more than once (a YAML alias is one object) is validated once
        if not isinstance(v, list):
            raise _Unsure
        if len(set(map(id, v))) == len(v):  # (no item twice: most lists, without the memo's cost)
            return [item(x) for x in v]
        done = {}
        return [done[i] if (i := id(x)) in done else done.setdefault(i, item(x)) for x in v]
    return check


def _converted(v: Any) -> Any:
    _conversions[0] += 1
    return v


def _exact_type(kind: type) -> Callable[[Any], Any]:
    def check(v):
        if type(v) is kind:
            return v
        raise _Unsure
    return check


def _exact(test: Callable[[Any], bool]) -> Callable[[Any], Any]:
    def check(v):
        if test(v):
            return v
        raise _Unsure
    return check


def _annotated(inner_hint: Any, metadata: tuple) -> Callable[[Any], Any]:
    """Each item of the metadata wraps what comes before it, as pydantic applies them."""
    tags = {}
    if typing.get_origin(inner_hint) in (Union, types.UnionType):
        for member in typing.get_args(inner_hint):
            tag = next((m for m in typing.get_args(member)[1:] if isinstance(m, Tag)), None)
            if tag is not None:
                tags[str(tag)] = _compile(member)
    validator = _compile(inner_hint)
    for item in metadata:
        if isinstance(item, FieldInfo):
            validator = _constrained(validator, item.constraints())
        elif isinstance(item, BeforeValidator):
            validator = (lambda inner, func: lambda v: inner(func(_converted(v))))(validator, item.func)
        elif isinstance(item, WrapValidator):
            validator = (lambda inner, func: lambda v: func(_converted(v), inner))(validator, item.func)
        elif isinstance(item, Discriminator):
            validator = (lambda func: lambda v: tags.get(func(v), _unsure_of)(v))(item.func)
        elif not isinstance(item, Tag):
            raise TypeError(f"records do not know the annotation {item!r}")
    return validator


def _constrained(inner: Callable, constraints: dict) -> Callable:
    """inner, then each constraint given, as a C-level test where there is one."""
    bounds = {"ge": operator.le, "gt": operator.lt, "le": operator.ge, "lt": operator.gt}  # bound OP value
    tests = [functools.partial(bounds[key], constraints[key]) for key in bounds if key in constraints]
    shortest, longest = constraints.get("min_length"), constraints.get("max_length")
    # pydantic's regex engine reads `$` as the very end, Python's also before a last newline
    search = re.compile(constraints["pattern"]).search if "pattern" in constraints else None
    if not tests and shortest is None and longest is None and search is None:
        return inner

    def check(v):  # (the lengths and the pattern tested here: a call each cost more than the tests)
        v = inner(v)
        for test in tests:
            if not test(v):
                raise _Unsure
        if (shortest is not None and len(v) < shortest or longest is not None and len(v) > longest
                or search is not None and ("\n" in v or search(v) is None)):
            raise _Unsure
        return v
    return check


def _union(members: list[Callable]) -> Callable:
    """pydantic's smart union where it is plain: the first member that takes the value
    exactly (with no conversion) wins; else it is sure only if one member takes it at all."""
    def check(v):
        taken, before = [], _conversions[0]
        for member in members:
            _conversions[0] = before
            try:
                result = member(v)
            except _Unsure:
                continue
            if _conversions[0] == before:
                return result
            taken.append((result, _conversions[0]))
        if len(taken) != 1:
            raise _Unsure
        result, _conversions[0] = taken[0]  # as if only the chosen member had run
        return result
    return check


# --- the pydantic models -----------------------------------------------------------------

def pydantic_model(cls: type) -> type:
    """The pydantic model declared by a record class (built once, on first need)."""
    model = cls.__dict__.get("_pydantic")
    if model is None:
        build = cls.__dict__.get("_build_pydantic")
        model = build.__func__(cls) if isinstance(build, staticmethod) else build(cls) if build else _declared(cls)
        model.__record__ = cls
        cls._pydantic = model
    return model


def _declared(cls: type) -> type:
    """The model a class statement with these declarations would make, under pydantic."""
    import pydantic

    parent = next(klass for klass in cls.__mro__[1:] if issubclass(klass, Record))
    base = pydantic.BaseModel if parent is Record else pydantic_model(parent)
    hints = typing.get_type_hints(cls, include_extras=True)
    namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__,
                 "__annotations__": {}}
    for name in cls.__dict__.get("__annotations__", {}):
        namespace["__annotations__"][name] = to_pydantic(hints[name])
        if name in cls.__dict__:
            namespace[name] = to_pydantic(cls.__dict__[name])
    if "model_config" in cls.__dict__:
        namespace["model_config"] = pydantic.ConfigDict(**cls.model_config)
    for name, func in cls.__dict__.items():
        if getattr(func, "record_after", False):
            namespace[name] = pydantic.model_validator(mode="after")(func)
    return type(base)(cls.__name__, (base,), namespace)


def to_pydantic(value: Any) -> Any:
    """A type, default or marker in pydantic's terms: each record as its model, each of
    this module's markers as pydantic's."""
    import pydantic

    if isinstance(value, FieldInfo):
        return pydantic.Field(value.default, **value.kwargs)
    if isinstance(value, Tag):
        return pydantic.Tag(str(value))
    if isinstance(value, Discriminator):
        return pydantic.Discriminator(value.func)
    if isinstance(value, Marker):
        given = {} if value.json_schema_input_type is None else \
            {"json_schema_input_type": to_pydantic(value.json_schema_input_type)}
        return getattr(pydantic, value.pydantic_name)(value.func, **given)
    if isinstance(value, type) and issubclass(value, Record):
        return pydantic_model(value)
    origin, args = typing.get_origin(value), typing.get_args(value)
    if origin is Annotated:
        return Annotated[(to_pydantic(args[0]), *map(to_pydantic, args[1:]))]
    if origin in (Union, types.UnionType):
        return Union[tuple(map(to_pydantic, args))]
    if origin in (list, tuple, dict) and args:
        return origin[tuple(a if a is ... else to_pydantic(a) for a in args)]
    return value
