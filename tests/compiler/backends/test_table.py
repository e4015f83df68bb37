"""The table's cells are wrapped as textwrap.wrap wraps them: the shortcut for a cell that
fits must give textwrap's very lines, whatever the cell holds; a table that wraps nothing is
padded as a wrapped one's cells are."""

from __future__ import annotations

import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from nncompile.compiler.backends.table import Column, Row, _lines, _one_line, _wrapped, layout

cells = st.text(alphabet=st.sampled_from(list("ab  -×\t\n\r\x0b\x1b")), max_size=30)


@settings(max_examples=500, deadline=None)
@given(cells, st.integers(min_value=1, max_value=40))
def test_a_cell_wraps_into_textwraps_lines(text, width):
    assert _wrapped(text, width) == (textwrap.wrap(text, width, break_on_hyphens=False) or [""])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet="ab -%s×", max_size=8), st.text(alphabet="1,% →", max_size=8)), max_size=5))
def test_a_table_that_wraps_nothing_is_padded_as_its_cells_would_be_wrapped(cells):
    """(its lines are written with one %-format a line: a % in a cell is text like any other)"""
    columns = [Column("name", "name"), Column("params", "params", right=True)]
    rows = [Row(dict(zip(["name", "params"], pair))) for pair in cells]
    widths = [max(len(c.title), 0, *(len(r.cells[c.key]) for r in rows)) for c in columns]
    pads = [(widths[0], str.ljust), (widths[1], str.rjust)]
    unwrapped = layout(columns, rows, None, color=False)
    assert [unwrapped[0], *unwrapped[2:]] == [_lines(["name", "params"], pads)[0]] + [
        line for r in rows for line in _lines([r.cells["name"], r.cells["params"]], pads)]



@settings(max_examples=500, deadline=None)
@given(st.lists(cells, min_size=1, max_size=6), st.integers(min_value=1, max_value=40))
def test_a_column_is_taken_as_one_line_a_cell_exactly_when_each_cell_is(texts, width):
    """layout() pads a column whose every cell fits as it is without wrapping any: each of them
    must be what textwrap would make of it, and a column is taken so whenever every cell fits."""
    each_fits = all(len(t) <= width and t[-1:] != " " and t.isprintable() for t in texts)
    assert _one_line(texts, width) == each_fits
    if each_fits:
        assert all(_wrapped(t, width) == (textwrap.wrap(t, width, break_on_hyphens=False) or [""]) == [t or ""]
                   for t in texts)
