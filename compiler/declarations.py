"""What a record is declared with, spelled as pydantic spells it: `Field(...)`, the validator
markers used inside `Annotated`, `model_config = ConfigDict(...)` and model_validator
(compiler/records.py validates records and builds their pydantic models from these)."""

from __future__ import annotations

from typing import Any, Callable

REQUIRED = ...  # as pydantic: Field(...) or no default
CONSTRAINTS = ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern")
ConfigDict = dict  # model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class FieldInfo:
    """A field's declaration: its default, and what pydantic's Field(...) was given."""

    __slots__ = ("default", "kwargs", "annotation", "metadata")

    def __init__(self, default: Any = REQUIRED, **kwargs):
        self.default, self.kwargs = default, kwargs
        self.annotation, self.metadata = None, []  # set for a record's field (fields())

    @property
    def description(self) -> str | None:
        return self.kwargs.get("description")

    @property
    def alias(self) -> str | None:
        return self.kwargs.get("alias")

    def is_required(self) -> bool:
        return self.default is REQUIRED

    def constraints(self) -> dict:
        return {key: self.kwargs[key] for key in CONSTRAINTS if self.kwargs.get(key) is not None}


def Field(default: Any = REQUIRED, **kwargs) -> Any:  # noqa: N802 (pydantic's spelling)
    unknown = set(kwargs) - {*CONSTRAINTS, "description", "alias", "json_schema_extra"}
    if unknown:
        raise TypeError(f"Field() does not take {sorted(unknown)}")
    return FieldInfo(default, **kwargs)


class Marker:
    """pydantic's validator markers, by the same names: translated when its model is built."""

    __slots__ = ("func", "json_schema_input_type")
    pydantic_name = ""

    def __init__(self, func: Callable, json_schema_input_type: Any = None):
        self.func, self.json_schema_input_type = func, json_schema_input_type


class BeforeValidator(Marker):
    pydantic_name = "BeforeValidator"


class WrapValidator(Marker):
    pydantic_name = "WrapValidator"


class Discriminator(Marker):
    pydantic_name = "Discriminator"


class Tag(str):
    """A union member's tag, Annotated[X, Tag("name")]."""


def model_validator(*, mode: str) -> Callable:
    """A check of the whole record once its fields are valid (only mode="after")."""
    if mode != "after":
        raise ValueError("records take model_validator(mode='after') only")

    def mark(func):
        func.record_after = True
        return func
    return mark
