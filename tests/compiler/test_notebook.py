"""A built network in a notebook: IPython's display formatter shows its summary table (HTML, at
depth 1 with the totals) and its diagram (SVG, rendered by dot; the DOT text and how to
install dot when there is none); a short repr; summary() mirrors `nncompile build`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nncompile.compiler import analyse, build, summary

formatters = pytest.importorskip("IPython.core.formatters")
ROOT = Path(__file__).resolve().parents[2]
RESNET50 = ROOT / "specs" / "resnet50.yaml"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def display(obj) -> dict[str, str]:
    data, _ = formatters.DisplayFormatter().format(obj)
    return data


@pytest.fixture(scope="module")
def resnet50():
    return build(RESNET50)


@needs_dot
def test_a_network_shows_its_table_and_its_diagram(resnet50):
    shown = display(resnet50)
    page = shown["text/html"]
    assert page.count("<table>") == 1 and "<b>layer1 (lib.bottleneck × 3)</b>" in page  # depth 1: stages
    assert "layer1.0 (lib.bottleneck)" in page and "layer1.0.conv1" not in page
    assert "25,557,032 (25,557,032 trainable)" in page  # the totals
    assert "<svg" in page and "<?xml" not in page  # the diagram, inline after the table
    picture = shown["image/svg+xml"]
    assert picture.lstrip().startswith("<?xml") and "</svg>" in picture and "layer1.1–2" in picture
    assert shown["text/plain"] == repr(resnet50)


def test_without_dot_the_diagram_is_its_dot_text_and_how_to_install_dot(resnet50, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    shown = display(resnet50.diagram(depth=1))
    assert "image/svg+xml" not in shown
    assert "install graphviz's dot to render" in shown["text/html"] and "apt-get install graphviz" in shown["text/html"]
    assert "digraph &quot;resnet50&quot;" in shown["text/html"] or 'digraph "resnet50"' in shown["text/html"]
    assert "<table>" in display(resnet50)["text/html"]  # the table needs no dot


def test_repr_is_one_line_with_the_totals():
    assert repr(build(RESNET50)) == ("<Graph resnet50: image N×3×224×224 → fc N×1000; 25,557,032 params, "
                                     "4,089,184,256 MACs; 0 errors>")
    broken = analyse(ROOT / "tests" / "compiler" / "backends" / "diagram_specs" / "broken.yaml")
    assert repr(broken).endswith("; 1 error>") and "\n" not in repr(broken)


def test_summary_mirrors_build(resnet50, cli, in_repo, capsys):
    text = summary(RESNET50, depth=1, verbose=False)
    assert capsys.readouterr().out == ""
    assert text == cli("build", RESNET50, "--depth", "1").out.rstrip("\n")
    assert repr(text) == text  # a REPL shows the table itself, not a quoted string
    assert summary(resnet50, depth=0, columns=["layer", "params"], verbose=True) in capsys.readouterr().out
    with pytest.raises(ValueError, match="unknown column"):
        summary(resnet50, columns=["size"], verbose=False)


def test_summary_prints_in_a_script_not_where_its_value_shows_itself(tmp_path):
    script = ("from nncompile.compiler import summary\n"
              f"text = summary({str(RESNET50)!r}, depth=0)\n")
    printed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0 and "layer4 (lib.bottleneck × 3)" in printed.stdout
    repl = subprocess.run([sys.executable, "-i"], input=script, capture_output=True, text=True, timeout=60)
    assert repl.returncode == 0 and "layer4" not in repl.stdout


def test_building_imports_no_report_or_diagram():
    code = ("import sys; from nncompile.compiler import build; build('specs/ccp.yaml'); "
            "print(sorted(m for m in sys.modules if m.endswith(('.report', '.diagram', '.graphviz'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
