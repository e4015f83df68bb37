"""Every example in docs/spec-language.md is a spec that builds (its first line names its file)."""

import re
from pathlib import Path

import pytest

from nncompile.compiler import build, to_torch

DOC = Path(__file__).resolve().parents[2] / "docs" / "spec-language.md"
BLOCKS = re.findall(r"```yaml\n# file: (\S+)\n(.*?)```", DOC.read_text(), re.S)


def test_the_page_has_examples():
    assert len(BLOCKS) >= 10


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    root = tmp_path_factory.mktemp("doc")
    for name, text in BLOCKS:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"# file: {name}\n{text}")
    return root


@pytest.mark.parametrize("name", [n for n, text in BLOCKS if "layers:" in text and not n.startswith("lib/")])
def test_example_builds_without_warnings(examples, name):
    graph = build(examples / name)
    assert graph.warnings == []
    model = to_torch(graph)  # torch's own count of what the static analysis counted
    assert sum(p.numel() for p in model.parameters()) == graph.totals.params
    assert sum(b.numel() for name, b in model.named_buffers()
               if not name.endswith("num_batches_tracked")) == graph.totals.buffers


def test_stages_example_projects_only_where_shapes_change(examples):
    graph = build(examples / "stages.yaml")
    assert "layer2.0.shortcut" in graph.nodes and "layer2.1.shortcut" not in graph.nodes
    assert graph.nodes["layer2.1.add"].inputs == ["layer2.1.bn2", "layer2.0.relu"]
    assert graph.nodes["layer2.1.relu"].type.shape == ("N", 32, 28, 28)


def test_handset_xor_is_frozen_and_siamese_counts_shared_weights_once(examples):
    assert build(examples / "handset.yaml").totals.trainable_params == 0
    siamese = build(examples / "siamese.yaml")
    assert siamese.totals.params == 8 * 1 * 5 * 5 + 8


def test_any_size_example_returns_to_the_input_size(examples):
    graph = build(examples / "any_size.yaml")
    assert graph.nodes["pool"].type.shape == ("N", 8, "H/2", "W/2")
    assert graph.nodes["up"].type.shape == ("N", 5, "H", "W")


def test_multiples_example_meets_its_skip_at_every_multiple(examples):
    graph = build(examples / "multiples.yaml")
    assert graph.nodes["down4"].type.shape == ("N", 8, "h", "w")
    assert graph.nodes["skip"].type.shape == ("N", 16, "2·h", "2·w")
