"""Budgets before work: how many layers a spec will expand to, counted from its repeat
products and block sizes before anything is expanded, so that a 300-byte spec repeating a
block 100 × 100 × 100 times is refused at once, at the repeat that overflows, instead of
after building a quarter of a million nodes.

The count is the walker's work: a node per op output (a chunk's parts), a block instance
as its layers, a `repeat:` as its copies, and a layer that `when:` switches off, or that
the walker will refuse, as one (the walker still visits it, so every copy costs at least
one). Values are evaluated as the walker evaluates them. What reads an input's shape is
only known while walking: such a `when:` counts as true, such a `repeat:` as one copy (the
walker's own bound then still holds). A block's size is remembered by the values of the
parameters it depends on, so counting costs about the spec's written size, not the size
it expands to.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from ..diagnostics import Diagnostic, SpecError, Span
from ..ops import REGISTRY
from ..ops.base import Op
from ..records import Invalid, fields, validate
from ..source import YList, YMap, span_of
from ..spec import BlockCall, Document
from .bind import TYPE_NAMES, evaluate
from .load import BlockEntry, Namespace
from .problems import Problems
from .walk import MAX_BLOCK_DEPTH

_UNKNOWN = object()  # a value that reads an input's shape: known only while walking
_INVALID = object()  # a value the walker will refuse (and report)
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_CALL_KEYS = frozenset(field.alias or name for name, field in fields(BlockCall).items())
_COUNTED_KEYS = ("op", "block", "repeat", "when")  # what decides how many nodes a layer makes


class Size(NamedTuple):  # (NamedTuples: a frozen dataclass costs seven times more to declare, at every start)
    """A number of layers, and the factors it is the product of, each with where it comes
    from (shown when it overflows): `100 × 100 × 100 = 1,000,000`."""

    total: int
    factors: tuple[tuple[int, str], ...] = ()
    guessed: int = 0  # how many of them only a `when:` that reads a shape may switch off

    def product(self) -> str:
        if len(self.factors) < 2:
            return f"{self.total:,}"
        return " × ".join(f"{factor:,}" for factor, _ in self.factors) + f" = {self.total:,}"

    def as_factors(self, origin: str) -> tuple[tuple[int, str], ...]:
        """The factors, or the total as one factor from origin."""
        return self.factors or (((self.total, origin),) if self.total > 1 else ())


ONE = Size(1)


class _Overflow(Exception):
    """The count passed the limit: the diagnostic, and the block calls it happened inside."""

    def __init__(self, message: str, span: Span | None, notes: list[str]):
        super().__init__(message)
        self.message, self.span, self.notes, self.calls = message, span, notes, []

    def diagnostic(self) -> Diagnostic:
        return Diagnostic(self.message, self.span, notes=self.notes + self.calls, code="too-large")


class _Scope(NamedTuple):
    """Where a list of layers is counted: the values its expressions see, the names whose
    values are unknown until walking, its namespace and the blocks being counted."""

    env: dict[str, Any]
    unknown: frozenset[str]
    namespace: Namespace
    calls: tuple[str, ...] = ()
    where: str = "the network"


def check_budget(doc: Document, raw: YMap, namespace: Namespace, env: dict[str, Any], inputs: int,
                 limit: int, problems: Problems) -> Size:
    """The spec's size (its inputs and its layers); raises SpecError (too-large) when it
    is over limit, pointing at the repeat or layer that passes it."""
    try:
        return Budget(limit).network(raw["layers"], _Scope(env, frozenset(), namespace), inputs)
    except _Overflow as overflow:
        raise SpecError(problems + [overflow.diagnostic()]) from None


class Budget:
    """Counts a spec's layers, raising _Overflow where a count first passes the limit."""

    def __init__(self, limit: int):
        self.limit = limit
        self.sizes: dict[tuple, Size] = {}  # (block, the values its size depends on) -> its size
        self.depends: dict[str, frozenset[str]] = {}  # block -> the parameters its size may depend on
        self.by_index: dict[int, bool] = {}  # id of a layer's body -> whether its copies may differ

    def network(self, raw_layers: YList, scope: _Scope, inputs: int) -> Size:
        size = self.layers(raw_layers, scope, start=inputs)
        return Size(size.total + inputs, guessed=size.guessed)

    def layers(self, raw_layers: YList, scope: _Scope, start: int = 0) -> Size:
        """The size of a list of layers (a later layer of a name already seen is not
        expanded: the walker reports it)."""
        total, sizes, done = start, [], set()
        for entry in raw_layers:
            name = next(iter(entry))
            if name in done:
                continue
            done.add(name)
            size = self.layer(name, entry, scope)
            total += size.total
            sizes.append(size)
            if total > self.limit:
                raise _Overflow(f"{scope.where} expands to more than {self.limit:,} layers: {total:,} by its "
                                f"layer '{name}', which expands to {size.product()}", entry.key_spans[name],
                                _notes(size))
        return sizes[0] if len(sizes) == 1 else Size(total - start, guessed=sum(s.guessed for s in sizes))

    def layer(self, name: str, entry: YMap, scope: _Scope) -> Size:
        body, site = entry[name], entry.key_spans[name]
        if not isinstance(body, YMap):  # `- relu1: relu`, `- b: basic`, `- bn: $norm`
            op = REGISTRY.get(body) if isinstance(body, str) else None
            if op is not None and type(op).outputs is Op.outputs:  # an op of one output, as most: one node
                return ONE
            return self.instance(name, site, {"op": body}, scope, scope.env)
        repeat = self.value(body.get("repeat"), scope.env, scope.unknown)
        if repeat is None or repeat is _UNKNOWN:
            return self.instance(name, site, body, scope, {**scope.env, "i": 0} if repeat is _UNKNOWN else scope.env)
        if not (isinstance(repeat, int) and not isinstance(repeat, bool) and 1 <= repeat <= 10_000):
            return ONE  # refused by the walker
        at = span_of(body, "repeat")
        inside = "" if scope.calls == () else f" in {scope.where}"
        origin = f"{repeat:,} copies of layer '{name}'{inside} ({at})"
        if not self.varies(body):  # every copy the same
            one = self.instance(name, site, body, scope, {**scope.env, "i": 0})
            size = Size(repeat * one.total, ((repeat, origin),) + one.as_factors(_made_by(name, at)),
                        repeat * one.guessed)
            if size.total > self.limit:
                raise _Overflow(f"layer '{name}' expands to {size.product()} layers (limit {self.limit:,})", at,
                                _notes(size))
            return size
        total = guessed = 0
        for k in range(repeat):
            copy = self.instance(name, site, body, scope, {**scope.env, "i": k})
            total, guessed = total + copy.total, guessed + copy.guessed
            if total > self.limit:
                raise _Overflow(f"layer '{name}' expands to more than {self.limit:,} layers: {total:,} in its "
                                f"first {k + 1:,} of {repeat:,} copies", at, [])
        return Size(total, guessed=guessed)

    def instance(self, name: str, site: Span, body: dict, scope: _Scope, env: dict[str, Any]) -> Size:
        """One copy of a layer: its op's outputs or its block's layers; one if switched off."""
        when = self.value(body.get("when", True), env, scope.unknown)
        if when is not True and when is not _UNKNOWN:
            return ONE  # switched off (or refused): the walker passes its input through
        size = self.present(name, site, body, scope, env)
        return size if when is True else Size(size.total, size.factors, size.total - 1)

    def present(self, name: str, site: Span, body: dict, scope: _Scope, env: dict[str, Any]) -> Size:
        if "block" in body:
            target = self.value(body["block"], env, scope.unknown)
            entry = scope.namespace.resolve(target) if isinstance(target, str) else None
            return self.call(name, site, body, entry, scope, env) if entry is not None else ONE
        op = self.value(body.get("op"), env, scope.unknown)
        if isinstance(op, str) and op not in REGISTRY:  # `- b: basic` names a block
            entry = scope.namespace.resolve(op)
            return self.call(name, site, {}, entry, scope, env) if entry is not None else ONE
        return self.outputs(REGISTRY[op], body, scope, env) if isinstance(op, str) else ONE

    def outputs(self, op: Op, body: dict, scope: _Scope, env: dict[str, Any]) -> Size:
        if type(op).outputs is Op.outputs:
            return ONE
        values = {key: self.value(body[key], env, scope.unknown) for key in fields(op.Attrs) if key in body}
        if any(v is _UNKNOWN or v is _INVALID for v in values.values()):
            return ONE
        try:
            return Size(max(1, op.outputs(validate(op.Attrs, values))))
        except Invalid:
            return ONE

    def call(self, name: str, site: Span, body: dict, entry: BlockEntry, scope: _Scope,
             env: dict[str, Any]) -> Size:
        """A block instance: its layers, counted with the call's parameter values."""
        if entry.qualname in scope.calls or len(scope.calls) >= MAX_BLOCK_DEPTH:
            return ONE  # recursion, or nesting too deep: the walker reports it
        refs = body.get("in")
        if (len(refs) if isinstance(refs, list) else 1) != len(entry.definition.inputs):
            return ONE
        bound = self.bind(entry, body, env, scope.unknown)
        if bound is None:
            return ONE
        block_env, unknown = bound
        key = (entry.qualname,) + tuple(_frozen(block_env.get(p, _UNKNOWN)) for p in self.depends_on(entry))
        try:
            hash(key)
        except TypeError:  # a value that is no key: counted anew
            key = None
        if key in self.sizes:
            return self.sizes[key]
        inner = _Scope(block_env, unknown, entry.namespace, scope.calls + (entry.qualname,),
                       f"block '{entry.qualname.rsplit(':', 1)[-1]}'")
        try:
            size = self.layers(entry.raw["layers"], inner)
        except _Overflow as overflow:
            overflow.calls.append(f"in {inner.where}, called by layer '{name}' ({site})")
            raise
        if not size.factors and size.total > 1:
            size = Size(size.total, ((size.total, f"{size.total:,} layers of {inner.where} ({entry.raw.span})"),),
                        size.guessed)
        if key is not None:
            self.sizes[key] = size
        return size

    def bind(self, entry: BlockEntry, body: dict, env: dict[str, Any],
             unknown: frozenset[str]) -> tuple[dict[str, Any], frozenset[str]] | None:
        """The block's parameter values, as bind.block_params makes them, and the names
        whose values wait for the walk (its inputs' shapes); None if the call is refused."""
        definition = entry.definition
        if any(key not in _CALL_KEYS and key not in definition.params for key in body):
            return None  # an unknown parameter
        block_env: dict[str, Any] = {}
        waiting = set(definition.inputs)
        for key, default in definition.params.items():
            if key in body and key not in _CALL_KEYS:
                value = self.value(body[key], env, unknown)
            elif isinstance(default, str) and default in TYPE_NAMES:
                return None  # a required parameter left out
            else:
                value = self.value(default, block_env, frozenset(waiting))
            if value is _INVALID:
                return None
            if value is _UNKNOWN:
                waiting.add(key)
            else:
                block_env[key] = value
        return block_env, frozenset(waiting)

    def varies(self, body: YMap) -> bool:
        """Whether the copies of a repeated layer may differ: its counted keys read `i`."""
        key = id(body)  # the raw YAML lives as long as the count
        if key not in self.by_index:
            self.by_index[key] = "i" in _names(_counted_strings(body, repeat=False))
        return self.by_index[key]

    def depends_on(self, entry: BlockEntry) -> tuple[str, ...]:
        """The block's parameters its size may depend on: those its layers' counted keys
        (and the arguments of the blocks they call) name."""
        if entry.qualname not in self.depends:
            strings = [s for layer in entry.raw["layers"] for body in layer.values() for s in _counted_strings(body)]
            self.depends[entry.qualname] = frozenset(_names(strings)) & set(entry.definition.params)
        return tuple(sorted(self.depends[entry.qualname]))

    @staticmethod
    def value(raw: Any, env: dict[str, Any], unknown: frozenset[str]) -> Any:
        """raw evaluated as the walker evaluates it; _UNKNOWN if it names a value known
        only while walking, _INVALID if the walker will refuse it."""
        if isinstance(raw, str) and "$" not in raw or not isinstance(raw, (str, list, dict)):
            return raw  # a literal: most values
        strings = _strings(raw)
        if not strings:
            return raw
        if unknown and not unknown.isdisjoint(_names(strings)):
            return _UNKNOWN
        value, ok = evaluate(Problems(), raw, env, (None, None))
        return value if ok else _INVALID


