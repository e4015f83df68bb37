"""The terminal table: --depth rolls blocks up with their totals, the table fits a width
(columns dropped least important first, then wrapped), --columns chooses, colour only when
asked for or on a terminal without NO_COLOR; JSON and a pipe's table are unchanged."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nncompile.compiler import build
from nncompile.compiler.backends import report

ROOT = Path(__file__).resolve().parents[3]
RESNET50 = ROOT / "specs" / "resnet50.yaml"
ANSI = re.compile(r"\033\[[0-9;]*m")


def row(table: str, name: str) -> str:
    return next(line for line in table.splitlines() if line.lstrip().startswith(name + " ("))


def heading(table: str) -> list[str]:
    lines = table.splitlines()
    return lines[next(i for i, line in enumerate(lines) if line.startswith("─")) - 1].split()


@pytest.fixture(scope="module")
def resnet50():
    return build(RESNET50)


def test_depth_rolls_blocks_up_with_their_totals(resnet50):
    table = report.render_table(resnet50, depth=1)
    layer3 = [n for n in resnet50.nodes.values() if n.name.startswith("layer3.")]
    stage = row(table, "layer3")  # the stage, a row of its own above its six blocks
    assert "lib.bottleneck × 6" in stage and f"{sum(n.param_count for n in layer3):,}" in stage
    assert f"{len(layer3)} layers" in stage and "N×1024×14×14" in stage
    block = row(table, "layer3.0")
    block_params = sum(n.param_count for n in layer3 if n.name.startswith("layer3.0."))
    assert block.startswith("  layer3.0 (lib.bottleneck)") and f"{block_params:,}" in block
    assert "layer2.3" in block  # its input: the row it comes from, not layer2.3.relu
    assert "layer3.0.conv1" not in table  # nothing deeper than the blocks
    stages = report.render_table(resnet50, depth=0)
    assert "layer1.0" not in stages and row(stages, "avgpool").split()[3] == "layer4"  # after its line
    # the rows at any depth add up to the network's total
    params = report.render_table(resnet50, depth=0, columns=["layer", "params"])
    top = [row(params, n).split()[-1] for n in ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc")]
    assert sum(int(p.replace(",", "")) for p in top) == resnet50.totals.params


def test_a_block_whose_macs_a_symbolic_size_leaves_unknown_shows_them_as_unknown():
    """fast_rcnn_vgg16's features run on an N×3×H×W image: their MACs are unknown, and the
    block's row says so (summing them raised a TypeError)."""
    graph = build(ROOT / "specs" / "fast_rcnn_vgg16.yaml")
    assert graph.totals.macs is None and any(n.macs is None for n in graph.nodes.values())
    features = row(report.render_table(graph, depth=0, columns=["layer", "params", "macs"]), "features")
    assert features.split()[-2:] == ["14,714,688", "?"]
    fc6 = row(report.render_table(graph, depth=0, columns=["layer", "macs"]), "fc6")
    assert fc6.split()[-1] == "102.76M"  # a layer whose count is known keeps it


def test_without_depth_or_width_the_table_is_every_layer_and_every_column(resnet50):
    table = report.render_table(resnet50)
    assert row(table, "layer3.0.conv1")
    assert heading(table) == ["layer", "(op)", "line", "inputs", "output", "arithmetic",
                                             "params", "MACs", "RF"]
    assert "\033[" not in table


def test_a_width_drops_the_least_important_columns_first(resnet50):
    full = report.render_table(resnet50, depth=1)
    narrow = report.render_table(resnet50, depth=1, width=100)
    assert max(map(len, narrow.splitlines())) <= 100 < max(map(len, full.splitlines()))
    shown = heading(narrow)
    assert "line" not in shown and "arithmetic" not in shown  # dropped first
    assert {"output", "params", "MACs"} <= set(shown)  # kept


def test_chosen_columns_are_kept_and_wrapped_to_fit():
    graph = build(ROOT / "specs" / "ccp.yaml")
    table = report.render_table(graph, columns=["layer", "arithmetic", "params"], width=50)
    lines = table.splitlines()
    assert heading(table) == ["layer", "(op)", "arithmetic", "params"]
    assert max(map(len, lines)) <= 50
    conv = lines.index(row(table, "layer1.conv1"))
    assert "1,792" in lines[conv] and lines[conv + 1].startswith(" ")  # the arithmetic wrapped on
    with pytest.raises(ValueError, match="unknown column 'bogus'; the columns are layer, line"):
        report.columns_named(["layer", "bogus"])


