"""YAML text -> plain data that remembers where every key and value came from.

Loading is safe by construction: only YAML's core types (maps, lists, strings, numbers,
booleans, null) are built, any other tag is a diagnostic, duplicate keys are errors (PyYAML
would silently keep the last), and the document is measured while it is read: an alias bomb
("billion laughs"), a recursive alias or nesting too deep is refused with a diagnostic
instead of filling memory or the stack. The text is parsed once, by libyaml, into events
that are built into values here.
"""

from __future__ import annotations

import gc
import re
from pathlib import Path
from typing import Any

import yaml
from yaml import events as ev

from . import yaml_events
from .diagnostics import Diagnostic, SpecError, Span
from .spec_files import SourceCache, read_spec  # noqa: F401  (SourceCache: this module's API too)

class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """libyaml's safe loader, reading `1e-6` as a number as YAML 1.2 does (YAML 1.1, PyYAML's
    rule, wants `1.0e-6` and leaves `eps: 1e-6` a string that the attribute then refuses)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))
_MERGE = "tag:yaml.org,2002:merge"
_CORE = "tag:yaml.org,2002:"
_SCALARS = {_CORE + t for t in ("str", "int", "float", "bool", "null")}
_STR, _TIMESTAMP = _CORE + "str", _CORE + "timestamp"  # an unquoted date: kept as the text the author wrote
# the first characters of the plain scalars that may read as other than strings: the loader has
# no resolver for every first character (None) nor by path, so any other plain scalar is a string
_RESOLVED_BY_FIRST = frozenset(_Loader.yaml_implicit_resolvers)
_COLLECTION_TAGS = {ev.SequenceStartEvent: _CORE + "seq", ev.MappingStartEvent: _CORE + "map"}

MAX_NODES = 1_000_000  # values built, aliases expanded: bounds memory and time
MAX_DEPTH = 100  # nesting, aliases expanded; libyaml is never asked to go deeper, where it slows down
_LOOK_AHEAD = 1_000  # events read past an error to find the end of the node it names
_UNREAD = object()


class YMap(dict):
    """A mapping that knows the span of itself, of each key and of each value."""

    __slots__ = ("span", "key_spans", "value_spans")  # no __dict__ each: a spec holds tens of thousands
    span: Span
    key_spans: dict
    value_spans: dict


class YList(list):
    """A list that knows the span of itself and of each item."""

    __slots__ = ("span", "value_spans")
    span: Span
    value_spans: list


_new_span = tuple.__new__  # Span(…) without its Python-level __new__: one per value read


def _span(file: str, start, end) -> Span:
    width = end.column - start.column if end.line == start.line else 1
    return _new_span(Span, (file, start.line + 1, start.column + 1, width if width > 1 else 1))


def node_span(file: str, node: yaml.Node) -> Span:
    return _span(file, node.start_mark, node.end_mark)


def _ymap(span: Span) -> YMap:
    out = YMap()
    out.span, out.key_spans, out.value_spans = span, {}, {}
    return out


_EXPECT_KEY, _MERGE_KEY = object(), object()  # a mapping's state between its keys and values


class _Opened:
    """An anchored list or mapping not yet read to its end: an alias of it is a cycle."""

    __slots__ = ("start", "depth")

    def __init__(self, start, depth: int):
        self.start, self.depth = start, depth


class _Composer:
    """Builds a document's values straight from libyaml's events, measuring as it goes: each
    list or mapping is read by a call of its own (the nesting is bounded), its state in locals."""

    def __init__(self, text: str, file: str):
        self.file = file
        self.loader = _Loader(text)
        self.next = self.loader.get_event
        self.anchors: dict[str, Any] = {}  # name -> _Opened while open, then (value, span, values, height)
        self.plain_values: dict[str, Any] = {}  # an untagged plain scalar's text -> its value
        self.scalar_values: dict[tuple, Any] = {}
        self.constructor = yaml.constructor.SafeConstructor()

    def fail(self, span: Span, message: str, code: str, notes=()):
        raise SpecError(Diagnostic(message, span, notes=list(notes), code=code))

    def fail_open(self, start, unclosed: int, message: str, code: str, notes=()):
        """Fail at a node not read to its end (`unclosed` collections of it still open):
        its span's width needs that end, looked for on its first line."""
        end = start
        try:
            for _ in range(_LOOK_AHEAD):
                event = self.next()
                if event is None or event.start_mark.line != start.line:
                    break
                end = event.end_mark
                unclosed += isinstance(event, ev.CollectionStartEvent) - isinstance(event, ev.CollectionEndEvent)
                if unclosed == 0:
                    break
        except yaml.YAMLError:
            pass
        self.fail(_span(self.file, start, end), message, code, notes)

    def document(self) -> Any:
        """The single document's root value; an empty stream is an empty mapping."""
        self.next()  # StreamStartEvent
        if isinstance(self.next(), ev.StreamEndEvent):
            return _ymap(Span(self.file, 1, 1))
        event = self.next()
        root, span, _, _ = self.node(event, type(event), 0, False)
        self.next()  # DocumentEndEvent
        event = self.next()
        if not isinstance(event, ev.StreamEndEvent):
            raise yaml.composer.ComposerError("expected a single document in the stream", _Mark(span),
                                              "but found another document", event.start_mark)
        return root

    def node(self, event, kind, depth: int, key_due: bool) -> tuple[Any, Span, int, int]:
        """The node that starts with this event, read to its end (`depth` collections around
        it, a mapping's key due if key_due): its value, span, values and height."""
        if kind is ev.ScalarEvent:
            value, span = self.scalar(event, depth, key_due)
            return value, span, 1, 1
        if kind is ev.AliasEvent:
            return self.alias(event, depth)
        return self.collection(event, kind, depth, key_due)

    def collection(self, event, kind, depth: int, key_due: bool) -> tuple[Any, Span, int, int]:
        """A list or mapping, from its start event to its end, measured: the limits are checked
        as each of its values is read, the commonest values (untagged scalars) read inline."""
        start, tag, anchor = event.start_mark, event.tag, event.anchor
        if kind not in _COLLECTION_TAGS:
            raise yaml.composer.ComposerError(None, None, f"unexpected {kind.__name__}", start)
        if depth >= MAX_DEPTH:
            self.fail(Span(self.file, start.line + 1, start.column + 1),
                      f"the YAML is nested more than {MAX_DEPTH} levels deep", "yaml-too-large")
        if key_due:
            self.fail_open(start, 1, "a mapping key must be a plain scalar", "yaml-key")
        if tag is not None and tag != "!" and tag != _COLLECTION_TAGS[kind]:
            self.fail_open(start, 1, _bad_tag(tag), "yaml-tag", [_PLAIN_DATA])
        depth += 1
        if anchor is not None:
            self.anchor(event, _Opened(start, depth))
        is_map = kind is ev.MappingStartEvent
        if is_map:
            out, end_kind, key = YMap(), ev.MappingEndEvent, _EXPECT_KEY
            out.key_spans, out.value_spans = key_spans, value_spans = {}, {}
        else:
            out, end_kind, key = YList(), ev.SequenceEndEvent, None
            out.value_spans = value_spans = []
            append, append_span = out.append, value_spans.append
        file, next_event, plain_values, max_nodes = self.file, self.next, self.plain_values, MAX_NODES
        scalar_kind, shallow = ev.ScalarEvent, depth < MAX_DEPTH  # (a scalar deeper is refused)
        values = height = 1
        merges = []
        while True:
            event = next_event()
            kind = type(event)
            if kind is scalar_kind and event.tag is None and event.anchor is None and shallow:
                # most events: an untagged scalar, read here
                start_mark, end_mark = event.start_mark, event.end_mark
                width = end_mark.column - start_mark.column if end_mark.line == start_mark.line else 1
                span = _new_span(Span, (file, start_mark.line + 1, start_mark.column + 1, width if width > 1 else 1))
                text = event.value
                value = plain_values.get(text, _UNREAD) if event.implicit[0] else text  # quoted: its text
                if value is _UNREAD:
                    value = self.plain_value(text, span, key is _EXPECT_KEY)
                values += 1
                if height == 1:
                    height = 2
            elif kind is end_kind:
                break
            else:
                value, span, child_values, child_height = self.node(event, kind, depth, key is _EXPECT_KEY)
                values += child_values
                if child_height >= height:
                    height = child_height + 1
            if values > max_nodes:
                self.fail_open(start, 1, f"the document expands to more than {MAX_NODES:,} values (an alias bomb?)",
                               "yaml-too-large")
            if not is_map:
                append(value)
                append_span(span)
            elif key is _EXPECT_KEY:
                if type(value) is str and value not in out:
                    key_spans[value], key = span, value
                else:
                    key = self.key(out, value, span)
            else:
                if key is _MERGE_KEY:
                    merges.append((value, span))
                else:
                    out[key], value_spans[key] = value, span
                key = _EXPECT_KEY
        span = _span(file, start, event.end_mark)
        out.span = span
        if merges:
            self.merge(out, merges)
        entry = out, span, values, height
        if anchor is not None:
            self.anchors[anchor] = entry
        return entry

    def scalar(self, event, depth: int, key_due: bool) -> tuple[Any, Span]:
        span = _span(self.file, event.start_mark, event.end_mark)
        if depth >= MAX_DEPTH:
            self.fail(span, f"the YAML is nested more than {MAX_DEPTH} levels deep", "yaml-too-large")
        tag = event.tag
        if (tag is None or tag == "!") and event.implicit[0]:
            value = self.plain_value(event.value, span, key_due)
        else:
            if tag is None or tag == "!":
                tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
            value = self.construct(tag, event.value, span)
        if event.anchor is not None:
            self.anchor(event, (value, span, 1, 1))
        return value, span

    def plain_value(self, text: str, span: Span, key_due: bool) -> Any:
        """An untagged plain scalar's value, built once per text (the same text is the same value
        wherever it is), or _MERGE_KEY for `<<` where a mapping's key is due."""
        value = self.plain_values.get(text, _UNREAD)
        if value is _UNREAD:
            if text[:1] in _RESOLVED_BY_FIRST:
                tag = self.loader.resolve(yaml.ScalarNode, text, (True, False))
                if tag == _MERGE and key_due:
                    return _MERGE_KEY
                value = self.construct(tag, text, span)  # (`<<` elsewhere: a bad tag)
            else:  # `fc1`, `relu`: no resolver reads a text so begun as other than a string
                value = text
            self.plain_values[text] = value
        return value

    def construct(self, tag: str, text: str, span: Span) -> Any:
        if tag == _STR or tag == _TIMESTAMP:
            return text
        if tag not in _SCALARS:
            self.bad_tag(tag, span)
        key = tag, text
        if key not in self.scalar_values:
            try:
                value = self.constructor.yaml_constructors[tag](self.constructor, yaml.ScalarNode(tag, text))
            except ValueError:  # an integer longer than Python converts (4,300 digits)
                self.fail(span, f"a number {len(text):,} digits long is not a usable size", "bad-number")
            if isinstance(value, float) and value != value:
                self.fail(span, "NaN is not a valid value here", "bad-number")
            self.scalar_values[key] = value
        return self.scalar_values[key]

    def bad_tag(self, tag: str, span: Span):
        self.fail(span, _bad_tag(tag), "yaml-tag", [_PLAIN_DATA])

    def anchor(self, event, entry) -> None:
        first = self.anchors.get(event.anchor)
        if first is not None:
            where = first.start if isinstance(first, _Opened) else _Mark(first[1])
            raise yaml.composer.ComposerError(f"found duplicate anchor '&{event.anchor}'; first occurrence", where,
                                              "second occurrence", event.start_mark)
        self.anchors[event.anchor] = entry

    def alias(self, event, depth: int) -> tuple[Any, Span, int, int]:
        entry = self.anchors.get(event.anchor)
        if entry is None:
            raise yaml.composer.ComposerError(None, None, f"found undefined alias '*{event.anchor}'",
                                              event.start_mark)
        if isinstance(entry, _Opened):  # the alias is inside the node it names
            self.fail_open(entry.start, depth - entry.depth + 1,
                           "a YAML alias refers to the node that contains it (a cycle)", "yaml-recursive-alias")
        if depth + entry[3] > MAX_DEPTH:
            self.fail(_span(self.file, event.start_mark, event.end_mark),
                      f"the YAML is nested more than {MAX_DEPTH} levels deep (aliases expanded)", "yaml-too-large")
        # the anchored value itself, not a copy: an alias is the same node in YAML. Nothing
        # downstream writes into a composed value but load._names_as_written, which renames a
        # layer's numeric name to its text alike at every use (as merged values are shared too)
        return entry

    def key(self, out: YMap, key, span: Span):
        if key is _MERGE_KEY:
            return key
        if isinstance(key, (YMap, YList)):  # an alias of a list or mapping
            self.fail(span, "a mapping key must be a plain scalar", "yaml-key")
        if not isinstance(key, (str, int, float, bool)) or key is None:
            self.fail(span, f"a mapping key must be a name, not {key!r}", "yaml-key")
        if key in out:
            self.fail(span, f"duplicate key '{key}'", "duplicate-key", [f"first given at {out.key_spans[key]}"])
        out.key_spans[key] = span
        return key

    def merge(self, out: YMap, merges: list) -> None:
        """The mappings named by YAML merge keys (`<<: *base` or `<<: [*a, *b]`), the first
        winning; the mapping's own keys win over all of them."""
        for value, span in merges:
            for base, base_span in zip(value, value.value_spans) if isinstance(value, YList) else [(value, span)]:
                if not isinstance(base, YMap):
                    self.fail(base_span, "a merge key `<<` takes a mapping or a list of mappings", "yaml-merge")
                for key in [k for k in base if k not in out]:
                    out[key], out.key_spans[key], out.value_spans[key] = base[key], base.key_spans[key], base.value_spans[key]


