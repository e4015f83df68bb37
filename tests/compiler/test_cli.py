"""The `nncompile` command: outputs, the JSON contract, exit codes, and no torch on `build`."""

import json
import subprocess
import sys

import pytest

from nncompile.compiler.ops import REGISTRY

LAYER_KEYS = {"name", "op", "inputs", "output_shape", "params", "trainable_params", "macs", "receptive_field",
              "jump", "arithmetic", "source"}
TOTAL_KEYS = {"params", "trainable_params", "buffers", "macs", "flops", "activation_bytes"}


def test_build_prints_the_table(cli, in_repo):
    result = cli("build", "specs/ccp.yaml")
    assert result.code == 0 and result.err == ""
    row = next(line for line in result.out.splitlines() if line.startswith("layer1.conv1 (conv2d)"))
    assert "N×64×224×224" in row and "1,792" in row and "(224 − 3 + 2·1)/1 + 1 = 224" in row
    assert "params       128,018" in result.out and "FLOPs = 2 × MACs" in result.out


def test_json_contract(cli, in_repo):
    result = cli("build", "specs/ccp.yaml", "--format", "json")
    report = json.loads(result.out)
    assert report["name"] == "ccp_classifier"
    assert report["inputs"] == {"image": ["N", 3, 224, 224]} and report["outputs"] == {"fc": ["N", 10]}
    assert all(LAYER_KEYS <= set(layer) for layer in report["layers"])
    assert TOTAL_KEYS <= set(report["totals"])
    layers = {layer["name"]: layer for layer in report["layers"]}
    conv1 = layers["layer1.conv1"]
    assert (conv1["params"], conv1["trainable_params"], conv1["op"]) == (1_792, 1_792, "conv2d")
    lib = (in_repo / "specs/lib/ccp.yaml").read_text().splitlines()
    line = next(i for i, text in enumerate(lib, 1) if "- conv1:" in text)
    assert conv1["source"] == {"file": "specs/lib/ccp.yaml", "line": line, "col": lib[line - 1].index("conv1") + 1}
    assert conv1["receptive_field"] == [3, 3] and conv1["jump"] == [1, 1]
    assert layers["fc"]["inputs"] == ["flatten"] and layers["fc"]["receptive_field"] == "global"
    assert report["totals"]["flops"] == 2 * report["totals"]["macs"]
    assert report["totals"]["params"] == sum(layer["params"] for layer in report["layers"])


def test_markdown(cli, in_repo):
    result = cli("build", "specs/ccp.yaml", "--format", "markdown")
    assert result.out.startswith("# ccp_classifier") and "| layer1.conv1 (conv2d) |" in result.out


def test_output_dir_writes_both_reports(cli, in_repo, tmp_path):
    result = cli("build", "specs/ccp.yaml", "-o", tmp_path / "out")
    assert result.code == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["totals"]["params"] == 128_018
    assert (tmp_path / "out" / "report.md").read_text().startswith("# ccp_classifier")
    assert not [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp files left


def test_set_changes_the_network(cli, in_repo):
    result = cli("build", "specs/ccp.yaml", "--set", "num_classes=5", "--format", "json")
    assert json.loads(result.out)["outputs"] == {"fc": ["N", 5]}


@pytest.mark.parametrize("args, code, fragment", [
    (["build", "specs/no_such.yaml"], 2, "no such spec file"),
    (["build", "specs/ccp.yaml", "--set", "num_clases=5"], 2, "did you mean 'num_classes'"),
    (["build", "specs/ccp.yaml", "--set", "num_classes"], 2, "expects name=value"),
    (["build", "specs/ccp.yaml", "--format", "yaml"], 2, "invalid choice"),
    (["frobnicate"], 2, "invalid choice"),
    (["build", "examples/errors/cycle.yaml"], 1, "error: the layers form a cycle"),
    (["check", "specs/ccp.yaml", "examples/errors/cycle.yaml"], 1, "cycle"),
])
def test_exit_codes(cli, in_repo, args, code, fragment):
    result = cli(*args)
    assert result.code == code
    assert fragment in result.err and "Traceback" not in result.err


def test_check(cli, in_repo):
    result = cli("check", "specs/ccp.yaml")
    assert (result.code, result.out) == (0, "specs/ccp.yaml: ok (128,018 params)\n")
    assert cli("check", "-q", "specs/ccp.yaml").out == ""


def test_schema_describes_every_op(cli):
    schema = json.loads(cli("schema").out)
    text = json.dumps(schema)
    assert schema["title"] == "nncompile spec"
    assert all(f'"{name}"' in text for name in REGISTRY)


def test_ops_lists_every_op_with_attributes(cli):
    out = cli("ops", "-v").out
    for name, op in REGISTRY.items():
        assert f" {name} " in out
    assert "out_channels: required" in out and "negative_slope: default 0.1" in out


def test_build_never_imports_torch(in_repo):
    code = ("import sys; from nncompile.compiler.cli import main; "
            "main(['build', 'specs/ccp.yaml', '--format', 'json']); assert 'torch' not in sys.modules, 'torch'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["params"] == 128_018