def test_totals_give_memory_in_mb(resnet50):
    table = report.render_table(resnet50)
    t = resnet50.totals
    assert f"memory       {(t.params + t.buffers) * 4 / 1e6:,.2f} MB params and buffers" in table
    assert f"{t.activation_bytes / 1e6:,.2f} MB activations per sample" in table


def test_colour_is_bold_headings_and_stage_rows_only_when_asked(resnet50):
    coloured = report.render_table(resnet50, depth=1, color=True)
    assert "\033[1mlayer1 (lib.bottleneck × 3)" in coloured
    assert ANSI.sub("", coloured) == report.render_table(resnet50, depth=1)


def test_html_is_the_depth_1_table_with_totals(resnet50):
    page = report.render_html(resnet50)
    assert page.count("<tr>") == 1 + len(report._rows(resnet50, 1))
    assert "<b>layer1 (lib.bottleneck × 3)</b>" in page and "layer1.0 (lib.bottleneck)" in page
    assert "layer1.0.conv1" not in page and "25,557,032" in page


# --- the command ---------------------------------------------------------------------------------

def test_build_depth_1_of_resnet50_fits_100_columns(run_nncompile):
    result = run_nncompile("build", RESNET50, "--depth", "1", env={"COLUMNS": "100"})
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert max(map(len, lines)) <= 100 and len(lines) < 50  # was 172 columns, 191 lines
    assert "\033[" not in result.out  # not a terminal: no colour


def test_a_pipe_gets_the_whole_table_and_json_is_unchanged(run_nncompile):
    env = {"COLUMNS": "", "NO_COLOR": ""}
    table = run_nncompile("build", RESNET50, env=env).out
    assert max(map(len, table.splitlines())) > 150 and "layer4.2.conv3 (conv2d)" in table
    report_json = json.loads(run_nncompile("build", RESNET50, "--format", "json", env={"COLUMNS": "40"}).out)
    assert len(report_json["layers"]) == len(build(RESNET50).nodes) - 1


def test_build_flags(cli, in_repo):
    spec = "specs/ccp.yaml"
    out = cli("build", spec, "--columns", "layer,params", "--width", "60", "--color", "always").out
    assert "\033[1mlayer (op)" in out and "inputs" not in out
    assert "\033[" not in cli("build", spec, "--color", "never").out
    markdown = cli("build", spec, "--format", "markdown", "--depth", "0", "--columns", "layer,params").out
    assert "| layer (op) | params |" in markdown and "| layer1 (lib.ccp) | 38,720 |" in markdown
    for flags in (["--columns", "layer,nope"], ["--width", "0"], ["--color", "sometimes"], ["--depth", "x"],
                  ["--format", "json", "--depth", "1"], ["--format", "markdown", "--width", "80"]):
        result = cli("build", spec, *flags)
        assert result.code == 2 and result.out == "", flags


def on_a_terminal(*args, env: dict[str, str]) -> str:
    """`nncompile` with its stdout on a pseudo-terminal, as a user's shell runs it."""
    pty = pytest.importorskip("pty")
    master, terminal = pty.openpty()
    child = subprocess.Popen([sys.executable, "-m", "nncompile.cli", *map(str, args)], stdout=terminal,
                             stderr=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "", **env})
    os.close(terminal)
    out = b""
    while True:  # read while it writes: a full terminal buffer would block it
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal (EIO)
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert child.wait(timeout=60) == 0
    return out.decode()


def test_colour_on_a_terminal_unless_no_color():
    spec = ROOT / "specs" / "ccp.yaml"
    assert "\033[1mlayer (op)" in on_a_terminal("build", spec, "--depth", "0", env={"NO_COLOR": ""})
    assert "\033[" not in on_a_terminal("build", spec, "--depth", "0", env={"NO_COLOR": "1"})
    assert "\033[1m" in on_a_terminal("build", spec, "--color", "always", env={"NO_COLOR": "1"})
