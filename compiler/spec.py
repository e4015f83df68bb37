"""The spec document's records (compiler/records.py: pydantic's declarations, validated
without pydantic when plainly valid) and the mapping of pydantic's errors to YAML lines.

A layer is a one-key mapping `- name: body`. The body is an op's name, a mapping with `op:`
(validated by that op's attribute model: a discriminated union built from the registry),
or a mapping with `block:` (a call of a reusable block). Any attribute may be written as a
`$param` / `${expression}` string: those are checked after expansion, when their value is
known, against the same attribute model.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Annotated, Any, Callable, Literal, Union

from . import records
from .declarations import REQUIRED
from .records import (BeforeValidator, ConfigDict, Discriminator, Field, Invalid, Record, Tag, WrapValidator,
                      pydantic_model)

from .diagnostics import Diagnostic, did_you_mean
from .init_schemes import SCHEMES
from .ops import REGISTRY
from .source import span_of
from .symbolic import MULTIPLE_PATTERN

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=128)]
# a layer may also be named by a number, as torchvision names a Sequential's children (features.0)
LAYER_NAME_PATTERN = NAME_PATTERN + r"|^(0|[1-9][0-9]*)$"
LayerName = Annotated[str, Field(pattern=LAYER_NAME_PATTERN, max_length=128)]
# a layer's parameter, as its op names it: weight, or a submodule's, qkv.weight, out_proj.bias
ParamName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$", max_length=128)]


def _number_as_name(value: Any) -> Any:
    """`in: 0` names the layer `0`, which YAML reads as a number."""
    return str(value) if type(value) is int else value


_RefText = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.]*$|\$", max_length=1024)]
Ref = Annotated[_RefText, BeforeValidator(_number_as_name,
                                          json_schema_input_type=Union[_RefText, Annotated[int, Field(ge=0)]])]
Expr = Annotated[str, Field(pattern=r"\$", description="a $param or ${expression}")]
Symbol = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64, description="a symbolic dim such as N")]
Multiple = Annotated[str, Field(pattern=MULTIPLE_PATTERN, max_length=64,
                                description="a symbolic dim that is any multiple of a number, such as 16*h")]
COMMON_KEYS = ("op", "block", "in", "when", "repeat", "trainable", "share", "init", "doc")


def contains_expression(value: Any) -> bool:
    if isinstance(value, str):
        return "$" in value
    if isinstance(value, list):
        return any(contains_expression(v) for v in value)
    if isinstance(value, dict):
        return any(contains_expression(v) for v in value.values())
    return False


def _later_if_expression(value: Any, handler):
    """Values that hold an expression are checked after expansion, once evaluated."""
    return value if contains_expression(value) else handler(value)


def _deferred(annotation: Any) -> Any:
    # the schema offers both forms; validation sees only the annotation, so a wrong value
    # gets the annotation's error and none about the expression alternative
    return Annotated[annotation, WrapValidator(_later_if_expression,
                                               json_schema_input_type=Union[annotation, Expr])]


Scheme = Literal[tuple(SCHEMES)]


class InitScheme(Record):
    """An init scheme with arguments: {scheme: normal, std: 0.01}."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
    scheme: Scheme = Field(description="the scheme: " + ", ".join(SCHEMES))
    mean: float = Field(0.0, description="normal: the mean")
    std: float = Field(1.0, description="normal: the standard deviation")
    low: float = Field(-1.0, description="uniform: the lower bound")
    high: float = Field(1.0, description="uniform: the upper bound")
    gain: float = Field(1.0, description="xavier, xavier_normal, kaiming: the gain multiplying the scale")


# a scheme's name, a constant, literal values (nested lists), or a scheme with arguments
InitValue = Union[Scheme, float, list, InitScheme]
Init = Union[InitValue, dict[ParamName, InitValue]]