def _counted_strings(body: Any, repeat: bool = True) -> list[str]:
    """The expressions of a layer's body that decide how many nodes it makes: its op or
    block, repeat and when, a block call's arguments, and all the attributes of an op
    with several outputs (or of one chosen by a parameter)."""
    if not isinstance(body, dict):
        return _strings(body)
    keys = [k for k in _COUNTED_KEYS if repeat or k != "repeat"]
    op = body.get("op")
    if "block" in body:
        keys += [k for k in body if k not in _CALL_KEYS]
    elif not isinstance(op, str) or op not in REGISTRY or type(REGISTRY[op]).outputs is not Op.outputs:
        keys += list(body)
    return [s for k in keys if k in body for s in _strings(body[k])]


def _strings(value: Any) -> list[str]:
    """The strings holding expressions inside a value."""
    if isinstance(value, str):
        return [value] if "$" in value else []
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


def _names(strings: list[str]) -> set[str]:
    """Every identifier the strings mention (a superset of the names they read)."""
    return {name for text in strings for name in _IDENTIFIER.findall(text)}


def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(map(_frozen, value))
    if isinstance(value, dict):
        return tuple((k, _frozen(v)) for k, v in value.items())
    return value


def _made_by(name: str, at: Span | None) -> str:
    return f"layers that one copy of '{name}' makes ({at})"


def _notes(size: Size) -> list[str]:
    """Where each factor of the product comes from."""
    return [("" if i == 0 else "× ") + origin for i, (_, origin) in enumerate(size.factors)] \
        if len(size.factors) > 1 else []
