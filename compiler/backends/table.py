"""A text table that fits a terminal's width: columns dropped least important first, then the
wrappable ones wrapped; ANSI colour on request (the caller decides: a TTY, NO_COLOR, --color)."""

from __future__ import annotations

from typing import Any, NamedTuple

GAP = "  "
MIN_WRAP = 12  # a wrapped column narrower than this reads worse than a table wider than the screen
BOLD, DIM, RESET = "\033[1m", "\033[2m", "\033[0m"


class Column(NamedTuple):  # (NamedTuples: a tenth of a dataclass's cost to declare, at every start)
    key: str  # what --columns names it by
    title: str
    right: bool = False  # numbers align right
    wrap: bool = False  # text that may wrap onto further lines
    drop: int | None = None  # the order it is dropped in to fit (lowest first); None: never


class Row(NamedTuple):
    cells: dict[str, str]
    strong: bool = False  # a block's total, bold when coloured


def fit(columns: list[Column], rows: list[Row], width: int | None, dropping: bool = True) -> list[Column]:
    """The columns that fit `width` with their text unwrapped, dropping (when allowed) the least
    important first; wrapping, in layout(), takes care of what is still too wide."""
    shown = list(columns)
    if width is None or not dropping:
        return shown
    widths = {c.key: max(map(len, _texts(c, rows))) for c in columns}
    for column in sorted((c for c in columns if c.drop is not None), key=lambda c: c.drop):
        if _natural(shown, widths) <= width:
            break
        if len(shown) > 1:
            shown.remove(column)
    return shown


def _natural(columns: list[Column], widths: dict[str, int]) -> int:
    return sum(widths[c.key] for c in columns) + len(GAP) * (len(columns) - 1)


def _texts(column: Column, rows: list[Row]) -> list[str]:
    """The column's title and its cells, in order."""
    return [column.title, *[r.cells.get(column.key, "") for r in rows]]


def layout(columns: list[Column], rows: list[Row], width: int | None, color: bool) -> list[str]:
    """The header, its rule and the rows, each cell padded; wrappable columns share what is left
    of `width` when the natural widths exceed it."""
    texts = {c.key: _texts(c, rows) for c in columns}
    widths = {c.key: max(map(len, texts[c.key])) for c in columns}
    excess = _natural(columns, widths) - width if width else 0
    for column in sorted((c for c in columns if c.wrap), key=lambda c: -widths[c.key]):
        if excess <= 0:
            break
        cut = min(excess, widths[column.key] - MIN_WRAP)
        if cut > 0:
            widths[column.key] -= cut
            excess -= cut
    if all(_one_line(texts[c.key], widths[c.key]) for c in columns):  # a table in a pipe, and most others
        # each line padded as str.ljust and rjust pad, in one call: "%-8s  %5s" % cells
        line_format = GAP.join(f"%{'' if c.right else '-'}{widths[c.key]}s" for c in columns)
        lines = [[(line_format % cells).rstrip()] for cells in zip(*(texts[c.key] for c in columns))]
    else:
        pads = [(widths[c.key], str.rjust if c.right else str.ljust) for c in columns]
        lines = [_lines([texts[c.key][i] for c in columns], pads) for i in range(len(rows) + 1)]
    out = [paint(lines[0][0], BOLD, color), paint(GAP.join("─" * widths[c.key] for c in columns), DIM, color)]
    for row, row_lines in zip(rows, lines[1:]):
        out += [paint(line, BOLD, True) for line in row_lines] if color and row.strong else row_lines
    return out


def _one_line(texts: list[str], width: int) -> bool:
    """Whether every text is its own one line in `width` (what _wrapped would give it), checked
    for the whole column at once."""
    return max(map(len, texts)) <= width and "".join(texts).isprintable() and " \0" not in "\0".join(texts) + "\0"


def _lines(cells: list[str], pads: list[tuple[int, Any]]) -> list[str]:
    """A row's lines, its cells wrapped to their widths."""
    parts = [_wrapped(text, width) for text, (width, _) in zip(cells, pads)]
    return [GAP.join([pad(part[i] if i < len(part) else "", width) for part, (width, pad) in zip(parts, pads)]).rstrip()
            for i in range(max(map(len, parts)))]


def _wrapped(text: str, width: int) -> list[str]:
    """textwrap.wrap's lines of the cell, or [""]; a cell that fits as it is (most do) is its
    own line, without textwrap's cost (which was most of a 10,000-layer table's)."""
    if not text:
        return [""]
    if len(text) <= width and text[-1] != " " and text.isprintable():
        return [text]  # what textwrap gives: no tab or newline to replace, no trailing space to drop
    import textwrap  # (imported here: a pipe's table, the usual one, wraps nothing)

    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def paint(text: str, style: str, color: bool) -> str:
    return f"{style}{text}{RESET}" if color and text else text