class LayerCommon(Record):
    """Keys every layer may carry, whatever its op."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)
    in_: Union[Ref, list[Ref], None] = Field(None, alias="in", description="input layer(s); default: the previous layer")
    when: _deferred(bool) = Field(True, description="false: the layer passes its input through and is left "
                                  "out (an optional layer, e.g. ${stride != 1})")
    repeat: _deferred(Annotated[int, Field(ge=1, le=10_000)]) | None = Field(
        None, description="stack n copies, named name.0 … name.(n−1), each reading the one before; `i` is the "
                          "copy's index in their expressions")
    trainable: _deferred(bool) = Field(True, description="false: the layer's parameters are frozen "
                                       "(requires_grad=False)")
    share: Ref | None = Field(None, description="use the parameters of this other layer")
    init: _deferred(Init) | None = Field(None, description="initial values: a scheme's name, a constant, nested "
                                         "lists of the values, {scheme: normal, std: 0.01}, or a mapping from "
                                         "parameter name to one of those; default: PyTorch's initialisation")
    doc: str | None = Field(None, description="what the layer is for, shown in reports")


class BlockCall(LayerCommon):
    """A call of a block: its parameters are the other keys."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    block: Ref = Field(description="the block called: a block of this file, or namespace.block of an import, "
                                   "or a $param naming one; the other keys are its parameters")
    inline: bool = Field(False, description="true: the block's layers join the caller's scope, named without the "
                                            "call's name in front (conv1, not body.conv1); the call's name still "
                                            "reads its output")


class ChosenOpLayer(LayerCommon):
    """A layer whose op a parameter chooses (`op: $norm`): its attributes are checked once the op is known."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    op: Expr = Field(description="a $param or ${expression} naming the op, e.g. a block's norm layer")


def _make_record(name: str, base: type, doc: str | None, module: str, build_pydantic: Callable | None = None,
                 **declared: tuple[Any, Any]) -> type:
    """A record class made at run time (as pydantic's create_model): fields name=(type,
    default or Field). build_pydantic(cls), if given, builds its pydantic model."""
    namespace = {"__annotations__": {k: t for k, (t, _) in declared.items()}, "__doc__": doc, "__module__": module,
                 **{k: d for k, (_, d) in declared.items() if d is not REQUIRED}}
    if build_pydantic is not None:
        namespace["_build_pydantic"] = staticmethod(build_pydantic)
    return type(name, (base,), namespace)


@functools.cache
def layer_model(op_name: str) -> type[Record]:
    """The record of a layer whose body has `op: op_name`: the common keys plus the op's
    attributes, each of which may also be an expression. Built on first use."""
    op = REGISTRY[op_name]
    fields = {name: (Annotated[(info.annotation, *info.metadata, _LATER_IF_EXPRESSION)], info.default)
              for name, info in records.fields(op.Attrs).items()}
    return _make_record(f"{type(op).__name__}Layer", LayerCommon, op.doc, __name__,
                        functools.partial(_layer_pydantic_model, op_name), op=(Literal[op_name], ...), **fields)


_LATER_IF_EXPRESSION = WrapValidator(_later_if_expression)


def _layer_pydantic_model(op_name: str, cls: type) -> type:
    """pydantic's model of a layer record, made as pydantic merges the op's fields: their
    metadata (validators, constraints) first, then the expression's wrap."""
    import pydantic

    op = REGISTRY[op_name]
    fields = {field: (records.to_pydantic(_deferred(info.annotation)), info)
              for field, info in pydantic_model(op.Attrs).model_fields.items()}
    return pydantic.create_model(cls.__name__, __base__=pydantic_model(LayerCommon), __doc__=op.doc,
                                 op=(Literal[op_name], ...), **fields)


def _shape_tag(body: Any) -> str | None:
    return "name" if isinstance(body, str) else "mapping" if isinstance(body, dict) else None


# Structure only: a mapping body is validated by its op's model (validate_layer) once
# expansion reaches it, so a build pays only for the ops it uses. The JSON Schema has the
# full discriminated union (json_schema).
LayerBody = Annotated[Union[Annotated[Union[Name, Expr], Tag("name")], Annotated[dict[str, Any], Tag("mapping")]],
                      Discriminator(_shape_tag)]
