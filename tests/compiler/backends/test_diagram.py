"""The diagram backend: golden DOT, rendering every shipped spec, failing specs, collapse,
depth, and the `draw` command (including a missing Graphviz).

NNCOMPILE_UPDATE_GOLDEN=1 rewrites the golden DOT files (review the diff, and look at the
rendered pictures, before committing).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from nncompile.compiler import analyse
from nncompile.compiler.backends import diagram
from nncompile.compiler.diagnostics import fmt_int

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).parent
SPECS = HERE / "diagram_specs"
GOLDEN = HERE / "golden"
UPDATE = os.environ.get("NNCOMPILE_UPDATE_GOLDEN") == "1"
SHIPPED = sorted((ROOT / "specs").glob("*.yaml"))
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")

NODE = re.compile(r'^\s*"([^"]+)" \[label=<(.*)>, (.*)\];$')
EDGE = re.compile(r'^\s*"([^"]+)" -> "([^"]+)"(?: \[label=<([^>]*)>\])?;$')


def boxes(dot: str) -> dict[str, str]:
    """Drawn boxes (not cluster titles): id -> label text with the markup stripped."""
    found = {}
    for line in dot.splitlines():
        m = NODE.match(line)
        if m and not m.group(1).startswith("title:"):
            text = re.sub(r"<[^>]+>", "", m.group(2).replace("<br/>", "\n"))
            found[m.group(1)] = text.replace("&gt;", ">").replace("&lt;", "<")
    return found


def box_styles(dot: str) -> dict[str, str]:
    return {m.group(1): m.group(3) for m in map(NODE.match, dot.splitlines()) if m}


def edges(dot: str) -> dict[tuple[str, str], str | None]:
    """Data edges, (tail, head) -> the shape written on them."""
    return {(m.group(1), m.group(2)): m.group(3) for m in map(EDGE.match, dot.splitlines()) if m}


def cluster_titles(dot: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", m) for m in re.findall(r'"title:[^"]+" \[.*label=<(.*)>\];', dot)]


# --- golden DOT ------------------------------------------------------------------------------

GOLDEN_CASES = {
    "ccp": (ROOT / "specs" / "ccp.yaml", {}),
    "xor_handset": (ROOT / "specs" / "xor_handset.yaml", {}),
    "residual_collapsed": (SPECS / "residual.yaml", {"collapse": True}),
    "broken": (SPECS / "broken.yaml", {}),
}


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_golden_dot(name):
    spec, options = GOLDEN_CASES[name]
    dot = diagram.draw(analyse(spec), **options).dot
    path = GOLDEN / f"{name}.dot"
    if UPDATE or not path.exists():
        path.write_text(dot, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"wrote the missing golden {path.name}: review and commit it")
    assert dot == path.read_text(encoding="utf-8")


# --- what a drawing shows -----------------------------------------------------------------------

def test_ccp_blocks_are_clusters_with_shapes_on_edges_and_params_on_nodes():
    graph = analyse(ROOT / "specs" / "ccp.yaml")
    dot = diagram.draw(graph).dot
    assert cluster_titles(dot) == ["layer1 : lib.ccp", "layer2 : lib.ccp", "layer3 : lib.ccp"]
    drawn = boxes(dot)
    for node in graph.nodes.values():
        if node.op == "input":
            continue
        label = drawn[node.name]
        assert "×".join(map(str, node.type.shape[1:])) in label  # output shape, batch left out
        if node.params:  # params as the independent product of the parameter shapes
            assert fmt_int(sum(math.prod(s) for s in node.params.values())) + " params" in label
    shapes = edges(dot)
    assert shapes[("layer1.pool", "layer2.conv1")] == "64×112×112"  # (224 − 2)/2 + 1 = 112
    assert shapes[("layer3.pool", "flatten")] == "8×28×28"
    assert shapes[("flatten", "fc")] == "6272"  # 8·28·28
    assert ("fc", "output:fc") in shapes and "N×10" in drawn["output:fc"]
    assert "conv 3×3/1, 64" in drawn["layer1.conv1"]


def test_frozen_layers_are_dashed_and_shared_weights_named():
    graph = analyse(SPECS / "residual.yaml")
    dot = diagram.draw(graph).dot
    styles, drawn = box_styles(dot), boxes(dot)
    assert "dashed" in styles["stem"] and "frozen" in drawn["stem"]
    assert "dashed" not in styles["mix"]
    assert "shares mix" in drawn["mix_again"] and "params" not in drawn["mix_again"]
    assert "(224 frozen)" in dot  # 8·3·3·3 + 8, the stem's weight and bias


def test_failing_layer_is_marked_with_its_message_and_downstream_is_unknown():
    graph = analyse(SPECS / "broken.yaml")
    assert [d.message for d in graph.errors] and graph.nodes["act"].type is None
    dot = diagram.draw(graph).dot
    styles, drawn = box_styles(dot), boxes(dot)
    assert diagram.ERROR[1] in styles["fc"]  # the red border
    message = " ".join(drawn["fc"].split()).replace("\u00a0", " ")
    assert "in_features is 100 but the input 'flatten' carries 2,048 values per sample" in message
    assert diagram.UNKNOWN[2] in styles["act"] and drawn["act"].strip().endswith("?")
    assert "8×16×16" in drawn["pool"]  # what could be inferred is still drawn
    assert "1 error" in dot


def test_collapse_draws_identical_instances_once():
    graph = analyse(SPECS / "residual.yaml")
    full, collapsed = (diagram.draw(graph, collapse=c).dot for c in (False, True))
    # a stage around its instances; collapsed to one run of all three, the run is the stage
    assert cluster_titles(full) == ["stage : unit × 3", "stage.0", "stage.1", "stage.2"]
    assert cluster_titles(collapsed) == ["stage : unit × 3"]
    assert not any(key.startswith(("stage.1.", "stage.2.")) for key in boxes(collapsed))
    # the run is entered by its first instance and left by its last, drawn as the first's
    links = edges(collapsed)
    assert ("stem", "stage.0.conv") in links and ("stage.0.relu", "mix") in links
    assert ("stage.0.relu", "stage.0.conv") not in links  # no edge from an instance to the next
    assert len(boxes(full)) - len(boxes(collapsed)) == 2 * 4  # two instances of four layers


def test_collapse_keeps_the_instance_that_differs():
    dot = diagram.draw(analyse(ROOT / "specs" / "resnet18.yaml"), collapse=True).dot
    titles = cluster_titles(dot)
    # layer1's two blocks are alike (64 in, 64 out); layers 2-4 open with a strided, projecting block
    assert "layer1 : lib.basic × 2" in titles
    assert "layer2 : lib.basic × 2" in titles and "layer2.0" in titles and "layer2.1" in titles


def test_large_networks_collapse_by_default():
    ccp = diagram.draw(analyse(ROOT / "specs" / "ccp.yaml"))
    resnet = diagram.draw(analyse(ROOT / "specs" / "resnet152.yaml"))
    assert not ccp.collapsed and resnet.collapsed
    assert "layer3.1–35 × 35" in cluster_titles(resnet.dot)


def test_depth_draws_deeper_blocks_as_boxes_with_summed_params():
    graph = analyse(SPECS / "nested.yaml")
    drawn = boxes(diagram.draw(graph, depth=0).dot)
    assert set(drawn) == {"stage1", "stage2", "flatten", "fc", "image", "output:fc"}
    for stage in ("stage1", "stage2"):
        inside = [n for n in graph.nodes.values() if n.name.startswith(stage + ".")]
        assert fmt_int(sum(n.param_count for n in inside)) + " params" in drawn[stage]
        assert f"{len(inside)} layers" in drawn[stage]
    assert "8×16×16" in drawn["stage1"] and "16×8×8" in drawn["stage2"]  # each stage's pool output
    # a repeat is a stage, one level: at depth 1 each stage's units are one box
    one = boxes(diagram.draw(graph, depth=1, collapse=True).dot)
    assert "units : unit × 3" in one["stage1.units"] and "6 layers" in one["stage1.units"]
    assert fmt_int(3 * 8 * 9 + 8 + 2 * (8 * 8 * 9 + 8)) + " params" in one["stage1.units"]  # all 3, collapse or not
    two = diagram.draw(graph, depth=2, collapse=True).dot
    assert cluster_titles(two) == ["stage1 : stage", "units : unit × 3", "stage2 : stage", "units : unit × 2"]
    units = boxes(two)["stage1.units.1"]  # units 1 and 2 of stage1 are alike: 8→8 channels
    assert "units.1–2 × 2" in units and "584 params each" in units  # 8·8·9 + 8


def test_resnet_at_depth_1_is_a_slide_stages_around_their_blocks():
    dot = diagram.draw(analyse(ROOT / "specs" / "resnet50.yaml"), depth=1).dot
    assert cluster_titles(dot) == [f"layer{i} : lib.bottleneck × {n}" for i, n in enumerate((3, 4, 6, 3), 1)]
    drawn = boxes(dot)
    assert len(drawn) == 16  # image, conv1, bn1, relu, maxpool, 2 boxes a stage, avgpool, fc, the output
    assert "layer1.1–2 × 2" in drawn["layer1.1"] and "70,400 params each" in drawn["layer1.1"]
    assert "12 layers" in drawn["layer1.0"] and "256×56×56" in drawn["layer1.0"]
    stage = dot[dot.index('subgraph "cluster_layer1"'):dot.index('subgraph "cluster_layer2"')]
    assert '"layer1.0" [' in stage and '"layer1.1" [' in stage  # both blocks inside the one stage
    assert boxes(diagram.draw(analyse(ROOT / "specs" / "resnet50.yaml"), depth=0).dot).keys() >= {
        "layer1", "layer2", "layer3", "layer4"}


def test_a_first_dim_other_than_the_batch_stays_on_the_edges():
    dot = diagram.draw(analyse(ROOT / "specs" / "maskrcnn_heads.yaml"), depth=0).dot
    shapes = edges(dot)
    assert shapes[("rois_box", "box_head")] == "R×256×7×7"  # R RoIs, not per sample
    assert shapes[("box_head", "box_predictor")] == "R×1024"
    assert shapes[("rpn_p2", "output:rpn_p2.cls_logits")] is None
    assert "12×200×200" in boxes(dot)["rpn_p2"]  # the batch dim N is still left out


def test_rankdir():
    assert "rankdir=LR" in diagram.draw(analyse(ROOT / "specs" / "xor.yaml"), rankdir="LR").dot


def test_largest_network_draws_in_well_under_a_second():
    largest = max(SHIPPED, key=lambda p: len(analyse(p).nodes))
    graph = analyse(largest)
    start = time.perf_counter()
    diagram.draw(graph)
    assert time.perf_counter() - start < 0.5, largest.name


# --- rendering and the command ----------------------------------------------------------------

@needs_dot
@pytest.mark.parametrize("spec", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_spec_renders_to_svg(spec, tmp_path):
    graph = analyse(spec)
    out = tmp_path / f"{spec.stem}.svg"
    diagram.write(diagram.draw(graph).dot, out)
    svg = out.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    assert graph.name in svg


@needs_dot
def test_draw_command_writes_the_picture(cli, tmp_path):
    out = tmp_path / "ccp.png"
    result = cli("draw", ROOT / "specs" / "ccp.yaml", "-o", out)
    assert result.code == 0, result.err
    assert out.read_bytes().startswith(b"\x89PNG")
    assert re.search(r"drew 19 nodes in [\d.]+ ms; dot layout \d+ ms", result.err)


def test_dot_warnings_are_passed_on_with_what_to_do_about_a_shrunk_bitmap(cli, tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "dot"  # says what dot says of a picture over cairo's 32,767 pixels
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "Warning: graph is too large for cairo-renderer bitmaps. Scaling by 0.31 to fit" >&2\n'
                    'for a; do last="$a"; done; printf x > "$last"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    result = cli("draw", ROOT / "specs" / "xor.yaml", "-o", tmp_path / "xor.png")
    assert result.code == 0 and (tmp_path / "xor.png").read_bytes() == b"x"
    assert "warning: dot: graph is too large for cairo-renderer bitmaps. Scaling by 0.31 to fit" in result.err
    assert "32,767 pixels" in result.err and ".svg or .pdf" in result.err and "--depth" in result.err


def test_draw_command_writes_dot_to_stdout_or_a_dot_file(cli, tmp_path):
    result = cli("draw", ROOT / "specs" / "xor.yaml")
    assert result.code == 0 and result.out.startswith('digraph "xor"')
    result = cli("draw", ROOT / "specs" / "xor.yaml", "-o", tmp_path / "xor.dot")
    assert (tmp_path / "xor.dot").read_text(encoding="utf-8").startswith('digraph "xor"')


@needs_dot
def test_draw_command_on_a_failing_spec_draws_and_exits_1(cli, tmp_path):
    out = tmp_path / "broken.svg"
    result = cli("draw", SPECS / "broken.yaml", "-o", out)
    assert result.code == 1
    assert "in_features is 100" in result.err  # the diagnostic, printed
    assert "in_features is 100" in out.read_text(encoding="utf-8")  # and drawn


def test_draw_command_usage_errors(cli, tmp_path):
    assert cli("draw", ROOT / "specs" / "xor.yaml", "-o", tmp_path / "xor.gif").code == 2
    assert cli("draw", ROOT / "specs" / "xor.yaml", "--depth", "-1").code == 2
    assert not list(tmp_path.iterdir())


def test_missing_dot_writes_the_dot_file_and_says_how_to_install(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "net.svg"
    result = cli("draw", ROOT / "specs" / "xor.yaml", "-o", out)
    assert result.code == 2
    assert not out.exists()
    assert (tmp_path / "net.dot").read_text(encoding="utf-8").startswith('digraph "xor"')
    assert "apt-get install graphviz" in result.err and "brew install graphviz" in result.err


@needs_dot
def test_build_writes_the_diagram_beside_the_reports(cli, tmp_path):
    result = cli("build", ROOT / "specs" / "ccp.yaml", "-o", tmp_path, "-q")
    assert result.code == 0, result.err
    assert (tmp_path / "diagram.dot").read_text(encoding="utf-8").startswith('digraph "ccp_classifier"')
    assert "</svg>" in (tmp_path / "diagram.svg").read_text(encoding="utf-8")
    assert {p.name for p in tmp_path.iterdir()} == {"report.json", "report.md", "diagram.dot", "diagram.svg"}


def test_build_without_dot_still_succeeds(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = cli("build", ROOT / "specs" / "ccp.yaml", "-o", tmp_path / "out", "-q")
    assert result.code == 0
    assert (tmp_path / "out" / "diagram.dot").exists() and not (tmp_path / "out" / "diagram.svg").exists()
    assert "apt-get install graphviz" in result.err
