"""YAML text -> plain data that remembers where every key and value came from.

Loading is safe by construction: only YAML's core types (maps, lists, strings, numbers,
booleans, null) are built, any other tag is a diagnostic, duplicate keys are errors (PyYAML
would silently keep the last), and the document is measured before it is built: an alias
bomb ("billion laughs"), a recursive alias or nesting too deep for the builder is refused
with a diagnostic instead of filling memory or the stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .diagnostics import Diagnostic, SpecError, Span

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# libyaml's composer recurses in C once per nesting level and its scanner slows down with
# the square of the depth, so a text nested deeply enough (100,000 `[`) hangs and then
# overflows the C stack, killing the process. Every level of nesting needs one of these
# characters: a text with few of them is safe, and any other is checked first by PyYAML's
# Python scanner, which is stopped as soon as the nesting gets too deep.
_NESTING_MARKS = "[{-:?"
_C_SAFE_NESTING = 5_000
_OPENING = (yaml.BlockSequenceStartToken, yaml.BlockMappingStartToken, yaml.FlowSequenceStartToken,
            yaml.FlowMappingStartToken)
_CLOSING = (yaml.BlockEndToken, yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken)
_MERGE = "tag:yaml.org,2002:merge"
_CORE = "tag:yaml.org,2002:"
_SCALARS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}
_TIMESTAMP = _CORE + "timestamp"  # an unquoted date: kept as the text the author wrote

MAX_NODES = 1_000_000  # values built, aliases expanded: bounds memory and time
MAX_DEPTH = 100  # nesting, aliases expanded: far beyond any spec, well inside Python's stack
MAX_FILE_BYTES = 20 * 1024 * 1024


class YMap(dict):
    """A mapping that knows the span of itself, of each key and of each value."""

    span: Span
    key_spans: dict
    value_spans: dict


class YList(list):
    """A list that knows the span of itself and of each item."""

    span: Span
    value_spans: list


def node_span(file: str, node: yaml.Node) -> Span:
    start, end = node.start_mark, node.end_mark
    width = end.column - start.column if end.line == start.line else 1
    return Span(file, start.line + 1, start.column + 1, max(1, width))


class _Builder:
    def __init__(self, file: str):
        self.file = file
        self.measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values, height), aliases expanded
        self.active: set[int] = set()  # nodes being measured: a recursive alias is a cycle
        self.scalar = yaml.constructor.SafeConstructor()

    def fail(self, node, message, code, notes=()):
        raise SpecError(Diagnostic(message, node_span(self.file, node), notes=list(notes), code=code))

    def measure(self, node: yaml.Node, level: int = 1) -> int:
        """The number of values node expands to (aliases expanded), refusing a cycle, more
        than MAX_NODES values or more than MAX_DEPTH levels. Each node is measured once,
        so a bomb is refused in time linear in its text."""
        if id(node) not in self.measured:
            if level > MAX_DEPTH:
                self.fail(node, f"the YAML is nested more than {MAX_DEPTH} levels deep", "yaml-too-large")
            if id(node) in self.active:
                self.fail(node, "a YAML alias refers to the node that contains it (a cycle)",
                          "yaml-recursive-alias")
            self.active.add(id(node))
            children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else \
                node.value if isinstance(node, yaml.SequenceNode) else []
            values, height = 1, 1
            for child in children:
                values += self.measure(child, level + 1)
                height = max(height, 1 + self.measured[id(child)][1])
                if values > MAX_NODES:
                    self.fail(node, f"the document expands to more than {MAX_NODES:,} values "
                              "(an alias bomb?)", "yaml-too-large")
            self.active.discard(id(node))
            self.measured[id(node)] = values, height
        values, height = self.measured[id(node)]
        if level - 1 + height > MAX_DEPTH:
            self.fail(node, f"the YAML is nested more than {MAX_DEPTH} levels deep", "yaml-too-large")
        return values

    def build(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return self.build_scalar(node)
        if isinstance(node, yaml.MappingNode) and node.tag == _CORE + "map":
            return self.build_map(node)
        if isinstance(node, yaml.SequenceNode) and node.tag == _CORE + "seq":
            return self.build_list(node)
        self.bad_tag(node)

    def bad_tag(self, node):
        self.fail(node, f"unsupported YAML tag '{node.tag.replace(_CORE, '!!')}'", "yaml-tag",
                  ["specs hold plain data: maps, lists, strings, numbers, booleans and null"])

    def build_scalar(self, node: yaml.ScalarNode):
        if node.tag == _TIMESTAMP:
            return node.value
        if node.tag not in _SCALARS:
            self.bad_tag(node)
        try:
            value = self.scalar.construct_object(node)
        except ValueError:  # an integer longer than Python converts (4,300 digits)
            self.fail(node, f"a number {len(node.value):,} digits long is not a usable size", "bad-number")
        if isinstance(value, float) and value != value:
            self.fail(node, "NaN is not a valid value here", "bad-number")
        return value

    def build_map(self, node: yaml.MappingNode) -> YMap:
        out = YMap()
        out.span, out.key_spans, out.value_spans = node_span(self.file, node), {}, {}
        merges = [value for key, value in node.value if key.tag == _MERGE]
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail(key_node, "a mapping key must be a plain scalar", "yaml-key")
            key = self.build_scalar(key_node)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                self.fail(key_node, f"a mapping key must be a name, not {key!r}", "yaml-key")
            if key in out:
                self.fail(key_node, f"duplicate key '{key}'", "duplicate-key",
                          [f"first given at {out.key_spans[key]}"])
            out.key_spans[key] = node_span(self.file, key_node)
            out.value_spans[key] = node_span(self.file, value_node)
            out[key] = self.build(value_node)
        for base in self.merged(merges):
            for key in [k for k in base if k not in out]:
                out[key], out.key_spans[key], out.value_spans[key] = base[key], base.key_spans[key], base.value_spans[key]
        return out

    def merged(self, merges: list[yaml.Node]) -> list[YMap]:
        """The mappings named by YAML merge keys (`<<: *base` or `<<: [*a, *b]`), the first
        winning; the mapping's own keys win over all of them."""
        bases = []
        for value in merges:
            for node in value.value if isinstance(value, yaml.SequenceNode) else [value]:
                if not isinstance(node, yaml.MappingNode):
                    self.fail(node, "a merge key `<<` takes a mapping or a list of mappings", "yaml-merge")
                bases.append(self.build(node))
        return bases

    def build_list(self, node: yaml.SequenceNode) -> YList:
        out = YList()
        out.span, out.value_spans = node_span(self.file, node), []
        for item in node.value:
            out.value_spans.append(node_span(self.file, item))
            out.append(self.build(item))
        return out