Layer = Annotated[dict[LayerName, LayerBody], Field(min_length=1, max_length=1)]
Shape = Annotated[list[Union[Annotated[int, Field(ge=1, le=2**40)], Symbol, Multiple, Expr]],
                  Field(min_length=1, max_length=8)]
Outputs = Union[Ref, list[Ref], None]


class BlockDef(Record):
    model_config = ConfigDict(extra="forbid")
    doc: str | None = Field(None, description="what the block is, shown in reports and diagrams")
    params: dict[Name, Any] = Field({}, description="name: default value, or a type (int, float, bool, str) if required")
    inputs: list[Name] = Field(["input"], min_length=1, description="the names its layers read its inputs by")
    layers: list[Layer] = Field(min_length=1, description="the block's layers, each `- name: body`, in order")
    outputs: Outputs = Field(None, description="the layer (or layers) the block returns; default: the last layer")


class Document(Record):
    """An nncompile spec: a network, a library of blocks, or both."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True,
                              json_schema_extra={"title": "nncompile spec"})
    name: Name | None = Field(None, description="the network's name; default: the file's name")
    doc: str | None = Field(None, description="what the network is, shown in reports")
    import_: dict[Name, str] = Field({}, alias="import", description="namespace: a block library's path relative to "
                                     "this file, or zoo:lib/NAME.yaml for one that ships with nncompile")
    params: dict[Name, Any] = Field({}, description="name: default value, read as $name or in ${…}; --set NAME=VALUE "
                                    "overrides one")
    inputs: dict[Name, Shape] = Field({}, description="name: shape, e.g. [N, 3, 224, 224]; N, H, … are symbolic "
                                      "sizes (the batch first)")
    layers: list[Layer] = Field([], description="the network's layers, each `- name: body`, in order")
    outputs: Outputs = Field(None, description="the layer (or layers) the network returns; default: the last layer")
    blocks: dict[Name, BlockDef] = Field({}, description="name: a reusable subgraph, called as {block: name, …}")


# --- pydantic errors -> located diagnostics -------------------------------------------

_HINTS = [
    (re.compile(r"^[\d\s.*/+()-]+$"), "write arithmetic as an expression: ${{{v}}}"),
]


def _walk(root: Any, loc: tuple) -> tuple[Any, Any, list]:
    """Follow a pydantic loc through the YAML data, skipping union tags; returns the
    container and key of the deepest value found, and the path of names walked."""
    container, key, node, path = None, None, root, []
    for part in loc:
        if isinstance(node, (dict, list)) and not isinstance(node, str):
            try:
                child = node[part]
            except (KeyError, IndexError, TypeError):
                continue  # a union tag or a model name, not a key in the YAML
            container, key, node = node, part, child
            path.append(part)
    return container, key, path


def _layer_of(path: list) -> str | None:
    for i, part in enumerate(path[:-1]):
        if part == "layers" and i + 2 < len(path) + 1 and isinstance(path[i + 1], int) and i + 2 < len(path):
            return path[i + 2]
    return None


def diagnostics_from(error: Invalid, root: Any, layer: str | None = None,
                     fields_near=None) -> list[Diagnostic]:
    """Located diagnostics for a pydantic error; root is the YAML the model validated,
    layer the name of the layer whose body that is (if it is one). fields_near(root, path)
    names the keys allowed beside an unknown key (default: a spec's), for 'did you mean'."""
    out = []
    for e in error.errors:
        if e["type"] == "string_pattern_mismatch" and e.get("ctx", {}).get("pattern") == r"\$":
            continue  # the expression alternative of a deferred field: the other branch's error says more
        container, key, path = _walk(root, e["loc"])
        kind, value = e["type"], e.get("input")
        field = str(path[-1]) if path else "document"
        in_layer = layer or _layer_of(path)
        where = f"layer '{in_layer}': " if in_layer and in_layer != field else ""
        span = span_of(container, key, of_key=kind == "extra_forbidden") if container is not None else getattr(root, "span", None)
        notes, code = [], "bad-attribute"
        if kind == "extra_forbidden":
            model_fields = (fields_near or _fields_near)(root, path)
            message = f"{where}unknown key '{field}'{did_you_mean(field, model_fields)}"
            code = "unknown-key"
        elif kind == "missing":
            message = f"{where}missing required key '{e['loc'][-1]}'"
            code = "missing-key"
        elif kind in ("too_long", "too_short") and len(path) >= 2 and path[-2] == "layers":
            message = "each item of `layers` is one layer, written `- name: body`"
            code = "layer-entry"
        elif kind == "string_pattern_mismatch" and "A-Za-z_" in str(e.get("ctx", {}).get("pattern", "")):
            message = f"{where}'{value}' is not a valid name: use letters, digits and _, not starting with a digit"
            if e["ctx"]["pattern"] == LAYER_NAME_PATTERN and value[:1] in "0123456789+-.":
                message = f"{where}'{value}' is not a valid name: a number names a layer written plainly, as 0, 1, 12"
            code = "bad-name"
        else:
            shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
            message = f"{where}{field}: {e['msg'][0].lower()}{e['msg'][1:]}, got {shown}"
            for pattern, hint in _HINTS:
                if isinstance(value, str) and pattern.match(value) and any(c in value for c in "*/+-"):
                    notes.append(hint.format(v=value))
        out.append(Diagnostic(message, span, notes=notes, code=code))
    return out


def _fields_near(root: Any, path: list) -> list[str]:
    """The keys allowed where an unknown key was found (for 'did you mean')."""
    container, _, _ = _walk(root, tuple(path[:-1]))
    body = container[path[-2]] if container is not None and len(path) >= 2 else root
    if isinstance(body, dict):
        if isinstance(body.get("op"), str) and body["op"] in REGISTRY:
            return list(records.fields(REGISTRY[body["op"]].Attrs)) + list(COMMON_KEYS)
        if "layers" in body or body is root:
            return list(records.fields(Document)) + ["import"]
    return list(COMMON_KEYS)


def json_schema() -> dict:
    """The JSON Schema of what a spec may say (for editors and check-jsonschema): every op's
    attributes as they are written (`kernel: 3` or `[3, 5]`), each also as an expression, the
    layer union discriminated by `op`, and a description, with its default, on every property."""
    from pydantic import Field, create_model

    name, expr, layer_name = (records.to_pydantic(t) for t in (Name, Expr, LayerName))
    ops = Annotated[Union[tuple(_written_layer(n) for n in sorted(REGISTRY))], Field(discriminator="op")]
    body = Union[ops, pydantic_model(ChosenOpLayer), pydantic_model(BlockCall), Annotated[Union[name, expr], Field(
        description="an op's name (relu) or a block's, without attributes, or a $param naming one")]]
    layer = Annotated[dict[layer_name, body], Field(min_length=1, max_length=1, description="one layer: `name: body`")]
    block_def, doc_model = pydantic_model(BlockDef), pydantic_model(Document)
    block = create_model("BlockDef", __base__=block_def, layers=(list[layer], block_def.model_fields["layers"]))
    document = create_model("Document", __base__=doc_model, layers=(list[layer], doc_model.model_fields["layers"]),
                            blocks=(dict[name, block], doc_model.model_fields["blocks"]))
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              **document.model_json_schema(by_alias=True, mode="validation")}
    _defaults_described(schema)
    return schema


