"""Any error fits on a screen (issue 12, items 12-13): a long line is cut around the caret,
user text quoted in a message is shortened, at most 50 diagnostics are printed, and every
diagnostic names a file:line:col, whatever the input (a 2 MB line, a 200 MB file, binary
garbage, thousands of errors)."""

from __future__ import annotations

import os
import re

import pytest

from nncompile.compiler.diagnostics import MAX_SHOWN, Diagnostic, Span, excerpt, render_all
from nncompile.compiler.source import SourceCache

LOCATED = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+): error: ")


def caret_column(stderr: str, token: str) -> tuple[str, int, int]:
    """(the quoted line, where token starts in it, where the caret starts) of the first diagnostic."""
    quoted, carets = stderr.splitlines()[1:3]
    return quoted, quoted.index(token), carets.index("^")


def test_a_2mb_line_is_cut_around_the_caret(run_nncompile, tmp_path):
    layers = [f"{{a{i}: relu}}" for i in range(150_000)]
    layers.insert(75_000, "{b: !!python/name:os.system nope}")  # refused as it is read: no 150,000-layer build
    spec = tmp_path / "flow.yaml"
    spec.write_text(f"{{inputs: {{x: [N, 3]}}, layers: [{', '.join(layers)}]}}\n")
    assert spec.stat().st_size > 2_000_000
    result = run_nncompile("build", spec)
    assert result.code == 1 and "Traceback" not in result.err
    assert len(result.err) < 2_000, result.err[:3000]
    where = LOCATED.match(result.err)
    assert where and int(where["line"]) == 1
    column = int(where["col"])
    assert spec.read_text()[column - 1:column + 3] == "!!py"  # the location is exact
    quoted, token, caret = caret_column(result.err, "!!py")
    assert token == caret and "[yaml-tag]" in result.err
    assert quoted.startswith("    1 | ...") and quoted.endswith("...")


@pytest.mark.parametrize("col, width", [(1, 1), (50, 3), (2_000, 5), (4_990, 11), (5_001, 1), (3_000, 10_000)])
def test_the_caret_stays_under_the_token(col, width):
    text = "".join(chr(ord("a") + i % 26) for i in range(5_000))
    shown, caret, carets = excerpt(text, col, width)
    assert len(shown) <= 2 * 40 + 80 + 6
    assert shown[caret:caret + carets] == text[col - 1:col - 1 + carets]
    assert shown.startswith("...") == (col > 41) and shown.endswith("...") == (col + min(width, 80) + 40 <= 5_000)


def test_a_short_line_is_shown_whole_and_control_characters_are_not_sent_to_the_terminal():
    assert excerpt("layers: [a, b]", 10, 1) == ("layers: [a, b]", 9, 1)
    line = "a: 'x\x1b[2Jy'\t# \u202eevil"
    shown, caret, _ = excerpt(line, 9, 1)
    assert shown == "a: 'x\ufffd[2Jy' # \ufffdevil" and caret == 8


def test_a_100kb_name_in_a_message_is_shortened(run_nncompile, tmp_path):
    name = "n" * 100_000
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"inputs: {{x: [N, 3]}}\nlayers:\n  - a: {{op: relu, in: {name}}}\n")
    result = run_nncompile("build", spec)
    assert result.code == 1 and "Traceback" not in result.err
    assert len(result.err) < 2_000, result.err[:3000]
    assert LOCATED.match(result.err) and "…" in result.err.splitlines()[0]


def test_messages_keep_their_ends_and_escape_control_characters():
    d = Diagnostic("unknown layer '" + "x" * 100_000 + "' (did you mean 'y'?)\x1b[2J", notes=["z" * 5_000])
    assert len(d.message) < 200 and d.message.startswith("unknown layer 'xxx") and "(did you mean 'y'?)" in d.message
    assert "\x1b" not in d.message and "\\x1b" in d.message and len(d.notes[0]) < 200
    short = "layer 'b' (linear): in_features is 5, but its input has 3 features"
    assert Diagnostic(short).message == short


def test_at_most_50_diagnostics_are_printed_and_all_are_counted(run_nncompile, tmp_path):
    bad = 1_284
    spec = tmp_path / "spec.yaml"
    spec.write_text("inputs: {x: [N, 3]}\nlayers:\n" + "".join(f"  - a{i}: {{op: nope{i}}}\n" for i in range(bad)))
    result = run_nncompile("check", spec)
    assert result.code == 1 and "Traceback" not in result.err
    lines = result.err.splitlines()
    assert lines[-2:] == [f"and {bad - MAX_SHOWN:,} more errors", f"{bad:,} errors"]
    assert sum(bool(LOCATED.match(line)) for line in lines) == MAX_SHOWN
    assert len(result.err) < 50 * 400


def test_errors_are_shown_before_warnings_when_some_must_go():
    warnings = [Diagnostic(f"w{i}", severity="warning") for i in range(60)]
    errors = [Diagnostic(f"e{i}") for i in range(3)]
    text = render_all(warnings + errors, limit=10)
    assert all(f"error: e{i}" in text for i in range(3)) and text.count("warning: ") == 7
    assert text.splitlines()[-2:] == ["and 53 more warnings", "3 errors"]
    assert render_all(errors[:1]).splitlines() == ["error: e0", "1 error"]


def test_a_200mb_file_is_refused_by_size_before_it_is_read(run_nncompile, tmp_path):
    spec = tmp_path / "big.yaml"
    with open(spec, "wb") as f:  # sparse: 200 MB on paper, nothing on disk
        f.truncate(200 * 1024 * 1024)
    result = run_nncompile("check", spec, timeout=30)
    assert result.code == 1 and "Traceback" not in result.err
    assert LOCATED.match(result.err)["file"] == str(spec)
    assert "209,715,200 bytes; specs are limited to 20,971,520" in result.err and len(result.err) < 500


def test_binary_garbage_is_located_and_printable(run_nncompile, tmp_path):
    spec = tmp_path / "garbage.yaml"
    spec.write_bytes(bytes(range(256)) * 40)
    result = run_nncompile("check", spec)
    assert result.code == 1 and "Traceback" not in result.err
    assert LOCATED.match(result.err) and len(result.err) < 1_000
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", result.err)


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_an_import_that_is_not_a_file_is_located(run_nncompile, tmp_path, kind):
    target = tmp_path / "lib.yaml"
    target.mkdir() if kind == "directory" else os.mkfifo(target)
    spec = tmp_path / "spec.yaml"
    spec.write_text("import: {lib: lib.yaml}\ninputs: {x: [N, 3]}\nlayers: [{a: relu}]\n")
    result = run_nncompile("check", spec, timeout=30)  # a FIFO read would wait for a writer forever
    assert result.code == 1 and "Traceback" not in result.err
    assert LOCATED.match(result.err)


def test_a_quoted_line_is_never_read_from_what_is_not_a_file(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    assert SourceCache().line(str(fifo), 1) is None  # returns at once: no wait for a writer
    assert Diagnostic("x", Span(str(fifo), 1, 1)).render(SourceCache()) == f"{fifo}:1:1: error: x"