def _check_nesting(text: str, file: str) -> None:
    """Refuse a text nested more than MAX_DEPTH levels before libyaml sees it."""
    if sum(map(text.count, _NESTING_MARKS)) <= _C_SAFE_NESTING:
        return
    depth = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, _OPENING):
            depth += 1
            if depth > MAX_DEPTH:
                mark = token.start_mark
                raise SpecError(Diagnostic(f"the YAML is nested more than {MAX_DEPTH} levels deep",
                                           Span(file, mark.line + 1, mark.column + 1), code="yaml-too-large"))
        elif isinstance(token, _CLOSING):
            depth -= 1


def load_text(text: str, file: str) -> Any:
    """Parse YAML text into YMap/YList/scalars; raises SpecError with a location."""
    try:
        _check_nesting(text, file)
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        span = Span(file, mark.line + 1, mark.column + 1) if mark else Span(file, 1, 1)
        problem = e.problem or e.context or "malformed YAML"
        # where the unfinished construct began: often the line to fix
        began = e.context_mark if e.problem and e.context and e.context_mark is not None else None
        notes = [f"{e.context} at {file}:{began.line + 1}:{began.column + 1}"] if began else []
        raise SpecError(Diagnostic(f"YAML syntax: {problem}", span, notes=notes, code="yaml-syntax")) from None
    except yaml.YAMLError as e:
        raise SpecError(Diagnostic(f"YAML syntax: {e}", Span(file, 1, 1), code="yaml-syntax")) from None
    except RecursionError:  # PyYAML's Python composer, where libyaml is missing
        raise SpecError(Diagnostic("the YAML is nested too deeply", Span(file, 1, 1), code="yaml-too-large")) from None
    if root is None:
        empty = YMap()
        empty.span, empty.key_spans, empty.value_spans = Span(file, 1, 1), {}, {}
        return empty
    builder = _Builder(file)
    builder.measure(root)
    return builder.build(root)


def load_file(path: Path, display: str) -> tuple[Any, str]:
    """Read and parse a spec file; returns (data, text)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SpecError(Diagnostic(f"{display} is {size:,} bytes; specs are limited to {MAX_FILE_BYTES:,}",
                                       code="yaml-too-large"))
        data = path.read_bytes()
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        span = Span(display, data.count(b"\n", 0, e.start) + 1, e.start - line_start + 1)
        raise SpecError(Diagnostic(f"{display} is not UTF-8 text ({e.reason} at byte {e.start})",
                                   span, code="not-utf8")) from None
    except OSError as e:
        raise SpecError(Diagnostic(f"cannot read {display}: {e.strerror or e}", code="no-file")) from None
    return load_text(text, display), text


def span_of(container: Any, key: Any, *, of_key: bool = False) -> Span | None:
    """The span of container[key] (or of the key itself), if it was read from YAML."""
    if isinstance(container, YMap):
        spans = container.key_spans if of_key else container.value_spans
        return spans.get(key) or container.span
    if isinstance(container, YList) and isinstance(key, int) and 0 <= key < len(container):
        return container.value_spans[key]
    return getattr(container, "span", None)


def span_at(root: Any, path: tuple, *, of_key: bool = False) -> Span | None:
    """The span of the deepest value along path that exists in the YAML."""
    node, best = root, getattr(root, "span", None)
    for i, key in enumerate(path):
        last = i == len(path) - 1
        try:
            child = node[key]
        except (KeyError, IndexError, TypeError):
            return best
        best = span_of(node, key, of_key=of_key and last) or best
        node = child
    return best