def _written_layer(op_name: str) -> type:
    """A layer of one op as a user writes it: the common keys, `op`, and each attribute in the
    form its validator takes before conversion, or an expression."""
    from pydantic import Field, create_model

    op = REGISTRY[op_name]
    fields = {}
    for name, info in pydantic_model(op.Attrs).model_fields.items():
        written = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        description = info.description or _described_by_type(name, written)
        fields[name] = (written, Field(... if info.is_required() else info.default, description=description,
                                       json_schema_extra=_expressions_inside))
    summary = op.doc.split("\n\n")[0].replace("\n", " ")
    return create_model(f"{type(op).__name__}Layer", __base__=pydantic_model(LayerCommon), __doc__=op.doc,
                        op=(Literal[op_name], Field(description=f"{op_name}: {summary}")), **fields)


EXPRESSION = {"type": "string", "pattern": r"\$", "description": "a $param or ${expression}"}


def _expressions_inside(schema: dict) -> None:
    """An attribute's value, or any value inside it, may be an expression: a value that holds
    one is checked once evaluated (contains_expression), so [1, '${c // 2}'] is a shape."""
    kept = {key: schema.pop(key) for key in ("title", "description", "default") if key in schema}
    written = _or_expression(dict(schema))
    schema.clear()
    schema.update(written, **kept)


