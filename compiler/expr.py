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
from typing import Any, Mapping

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
    whole = _WHOLE_NAME.match(value)
    if whole:
        return _lookup(whole.group(1), env)
    whole = _WHOLE_EXPR.match(value)
    if whole and "${" not in whole.group(1):
        return _evaluate_source(whole.group(1), env)

    def piece(match: re.Match) -> str:
        result = _evaluate_source(match.group(1), env) if match.group(1) is not None else _lookup(match.group(2), env)
        return str(result).lower() if isinstance(result, bool) else str(result)

    return _PIECE.sub(piece, value)


def _lookup(name: str, env: Mapping[str, Any]) -> Any:
    if name not in env:
        from .diagnostics import did_you_mean
        records = sorted(k for k, v in env.items() if isinstance(v, Record))
        known = ", ".join(sorted(k for k in env if k not in records)) or "none"
        inputs = f"; inputs: {', '.join(records)}" if records else ""
        raise ExprError(f"unknown parameter '{name}'{did_you_mean(name, env)}; known: {known}{inputs}")
    return env[name]


def _evaluate_source(source: str, env: Mapping[str, Any]) -> Any:
    return _Evaluator(env).visit(_parsed(source.strip()))


@functools.lru_cache(maxsize=4096)
def _parsed(source: str) -> ast.expr:
    """The checked syntax tree of an expression: parsed once, however many layers or repeat
    copies evaluate it (parsing and measuring were most of an evaluation's time)."""
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
    return tree.body


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


class _Evaluator(ast.NodeVisitor):
    def __init__(self, env: Mapping[str, Any]):
        self.env = env

    def generic_visit(self, node):
        raise ExprError(f"'{ast.unparse(node)}' is not allowed in an expression "
                        f"(only arithmetic, comparisons, conditionals and {'/'.join(_FUNCTIONS)})")

    def visit_Constant(self, node):
        if not isinstance(node.value, (int, float, str, bool)) or node.value is None:
            return self.generic_visit(node)
        return _check(node.value)

    def visit_Name(self, node):
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        return _lookup(node.id, self.env)

    def visit_Attribute(self, node):
        value = self.visit(node.value)
        if not isinstance(value, Record):
            return self.generic_visit(node)
        return value.field(node.attr)

    def visit_Subscript(self, node):
        value = self.visit(node.value)
        if not isinstance(value, (Shape, list)) or isinstance(node.slice, ast.Slice):
            return self.generic_visit(node)
        index = self.visit(node.slice)
        if not isinstance(index, int) or isinstance(index, bool) or not -len(value) <= index < len(value):
            what = "a shape of {} dims has no dim" if isinstance(value, Shape) else "a list of {} items has no item"
            raise ExprError(f"'{ast.unparse(node)}': {what.format(len(value))} {index!r}")
        return value[index]

    def visit_List(self, node):
        return [self.visit(e) for e in node.elts]

    visit_Tuple = visit_List

    def visit_UnaryOp(self, node):
        value = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        if isinstance(value, (int, float)) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return -value if isinstance(node.op, ast.USub) else value
        raise ExprError(f"cannot apply '{ast.unparse(node)}' to {value!r}")

    def visit_BinOp(self, node):
        fn = _BINARY.get(type(node.op))
        if fn is None:
            return self.generic_visit(node)
        left, right = self.visit(node.left), self.visit(node.right)
        symbolic = next((v for v in (left, right) if isinstance(v, SymDim)), None)
        if symbolic is not None:
            raise ExprError(f"'{ast.unparse(node)}': the size {symbolic} is symbolic, and arithmetic needs a "
                            "number: give the spec's input a concrete size")
        if not all(isinstance(v, (int, float)) for v in (left, right)):
            raise ExprError(f"'{ast.unparse(node)}': arithmetic needs numbers, got {left!r} and {right!r}")
        if fn is operator.pow and (abs(right) > 64 or abs(left) > 2**32):
            raise ExprError(f"'{ast.unparse(node)}': power too large (exponent at most 64)")
        try:
            return _check(fn(left, right))
        except ZeroDivisionError:
            raise ExprError(f"'{ast.unparse(node)}': division by zero") from None
        except OverflowError:
            raise ExprError(f"'{ast.unparse(node)}': number out of range") from None

    def visit_BoolOp(self, node):
        is_and = isinstance(node.op, ast.And)
        for value_node in node.values:
            value = self.visit(value_node)
            if bool(value) != is_and:
                return value
        return value

    def visit_Compare(self, node):
        left = self.visit(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            fn = _COMPARE.get(type(op))
            if fn is None:
                return self.generic_visit(node)
            right = self.visit(right_node)
            try:
                if not fn(left, right):
                    return False
            except TypeError:
                raise ExprError(f"'{ast.unparse(node)}': cannot compare {left!r} and {right!r}") from None
            left = right
        return True

    def visit_IfExp(self, node):
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_Call(self, node):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords:
            return self.generic_visit(node)
        args = [self.visit(a) for a in node.args]
        try:
            return _check(_FUNCTIONS[node.func.id](*args))
        except ZeroDivisionError:  # log(x, 1)
            raise ExprError(f"'{ast.unparse(node)}': division by zero") from None
        except (TypeError, ValueError, OverflowError) as e:
            raise ExprError(f"'{ast.unparse(node)}': {e}") from None
