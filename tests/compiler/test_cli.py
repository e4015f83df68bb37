"""The `nncompile` command: outputs, the JSON contract, exit codes, and no torch on `build`."""

import json
import os
import subprocess
import sys

import pytest
from suite import ROOT

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
    (["build", "specs/lib"], 2, "specs/lib is a directory, not a spec file"),
    (["check", "/dev/null"], 2, "/dev/null is not a regular file, not a spec file"),
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
    code = ("import sys; from nncompile.cli import main; "
            "main(['build', 'specs/ccp.yaml', '--format', 'json']); assert 'torch' not in sys.modules, 'torch'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["params"] == 128_018


ONLY_WHEN_NEEDED = ["difflib", "textwrap", "html", "subprocess", "ctypes", "shlex", "importlib.metadata",
                    "nncompile.compiler.backends.diagram", "nncompile.compiler.passes.floors"]


@pytest.mark.parametrize("args", [["check", "specs/resnet50.yaml"], ["build", "specs/resnet50.yaml", "--format", "json"],
                                  ["build", "specs/resnet50.yaml"], ["check", "examples/errors/too-large.yaml"]])
def test_check_and_build_import_only_what_they_use(in_repo, args):
    """What only some commands need (a suggestion's difflib, wrapping's textwrap, a notebook's
    html, dot's subprocess, --version's importlib.metadata, the diagram) is imported where used."""
    code = (f"import sys; from nncompile.cli import main; main({args!r}); "
            f"print(sorted(m for m in {ONLY_WHEN_NEEDED!r} if m in sys.modules), file=sys.stderr)")
    pipe = {k: v for k, v in os.environ.items() if k != "COLUMNS"}  # the table in a pipe: not wrapped
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=pipe)
    assert done.stderr.splitlines()[-1] == "[]", done.stderr


@pytest.mark.parametrize("flag, value, message", [
    ("--tolerance", "-1", "expects a finite number 0 or more, got '-1'"),
    ("--tolerance", "nan", "expects a finite number 0 or more, got 'nan'"),
    ("--tolerance", "inf", "expects a finite number 0 or more, got 'inf'"),
    ("--batch-sizes", "0", "expects a whole number 1 or more, got '0'"),
    ("--batch-sizes", "-3", "expects a whole number 1 or more, got '-3'"),
])
def test_verify_refuses_meaningless_values(run_nncompile, flag, value, message):
    result = run_nncompile("verify", "specs/xor.yaml", flag, value, cwd=ROOT)
    assert result.code == 2 and result.out == "" and "Traceback" not in result.err
    assert f"argument {flag}: {message}" in result.err


@pytest.mark.parametrize("args, message", [
    (["verify", "specs/xor.yaml", "--seed", "-1"], "argument --seed: expects a whole number from 0 to 2^63 − 1"),
    (["export", "specs/xor.yaml", "-o", "x.onnx", "--seed", "99999999999999999999"], "argument --seed"),
    (["explain", "specs/xor.yaml", "--seed", str(2**63)], "argument --seed"),
    (["explain", "specs/xor.yaml", "--step", "nan"], "argument --step: expects a finite number, got 'nan'"),
    (["predict", "m.onnx", "--input", "x.npy", "--top-k", "0"], "argument --top-k: expects a whole number 1 or more"),
])
def test_values_no_generator_or_step_can_use_are_usage_errors(cli, in_repo, args, message):
    result = cli(*args)
    assert result.code == 2 and message in result.err


OUTPUTS = {  # a command writing FILE -> its arguments
    "build": ["build", "specs/xor.yaml", "-o"],
    "draw": ["draw", "specs/xor.yaml", "-o"],
    "emit-torch": ["emit-torch", "specs/xor.yaml", "-o"],
    "export": ["export", "specs/xor.yaml", "-o"],
    "schema": ["schema", "-o"],
    "explain --draw": ["explain", "specs/xor.yaml", "--draw"],
    "explain --plot": ["explain", "specs/xor.yaml", "--gradient-flow", "--plot"],
}
SUFFIXES = {"draw": ".svg", "explain --draw": ".dot", "explain --plot": ".png", "export": ".onnx"}


@pytest.mark.parametrize("command", OUTPUTS)
def test_no_output_creates_missing_directories(cli, in_repo, tmp_path, command):
    target = tmp_path / "missing" / "dir" / f"out{SUFFIXES.get(command, '')}"
    result = cli(*OUTPUTS[command], target)
    assert result.code == 2 and f"no such directory '{target.parent}' (create it first)" in result.err
    assert list(tmp_path.iterdir()) == []