def _or_expression(node: dict) -> dict:
    branches = node["anyOf"] if list(node) == ["anyOf"] else [node]
    return {"anyOf": [_items_or_expressions(b) for b in branches if b != EXPRESSION] + [EXPRESSION]}


def _items_or_expressions(node: dict) -> dict:
    if node.get("type") != "array":
        return node
    node = dict(node)
    if "items" in node:
        node["items"] = _or_expression(node["items"])
    if "prefixItems" in node:
        node["prefixItems"] = [_or_expression(item) for item in node["prefixItems"]]
    return node


def _described_by_type(name: str, annotation: Any) -> str:
    """A description made from an attribute's name and type, for the attributes whose op file
    gives none."""
    from pydantic import TypeAdapter

    return f"{name.replace('_', ' ')}: {_kind(TypeAdapter(annotation).json_schema(mode='validation'))}"


def _kind(schema: dict) -> str:
    if "anyOf" in schema:
        return " or ".join(dict.fromkeys(_kind(s) for s in schema["anyOf"]))
    if "enum" in schema or "const" in schema:
        return "one of " + ", ".join(map(str, schema.get("enum", [schema.get("const")])))
    kind = {"integer": "a whole number", "number": "a number", "boolean": "true or false", "string": "text",
            "array": "a list", "null": "none", "object": "a mapping"}.get(schema.get("type"), "a value")
    return kind + (f" ≥ {schema['minimum']}" if "minimum" in schema else "")


def _defaults_described(schema: Any) -> None:
    """Hover help shows a description, not the `default` beside it: say the default there too."""
    if isinstance(schema, list):
        for item in schema:
            _defaults_described(item)
    elif isinstance(schema, dict):
        for prop in schema.get("properties", {}).values():
            if "default" in prop and prop["default"] not in (None, [], {}) and "default" not in prop.get("description", ""):
                prop["description"] = f"{prop.get('description', '')}; default: {json.dumps(prop['default'])}"
        for value in schema.values():
            _defaults_described(value)


def op_spelled(word: Any) -> str:
    """' (did you mean 'relu6'?)' when `word` is an op's name in other case or with other
    separators (`ReLU6`, `hard_swish`, `BatchNorm2d`), else '': a near miss in letters
    (`conv3d`, `relu7`) is another operation, and suggesting the nearest op would mislead."""
    def plain(text: str) -> str:
        return re.sub(r"[\s_-]", "", text).lower()

    same = [op for op in REGISTRY if isinstance(word, str) and plain(op) == plain(word)]
    return f" (did you mean '{same[0]}'?)" if same else ""


def validate_layer(body: dict, name: str) -> tuple[Record | None, list[Diagnostic]]:
    """Validate a layer's mapping body with its op's model, or as a block call (the walker
    keeps the verdict of a body that passed: a block's copies share their layers' bodies)."""
    op = body.get("op")
    if "block" in body:
        model = BlockCall
    elif op is None:
        return None, [Diagnostic(f"layer '{name}' needs `op:` (an op's name) or `block:` (a block's name)",
                                 getattr(body, "span", None), code="no-op")]
    elif not isinstance(op, str) or op not in REGISTRY:
        return None, [Diagnostic(f"layer '{name}': unknown op '{op}'{op_spelled(op)}",
                                 span_of(body, "op"), notes=["the ops are listed by `nncompile ops`"],
                                 code="unknown-op")]
    else:
        model = layer_model(op)
    try:
        return records.validate(model, body), []
    except Invalid as e:
        return None, diagnostics_from(e, body, layer=name)
