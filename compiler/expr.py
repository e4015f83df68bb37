"""Safe `$param` and `${expression}` evaluation (an AST whitelist; never eval).

    kernel: $k                    -> the value of k
    stride: ${2 if i == 0 else 1} -> arithmetic, comparisons, and/or/not, conditionals,
                                     min, max, abs, int, float, round, ceil, floor,
                                     sqrt, log (natural, or log(x, base)), log2
    name: "conv${i + 1}"          -> text interpolation inside a longer string
    out_channels: ${input.channels * 4}, kernel: ${input.shape[2]}
                                  -> a block's input's shape (a Record's fields, a shape's dims)

Nothing can be called except those few functions, nothing looked up by attribute but a
Record's fields, nothing indexed but a shape, and numbers stay bounded, so a spec cannot
make the compiler hang or eat memory.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import re
from typing import Any, Callable, Mapping

from .symbolic import SymDim

MAX_MAGNITUDE = 10**18
MAX_LENGTH = 500
MAX_DEPTH = 100  # nesting of sub-expressions: the evaluator recurses once per level

_WHOLE_NAME = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
_WHOLE_EXPR = re.compile(r"^\$\{(.*)\}$", re.S)
_PIECE = re.compile(r"\$\{([^{}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
    ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
}


def _domain(fn, needs: str, admits):
    """`fn` refusing, by name, arguments outside its domain (log(0), sqrt(-1))."""
    def checked(x, *rest):
        if isinstance(x, (int, float)) and not admits(x):
            raise ValueError(f"{fn.__name__} needs {needs}, got {x!r}")
        return fn(x, *rest)
    return checked


_FUNCTIONS = {
    "min": min, "max": max, "abs": abs, "int": int, "float": float, "round": round,
    "ceil": math.ceil, "floor": math.floor,  # RegNet's and EfficientNet's width rules
    "sqrt": _domain(math.sqrt, "a number ≥ 0", lambda x: x >= 0),
    "log": _domain(math.log, "a positive number", lambda x: x > 0),
    "log2": _domain(math.log2, "a positive number", lambda x: x > 0),
}


class ExprError(Exception):
    """A bad expression; the caller attaches the source location."""


class Record:
    """A value with named fields an expression may read (`input.channels`)."""

    def field(self, name: str) -> Any:
        """The field's value; raises ExprError naming the fields there are."""
        raise NotImplementedError


class Shape(tuple):
    """A tensor's dims: the one kind of value an expression may index (`input.shape[2]`)."""


def evaluate(value: Any, env: Mapping[str, Any]) -> Any:
    """Resolve `$name` / `${expr}` in a string; other values come back unchanged."""
    if not isinstance(value, str) or "$" not in value:
        return value
    return _reader(value)(env)


@functools.lru_cache(maxsize=4096)
def _reader(text: str) -> Callable[[Mapping[str, Any]], Any]:
    """How a text with `$` reads its value from the names' values, worked out once per text
    (the copies of a block's layers and of a `repeat:` hold the same texts)."""
    whole = _WHOLE_NAME.match(text)
    if whole:
        name = whole.group(1)
        return lambda env: _lookup(name, env)
    whole = _WHOLE_EXPR.match(text)
    if whole and "${" not in whole.group(1):
        return _compiled(whole.group(1).strip())  # a bad one raises here each time: it is not cached
    return lambda env: _PIECE.sub(lambda match: _piece(match, env), text)


def _piece(match: re.Match, env: Mapping[str, Any]) -> str:
    """One `$name` or `${expr}` of a longer text, as text (a bool as YAML writes it)."""
    result = _evaluate_source(match.group(1), env) if match.group(1) is not None else _lookup(match.group(2), env)
    return str(result).lower() if isinstance(result, bool) else str(result)


def _lookup(name: str, env: Mapping[str, Any]) -> Any:
    if name not in env:
        from .diagnostics import did_you_mean
        records = sorted(k for k, v in env.items() if isinstance(v, Record))
        known = ", ".join(sorted(k for k in env if k not in records)) or "none"
        inputs = f"; inputs: {', '.join(records)}" if records else ""
        raise ExprError(f"unknown parameter '{name}'{did_you_mean(name, env)}; known: {known}{inputs}")
    return env[name]


def _evaluate_source(source: str, env: Mapping[str, Any]) -> Any:
    return _compiled(source.strip())(env)


@functools.lru_cache(maxsize=4096)
def _compiled(source: str) -> Callable[[Mapping[str, Any]], Any]:
    """The checked expression as a function of the names' values: parsed, measured and
    compiled once, however many layers or repeat copies evaluate it. A refused construct
    raises where the evaluation reaches it, as it would walking the tree (`${1 if t else x.y}`
    is refused only where t is false)."""
    if not source:
        raise ExprError("empty expression '${}'")
    if len(source) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as e:
        raise ExprError(f"invalid expression '{source}': {e.msg}") from None
    if _depth(tree.body) > MAX_DEPTH:
        raise ExprError(f"expression nested too deeply (limit {MAX_DEPTH})")
    return _compile(tree.body)


