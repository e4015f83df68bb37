"""docs/cli.md's contract: exit codes 0/1/2/130, products on stdout, diagnostics on stderr."""

from __future__ import annotations

import importlib
import json

import pytest

GOOD = """
    inputs: {x: [N, 3]}
    layers:
      - fc: {op: linear, out_features: 2}
    """
UNUSED_INPUT = """
    inputs: {x: [N, 3], unused: [N, 5]}
    layers:
      - fc: {op: linear, out_features: 2}
    """
BAD = """
    params: {width: 4}
    inputs: {x: [N, 3]}
    layers:
      - a: {op: linear, out_features: $width}
      - b: {op: linear, in_features: 5, out_features: 2}
    """


def test_success_is_0_with_the_report_on_stdout(cli, write_spec):
    result = cli("build", write_spec(GOOD))
    assert result.code == 0
    assert "fc (linear)" in result.out and "params" in result.out
    assert result.err == ""


def test_warnings_go_to_stderr_so_stdout_stays_parseable(cli, write_spec):
    result = cli("build", write_spec(UNUSED_INPUT), "--format", "json")
    assert result.code == 0
    assert json.loads(result.out)["totals"]["params"] == 8  # 3·2 + 2
    assert "warning: input 'unused' is never used" in result.err


def test_spec_errors_are_1_located_on_stderr_and_nothing_on_stdout(cli, write_spec):
    path = write_spec(BAD)
    result = cli("build", path)
    assert result.code == 1
    assert result.out == ""
    assert f"{path}:5:" in result.err and "error: layer 'b' (linear): in_features is 5" in result.err
    assert result.err.rstrip().endswith("1 error")


def test_check_is_1_when_any_spec_has_errors(cli, write_spec):
    good, bad = write_spec(GOOD, "good.yaml"), write_spec(BAD, "bad.yaml")
    assert cli("check", good).code == 0
    result = cli("check", good, bad)
    assert result.code == 1
    assert f"{good}: ok" in result.out and str(bad) in result.err


@pytest.mark.parametrize("args, message", [
    (["build", "no/such/spec.yaml"], "no such spec file"),
    (["build", "{spec}", "--set", "nope=3"], "the spec has no parameter 'nope'"),
    (["build", "{spec}", "--set", "width=wide"], "expected int"),
    (["build", "{spec}", "--set", "width"], "--set expects name=value"),
    (["build", "{spec}", "-o", "/proc/cannot/write/here"], "cannot write into"),
])
def test_usage_errors_are_2_on_stderr(cli, write_spec, args, message):
    spec = write_spec(GOOD.replace("inputs:", "params: {width: 4}\n    inputs:"))
    result = cli(*[a.format(spec=spec) for a in args])
    assert result.code == 2
    assert message in result.err and "Traceback" not in result.err


def test_argparse_usage_errors_are_2(cli):
    assert cli("build", "--no-such-flag", "x.yaml").code == 2
    assert cli("no-such-command").code == 2


def test_ctrl_c_is_130(cli, write_spec, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    # deep inside every command's analysis, wherever the CLI's own modules live
    monkeypatch.setattr(importlib.import_module("nncompile.compiler"), "expand", interrupted)
    result = cli("build", write_spec(GOOD))
    assert result.code == 130
    assert "interrupted" in result.err and "Traceback" not in result.err