def _bad_tag(tag: str) -> str:
    return f"unsupported YAML tag '{tag.replace(_CORE, '!!')}'"


_PLAIN_DATA = "specs hold plain data: maps, lists, strings, numbers, booleans and null"


class _Mark:
    """A span's start as the mark a YAML error names."""

    def __init__(self, span: Span):
        self.line, self.column = span.line - 1, span.col - 1


def load_text(text: str, file: str) -> Any:
    """Parse YAML text into YMap/YList/scalars; raises SpecError with a location."""
    try:
        composer = _Composer(text, file)
    except UnicodeEncodeError as e:  # a lone surrogate, from a command line's undecodable bytes
        raise SpecError(Diagnostic(f"{file} is not UTF-8 text ({e.reason} at character {e.start})",
                                   Span(file, 1, 1), code="not-utf8")) from None
    collecting = gc.isenabled()
    gc.disable()  # the values hold no cycles: collecting while a big document grows makes loading quadratic
    try:
        if hasattr(composer.loader, "raw_parse"):  # libyaml's: a text too long is refused before it is built
            yaml_events.refuse_too_long(text, file, _Loader)
        root = composer.document()
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
    finally:
        composer.loader.dispose()
        if collecting:
            gc.enable()
    return root


def load_file(path: Path, display: str) -> tuple[Any, str]:
    """Read and parse a spec file; returns (data, text)."""
    data = read_spec(path, display)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        span = Span(display, data.count(b"\n", 0, e.start) + 1, e.start - line_start + 1)
        raise SpecError(Diagnostic(f"{display} is not UTF-8 text ({e.reason} at byte {e.start})",
                                   span, code="not-utf8")) from None
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
