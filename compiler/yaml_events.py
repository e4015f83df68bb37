"""How long a YAML text is, in events (each scalar and alias, and each list's and mapping's
start and end), counted by libyaml in C before any value is built: a text too long is
refused in a fraction of the time building its values would take, and in no more memory
than the text.

Counting costs libyaml's time per event, so a long text is not counted whole: a prefix
long enough to hold more than the limit is (its length estimated from a small sample),
cut at a line or a flow separator and closed with the brackets that libyaml says are still
open. What a prefix holds the whole text holds too, but for the few events the cut and
the closing brackets may add, which are taken off.
"""

from __future__ import annotations

import yaml

from .diagnostics import Diagnostic, SpecError, Span

# a 100,000-layer chain is 650,000 events; a flat file of more than 250,000 layers, the most a
# network may have, is more than 1,000,000
MAX_EVENTS = 1_000_000
_COUNTED_FROM = MAX_EVENTS // 2  # characters: a shorter text holds fewer events (each takes one or more)
_SAMPLE = 64 * 1024  # characters counted first, to estimate how many events a character holds
_CLOSING_TRIES = 8  # brackets added to close a prefix cut inside flow collections
_CLOSERS = {"while parsing a flow sequence": "]", "while parsing a flow mapping": "}"}


def refuse_too_long(text: str, file: str, loader: type) -> None:
    """Raise SpecError (yaml-too-large) if the text is more than MAX_EVENTS events long,
    pointing where the count passed it. A syntax error is left to the composer, which
    reports it where it is."""
    if len(text) < _COUNTED_FROM:
        return
    try:
        count, end = at_least(text, MAX_EVENTS, loader)
    except yaml.YAMLError:
        return
    if count > MAX_EVENTS:
        whole = end == len(text)
        line_start = text.rfind("\n", 0, end) + 1
        at = Span(file, 1, 1) if whole else Span(file, text.count("\n", 0, end) + 1, end - line_start + 1)
        raise SpecError(Diagnostic(f"the document is more than {MAX_EVENTS:,} YAML events long: {count:,}"
                                   f"{'' if whole else ' by here'} (an event is a key, a value, or where a list "
                                   "or mapping opens or closes)", at, code="yaml-too-large"))


def at_least(text: str, limit: int, loader: type) -> tuple[int, int]:
    """(n, end): the text holds at least n events, n > limit if it holds more than limit,
    counted in text[:end] (end == len(text): exactly n)."""
    if len(text) <= _SAMPLE:
        return _count(text, loader), len(text)
    sample = _prefix_count(text, _SAMPLE, loader)
    if sample is not None and sample[0] > 0:
        count, end, closers = sample
        wanted = int((limit + 1_000) * 1.25 * end / count)  # a quarter to spare: the density may vary
        if wanted < len(text):  # a list of like items is cut where the sample was: start with its brackets
            found = _prefix_count(text, wanted, loader, closers) or _prefix_count(text, wanted, loader)
            if found is not None and found[0] > limit:
                return found[:2]
    return _count(text, loader), len(text)


def _prefix_count(text: str, end: int, loader: type, closers: str = "") -> tuple[int, int, str] | None:
    """(events text[:cut] surely holds, cut, the brackets that closed it) for a cut at or
    before end, or None where the prefix cannot be closed (cut inside a quoted scalar, say)."""
    cut = text.rfind("\n", 0, end)
    if cut < end // 2:  # a long line, a flow list: cut between two of its items, lists or mappings if it can
        after_item = max(text.rfind("}, ", 0, end), text.rfind("], ", 0, end)) + 1
        cut = after_item if after_item > end // 2 else text.rfind(",", 0, end)
    if cut <= 0:
        return None
    prefix, given = text[:cut], bool(closers)
    for _ in range(_CLOSING_TRIES):
        try:
            # each bracket closes one collection and may give a key its null value; the cut
            # itself may turn a key into a value: neither is in the whole text
            return _count(prefix + closers, loader) - 2 * len(closers) - 2, cut, closers
        except yaml.MarkedYAMLError as e:
            closer = _CLOSERS.get(e.context or "")
            if given or closer is None or e.problem_mark is None or e.problem_mark.index < len(prefix):
                return None  # brackets guessed wrong, a mistake before the cut, or a cut no bracket closes
            closers += closer
        except yaml.YAMLError:
            return None
    return None


def _count(text: str, loader: type) -> int:
    parser = loader(text)
    try:
        return parser.raw_parse()
    finally:
        parser.dispose()
