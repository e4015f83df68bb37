"""The table's cells are wrapped as textwrap.wrap wraps them: the shortcut for a cell that
fits must give textwrap's very lines, whatever the cell holds."""

from __future__ import annotations

import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from nncompile.compiler.backends.table import _wrapped

cells = st.text(alphabet=st.sampled_from(list("ab  -×\t\n\r\x0b\x1b")), max_size=30)


@settings(max_examples=500, deadline=None)
@given(cells, st.integers(min_value=1, max_value=40))
def test_a_cell_wraps_into_textwraps_lines(text, width):
    assert _wrapped(text, width) == (textwrap.wrap(text, width, break_on_hyphens=False) or [""])

