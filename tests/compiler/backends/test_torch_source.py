"""emit-torch: standalone, readable source whose module loads to_torch's state_dict and
reproduces its outputs exactly."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
import torch

from nncompile.compiler import build, to_torch
from nncompile.compiler.backends.torch_source import Namespace, class_name
from torch_parity import example_inputs, specs_by_size


def _load(path: Path, name: str) -> type[torch.nn.Module]:
    spec = importlib.util.spec_from_file_location(f"emitted_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


@pytest.mark.parametrize("path", specs_by_size())
def test_emitted_source_loads_the_state_dict_and_reproduces_the_outputs(path, tmp_path, cli):
    out = tmp_path / "model.py"
    assert cli("emit-torch", path, "-o", out).code == 0
    tree = ast.parse(out.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {name.split(".")[0] for name in imported} == {"torch"}  # standalone

    graph = build(path)
    reference = to_torch(graph, seed=0).eval()
    emitted = _load(out, class_name(graph))().eval()
    emitted.load_state_dict(reference.state_dict())
    _, inputs = example_inputs(graph)
    with torch.no_grad():
        want, got = reference(*inputs), emitted(*inputs)
    for w, g in zip(want if isinstance(want, tuple) else (want,), got if isinstance(got, tuple) else (got,)):
        assert torch.equal(w, g)


def test_the_source_reads_one_line_per_layer_with_shape_and_location(tmp_path, cli, in_repo):
    out = tmp_path / "ccp.py"
    assert cli("emit-torch", "specs/ccp.yaml", "-o", out, "--set", "num_classes=5").code == 0
    text = out.read_text()
    assert "self.layer1.conv1 = nn.Conv2d(3, 64, (3, 3), padding=(1, 1))" in text
    # each value is let go on the line that reads it last (as torch.fx's code does); outputs are kept
    assert "layer1_conv1 = self.layer1.conv1(image); image = None  # N×64×224×224  specs/lib/ccp.yaml:" in text
    assert "fc = self.fc(flatten); flatten = None  # N×5  specs/ccp.yaml:" in text
    assert "fc = None" not in text and text.endswith("return fc\n")
    assert text.count(" = self.") + text.count(" = torch.") == len(build("specs/ccp.yaml").nodes) - 1


def test_helper_modules_are_emitted_into_the_file(write_spec, tmp_path, cli):
    spec = write_spec("""
        name: gates
        inputs: {x: [N, 6]}
        layers:
          - pieces: {op: maxout, out_features: 3, pieces: 4}
          - fire: step
        outputs: [fire]
        """)
    out = tmp_path / "gates.py"
    assert cli("emit-torch", spec, "-o", out).code == 0
    text = out.read_text()
    assert "class Step(nn.Module):" in text and "class Maxout(nn.Linear):" in text
    model = _load(out, "Gates")()
    assert model(torch.randn(2, 6)).shape == (2, 3)


def test_a_spec_error_prints_diagnostics_and_writes_nothing(write_spec, tmp_path, cli):
    spec = write_spec("""
        name: broken
        inputs: {x: [N, 3, 8, 8]}
        layers:
          - fc: {op: linear, in_features: 5, out_features: 2}
        outputs: [fc]
        """)
    out = tmp_path / "broken.py"
    result = cli("emit-torch", spec, "-o", out)
    assert result.code == 1 and "in_features is 5" in result.err and not out.exists()


def test_namespace_makes_unique_legal_identifiers():
    names = Namespace({"self"})
    assert [names.create(n) for n in ("layer1.0.conv1", "layer1_0_conv1", "self", "class", "0x", "a-b")] == \
        ["layer1_0_conv1", "layer1_0_conv1_1", "self_1", "class_", "_0x", "a_b"]