def _depth(tree: ast.expr) -> int:
    """How deeply sub-expressions nest, measured without recursion (`-` 496 times is 497)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack += [(child, depth + 1) for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr)]
    return deepest


def _check(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and abs(value) > MAX_MAGNITUDE:  # not printed: it may have 10,000 digits
        raise ExprError(f"number too large (about 2^{value.bit_length()}); the limit is 1e18")
    if isinstance(value, complex):  # (-8) ** 0.5
        raise ExprError(f"{value} is not a real number")
    if isinstance(value, float) and (math.isinf(value) or math.isnan(value) or abs(value) > MAX_MAGNITUDE):
        raise ExprError(f"number out of range ({value})")
    return value


# --- compiling: each node of the tree becomes a closure over its children's closures -----------

def _compile(node: ast.expr) -> Callable[[Mapping[str, Any]], Any]:
    return _COMPILERS.get(type(node), _refused)(node)


def _refusal(node: ast.AST) -> ExprError:
    return ExprError(f"'{ast.unparse(node)}' is not allowed in an expression "
                     f"(only arithmetic, comparisons, conditionals and {'/'.join(_FUNCTIONS)})")


def _refused(node: ast.AST):
    def refused(env):
        raise _refusal(node)
    return refused


def _constant(node: ast.Constant):
    if not isinstance(node.value, (int, float, str, bool)):
        return _refused(node)
    try:
        value = _check(node.value)
    except ExprError as e:  # a literal out of range (1e999): refused where it is reached
        message = str(e)

        def out_of_range(env):
            raise ExprError(message)
        return out_of_range
    return lambda env: value


def _name(node: ast.Name):
    name = node.id
    return lambda env: _lookup(name, env)


def _attribute(node: ast.Attribute):
    value_of, attr = _compile(node.value), node.attr

    def attribute(env):
        value = value_of(env)
        if not isinstance(value, Record):
            raise _refusal(node)
        return value.field(attr)
    return attribute


def _subscript(node: ast.Subscript):
    value_of, index_of, sliced = _compile(node.value), _compile(node.slice), isinstance(node.slice, ast.Slice)

    def subscript(env):
        value = value_of(env)
        if not isinstance(value, (Shape, list)) or sliced:
            raise _refusal(node)
        index = index_of(env)
        if not isinstance(index, int) or isinstance(index, bool) or not -len(value) <= index < len(value):
            what = "a shape of {} dims has no dim" if isinstance(value, Shape) else "a list of {} items has no item"
            raise ExprError(f"'{ast.unparse(node)}': {what.format(len(value))} {index!r}")
        return value[index]
    return subscript


def _list(node: ast.List | ast.Tuple):
    items = [_compile(e) for e in node.elts]
    return lambda env: [item(env) for item in items]


def _unary(node: ast.UnaryOp):
    operand = _compile(node.operand)
    if isinstance(node.op, ast.Not):
        return lambda env: not operand(env)
    negate = isinstance(node.op, ast.USub)
    signed = negate or isinstance(node.op, ast.UAdd)

    def unary(env):
        value = operand(env)
        if signed and isinstance(value, (int, float)):
            return -value if negate else value
        raise ExprError(f"cannot apply '{ast.unparse(node)}' to {value!r}")
    return unary


def _binary(node: ast.BinOp):
    fn = _BINARY.get(type(node.op))
    if fn is None:
        return _refused(node)
    left_of, right_of = _compile(node.left), _compile(node.right)

    def binary(env):
        left, right = left_of(env), right_of(env)
        symbolic = left if isinstance(left, SymDim) else right if isinstance(right, SymDim) else None
        if symbolic is not None:
            raise ExprError(f"'{ast.unparse(node)}': the size {symbolic} is symbolic, and arithmetic needs a "
                            "number: give the spec's input a concrete size")
        if not (isinstance(left, (int, float)) and isinstance(right, (int, float))):
            raise ExprError(f"'{ast.unparse(node)}': arithmetic needs numbers, got {left!r} and {right!r}")
        if fn is operator.pow and (abs(right) > 64 or abs(left) > 2**32):
            raise ExprError(f"'{ast.unparse(node)}': power too large (exponent at most 64)")
        try:
            return _check(fn(left, right))
        except ZeroDivisionError:
            raise ExprError(f"'{ast.unparse(node)}': division by zero") from None
        except OverflowError:
            raise ExprError(f"'{ast.unparse(node)}': number out of range") from None
    return binary


def _boolean(node: ast.BoolOp):
    values, is_and = [_compile(v) for v in node.values], isinstance(node.op, ast.And)

    def boolean(env):
        for value_of in values:
            value = value_of(env)
            if bool(value) != is_and:
                return value
        return value
    return boolean


def _compare(node: ast.Compare):
    left_of = _compile(node.left)
    steps = [(_COMPARE.get(type(op)), _compile(right)) for op, right in zip(node.ops, node.comparators)]

    def compare(env):
        left = left_of(env)
        for fn, right_of in steps:
            if fn is None:  # `in`, `is`: refused once the comparisons before it hold
                raise _refusal(node)
            right = right_of(env)
            try:
                if not fn(left, right):
                    return False
            except TypeError:
                raise ExprError(f"'{ast.unparse(node)}': cannot compare {left!r} and {right!r}") from None
            left = right
        return True
    return compare


def _conditional(node: ast.IfExp):
    test, body, orelse = _compile(node.test), _compile(node.body), _compile(node.orelse)
    return lambda env: body(env) if test(env) else orelse(env)


def _call(node: ast.Call):
    if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords:
        return _refused(node)
    fn, args = _FUNCTIONS[node.func.id], [_compile(a) for a in node.args]

    def call(env):
        values = [arg(env) for arg in args]
        try:
            return _check(fn(*values))
        except ZeroDivisionError:  # log(x, 1)
            raise ExprError(f"'{ast.unparse(node)}': division by zero") from None
        except (TypeError, ValueError, OverflowError) as e:
            raise ExprError(f"'{ast.unparse(node)}': {e}") from None
    return call


_COMPILERS = {
    ast.Constant: _constant, ast.Name: _name, ast.Attribute: _attribute, ast.Subscript: _subscript,
    ast.List: _list, ast.Tuple: _list, ast.UnaryOp: _unary, ast.BinOp: _binary, ast.BoolOp: _boolean,
    ast.Compare: _compare, ast.IfExp: _conditional, ast.Call: _call,
}
