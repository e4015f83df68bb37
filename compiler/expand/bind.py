"""Stage 2, binding: values for names. The spec's params (their defaults, or `--set`), its
inputs' shapes, and a block call's arguments over the block's defaults. Every expression is
evaluated here or by the walker through `evaluate`, which reports a bad one at its span."""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

from .. import expr, symbolic
from ..diagnostics import SpecError, did_you_mean
from ..ir import TensorType
from ..records import extra
from ..source import YMap, load_text, span_of
from ..spec import BlockCall, Document
from .load import BlockEntry
from .problems import Problems

TYPE_NAMES = {"int": int, "float": (int, float), "bool": bool, "str": str, "list": list}


class UsageError(Exception):
    """A mistake in how the command was called (exit 2), not in the spec."""


def evaluate(problems: Problems, value: Any, env: Mapping[str, Any], at: tuple[Any, Any]) -> tuple[Any, bool]:
    """Evaluate the expressions inside value; (result, ok). A bad one is reported at
    `at`, the (container, key) the value was read from."""
    try:
        return _evaluate_deep(value, env), True
    except expr.ExprError as e:
        problems.error(str(e), span_of(*at), "bad-expression")
        return None, False


def _evaluate_deep(value: Any, env: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return expr.evaluate(value, env)
    if isinstance(value, list):
        return [_evaluate_deep(v, env) for v in value]
    if isinstance(value, dict):
        return {k: _evaluate_deep(v, env) for k, v in value.items()}
    return value


def spec_params(doc: Document, raw: YMap, overrides: dict[str, str], problems: Problems) -> dict[str, Any]:
    """The spec's params: `--set` values (raising UsageError for a wrong one) over the defaults."""
    unknown = set(overrides) - set(doc.params)
    if unknown:
        name = sorted(unknown)[0]
        known = ", ".join(doc.params) or "none"
        raise UsageError(f"--set {name}: the spec has no parameter '{name}'{did_you_mean(name, doc.params)}; "
                         f"its parameters: {known}")
    env: dict[str, Any] = {}
    for name, default in doc.params.items():
        if name in overrides:
            env[name] = _override(name, overrides[name], default)
        else:
            env[name], _ = evaluate(problems, default, env, (raw.get("params"), name))
    return env


def _override(name: str, text: str, default: Any) -> Any:
    try:  # parsed as spec text is: deep nesting, tags and alias bombs are refused
        value = load_text(text, f"--set {name}")
    except SpecError:
        value = text
    if not _same_kind(value, default):
        text = text if len(text) <= 40 else text[:40] + "…"
        raise UsageError(f"--set {name}={text}: expected {type(default).__name__} like its default {default!r}")
    return value


def spec_inputs(doc: Document, raw: YMap, env: dict[str, Any], problems: Problems) -> dict[str, TensorType | None]:
    """Each input's type from its shape (`[N, 3, $height, $width]`); None where it is bad (reported)."""
    types = {}
    for name, shape in doc.inputs.items():
        shape, ok = evaluate(problems, shape, env, (raw["inputs"], name))
        if ok and not all(_is_dim(d) for d in shape):
            problems.error(f"input '{name}': every dim must be a positive integer or a symbol, got {shape}",
                           span_of(raw["inputs"], name), "bad-shape")
            ok = False
        # a symbol (H) or a multiple of one (16*h) becomes its closed form, which layers follow
        types[name] = TensorType(tuple(symbolic.parse(d) if isinstance(d, str) else d for d in shape)) if ok else None
    return types


class Call(NamedTuple):
    """A block call being bound: the calling layer's name, its body (validated and raw), the block."""

    name: str
    model: BlockCall
    body: YMap
    entry: BlockEntry


def block_params(problems: Problems, call: Call, env: Mapping[str, Any],
                 block_env: dict[str, Any]) -> dict[str, Any] | None:
    """A block's parameter values, the call's arguments over the block's defaults, added to
    block_env (which may already hold names the defaults can read); None if any is bad."""
    declared = call.entry.definition.params
    given = extra(call.model)
    ok = True
    for key in given:
        if key not in declared:
            problems.error(f"layer '{call.name}': block '{call.model.block}' has no parameter '{key}'"
                           f"{did_you_mean(key, declared)}", span_of(call.body, key, of_key=True), "unknown-param",
                           [f"its parameters: {', '.join(declared) or 'none'}"])
            ok = False
    for key, default in declared.items():
        required = isinstance(default, str) and default in TYPE_NAMES
        if key in given:
            value, good = evaluate(problems, given[key], env, (call.body, key))
            ok &= good
            if good and required and not _is_type(value, default):
                problems.error(f"layer '{call.name}': parameter '{key}' of block '{call.model.block}' must be "
                               f"{default}, got {value!r}", span_of(call.body, key), "bad-param")
                ok = False
        elif required:
            problems.error(f"layer '{call.name}': block '{call.model.block}' needs parameter '{key}' ({default})",
                           span_of(call.body, "block"), "missing-param")
            ok = False
            continue
        else:
            value, good = evaluate(problems, default, block_env, (call.entry.raw.get("params"), key))
            ok &= good
        block_env[key] = value
    return block_env if ok else None


def _same_kind(value: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and (isinstance(value, int) or not isinstance(default, int))
    return True


def _is_dim(value: Any) -> bool:
    if isinstance(value, str):
        return symbolic.parse(value) is not None
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_type(value: Any, type_name: str) -> bool:
    if type_name in ("int", "float") and isinstance(value, bool):
        return False
    return isinstance(value, TYPE_NAMES[type_name])