def test_build_makes_its_output_directory_but_not_its_parents(run_nncompile, tmp_path):
    made = run_nncompile("build", "specs/xor.yaml", "-q", "-o", tmp_path / "reports", cwd=ROOT)
    assert made.code == 0, made.err
    assert {"report.json", "report.md", "diagram.dot"} <= {p.name for p in (tmp_path / "reports").iterdir()}
    deep = run_nncompile("build", "specs/xor.yaml", "-o", tmp_path / "a" / "reports", cwd=ROOT)
    assert deep.code == 2 and not (tmp_path / "a").exists()
    (tmp_path / "file").write_text("mine")
    onto_a_file = run_nncompile("build", "specs/xor.yaml", "-o", tmp_path / "file", cwd=ROOT)
    assert onto_a_file.code == 2 and "is a file, not a directory" in onto_a_file.err
    assert (tmp_path / "file").read_text() == "mine"


def test_an_overwritten_export_keeps_its_mode(run_nncompile, tmp_path):
    target = tmp_path / "xor.onnx"
    target.write_bytes(b"old")
    target.chmod(0o600)
    result = run_nncompile("export", "specs/xor.yaml", "-o", target, cwd=ROOT)
    assert result.code == 0, result.err
    assert oct(target.stat().st_mode & 0o777) == oct(0o600) and target.read_bytes() != b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["xor.onnx"]


def test_a_weights_file_that_is_not_plain_data_is_refused_without_advice_to_unpickle(run_nncompile, tmp_path):
    evil = tmp_path / "evil.pt"
    code = ("import torch, collections\n"
            "class Payload:\n    def __reduce__(self):\n        return (print, ('ran',))\n"
            f"torch.save({{'hidden.weight': Payload()}}, {str(evil)!r})\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    for args in (["export", "specs/xor.yaml", "-o", tmp_path / "xor.onnx"], ["explain", "specs/xor.yaml"]):
        result = run_nncompile(*args, "--weights", evil, cwd=ROOT)
        assert result.code == 2 and "Traceback" not in result.err and "ran" not in result.out
        assert f"{evil} is not a plain state_dict or checkpoint" in result.err
        assert "nncompile will not unpickle arbitrary objects" in result.err
        assert "weights_only" not in result.err and "trust" not in result.err
    assert [p.name for p in tmp_path.iterdir()] == ["evil.pt"]


def test_draw_without_dot_never_replaces_a_dot_file_beside_the_picture(run_nncompile, tmp_path):
    (tmp_path / "xor.dot").write_text("digraph mine { hand -> written }")
    result = run_nncompile("draw", "specs/xor.yaml", "-o", tmp_path / "xor.png", cwd=ROOT, env={"PATH": str(tmp_path)})
    assert result.code == 2 and "Traceback" not in result.err
    assert f"the DOT not written: {tmp_path / 'xor.dot'} exists" in result.err
    assert (tmp_path / "xor.dot").read_text() == "digraph mine { hand -> written }"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xor.dot"]
    fresh = run_nncompile("draw", "specs/xor.yaml", "-o", tmp_path / "net.png", cwd=ROOT, env={"PATH": str(tmp_path)})
    assert fresh.code == 2 and f"wrote {tmp_path / 'net.dot'}" in fresh.err and (tmp_path / "net.dot").exists()


@pytest.mark.parametrize("argv", [["bulid", "x.yaml"], [], ["build"], ["--help"], ["check", "--help"],
                                  ["build", "x.yaml", "--depth", "k"], ["build", "x.yaml", "--bogus"],
                                  ["train", "--help"], ["export", "x.yaml"]])
def test_the_command_run_parses_as_with_every_commands_flags(argv, capsys):
    """main() declares only the flags of the command it runs: what argparse says and the exit
    status are the full parser's, for a command's help, a bad or missing command or flag."""
    from nncompile.cli import main, parser

    with pytest.raises(SystemExit) as full:
        parser().parse_args(argv)
    expected = capsys.readouterr()
    with pytest.raises(SystemExit) as ours:
        main(argv)
    assert (ours.value.code, capsys.readouterr()) == (full.value.code, expected)


def test_each_commands_help_is_the_full_parsers():
    """A command's parser alone: its help, and the usage its top level's errors print, are the
    full parser's (the full help is printed for `--help`, which parses with every command)."""
    from nncompile.cli import parser

    full = parser()
    for name, command in full._subparsers._group_actions[0].choices.items():
        alone = parser(name)
        assert list(alone._subparsers._group_actions[0].choices) == [name]
        assert alone._subparsers._group_actions[0].choices[name].format_help() == command.format_help()
        assert alone.format_usage() == full.format_usage()
    assert parser("bulid").format_help() == full.format_help()
