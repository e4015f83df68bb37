"""Progress on stderr, for training and for a long export, verify or draw: plain lines when
stderr is no terminal, none with --no-progress or for a fast command; stdout keeps the run
folder line and the summaries (and verify's table) alone."""

import io
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from nncompile.runtime.log import Progress


@pytest.fixture
def xor_run(tmp_path, in_repo):
    config = tmp_path / "train.yaml"
    config.write_text(f"run: {{dir: {tmp_path / 'runs'}, name: p, threads: 1}}\n"
                      "data: {dataset: xor, size: 400, batch_size: 4}\ntrain: {epochs: 2, loss: bce}\n")
    return ["train", "specs/xor.yaml", "--config", config]


def test_without_a_terminal_progress_is_plain_lines_on_stderr(xor_run, run_nncompile):
    result = run_nncompile(*xor_run)
    assert result.code == 0, result.err
    lines = [line for line in result.err.splitlines() if line.startswith("[train] epoch")]
    assert len(lines) == 2 * 9, result.err  # every tenth of each 100-step epoch, the end left to the summary
    assert re.fullmatch(r"\[train\] epoch 1/2  step 10/100  loss \d\.\d{4}  [\d,]+ samples/s", lines[0])
    assert lines[-1].startswith("[train] epoch 2/2  step 90/100  loss ")
    assert "step" not in result.out and "\r" not in result.err


def test_no_progress_silences_them(xor_run, run_nncompile):
    result = run_nncompile(*xor_run, "--no-progress")
    assert result.code == 0, result.err
    assert "step" not in result.err and "step" not in result.out


def test_a_quiet_epoch_still_reports_every_30_seconds(monkeypatch, capsys):
    clock = iter([0.0, 31.0, 32.0, 70.0])
    monkeypatch.setattr("nncompile.runtime.log.time.perf_counter", lambda: next(clock))
    progress = Progress("[train] epoch 1/1", 1000, 8)
    progress.update(1, {"loss": 0.5})  # 31 s in: a line although far from a tenth
    progress.update(2, {"loss": 0.5})  # 1 s later: none
    progress.update(3, {"loss": 0.25})  # 38 s later: a line
    assert capsys.readouterr().err.splitlines() == ["[train] epoch 1/1  step 1/1000  loss 0.5000  0 samples/s",
                                                    "[train] epoch 1/1  step 3/1000  loss 0.2500  0 samples/s"]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_a_live_bar_is_drawn_and_cleared(monkeypatch):
    monkeypatch.setattr("sys.stderr", Terminal())
    progress = Progress("[train] epoch 1/1", 3, 4)
    for done in (1, 2, 3):
        time.sleep(0.11)  # tqdm redraws at most ten times a second
        progress.update(done, {"loss": 0.5})
    progress.close()
    drawn = sys.stderr.getvalue()
    assert "[train] epoch 1/1: 100%" in drawn and "3/3" in drawn and "loss 0.5000" in drawn
    assert drawn.endswith("\r") and "step 3/3" not in drawn  # tqdm's bar, cleared; no plain line


def test_a_hooked_operation_reports_each_tenth_of_each_phase_after_the_delay(monkeypatch, capsys):
    clock = iter([0.0, *[0.5] * 3, *[2.0] * 40])
    monkeypatch.setattr("nncompile.runtime.log.time.perf_counter", lambda: next(clock))
    progress = Progress("[export]", delay=1.0)
    for done in range(1, 4):  # 0.5 s in: still quiet, though three tenths are done
        progress.advance("weights", done, 10)
    for done in range(4, 11):
        progress.advance("weights", done, 10)
    for done in range(1, 21):  # a new phase counts its own tenths
        progress.advance("layers", done, 20)
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"[export] weights  {k}/10  2.0s" for k in range(4, 10)] + \
        [f"[export] layers  {k}/20  2.0s" for k in range(2, 20, 2)]


def test_ticking_shows_the_elapsed_time_while_a_subprocess_runs(capsys):
    progress = Progress("[draw] dot layout", plain_every=0.2)
    with progress.ticking(every=0.05):
        subprocess.run(["sleep", "0.7"], check=True)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 2 and all(re.fullmatch(r"\[draw\] dot layout  \d+\.\ds", line) for line in lines), lines
    elapsed = [float(line.split()[-1][:-1]) for line in lines]
    assert elapsed[0] >= 0.15 and all(b - a >= 0.15 for a, b in zip(elapsed, elapsed[1:])), elapsed  # every 0.2 s


def test_on_a_terminal_a_hooked_bar_waits_for_the_delay(monkeypatch):
    monkeypatch.setattr("sys.stderr", Terminal())
    quiet = Progress("[verify]", delay=60.0)
    quiet.advance("onnx export", 1, 3)
    quiet.close()
    assert sys.stderr.getvalue() == ""
    shown = Progress("[verify]")
    shown.advance("onnx checker", 2, 3)
    time.sleep(0.11)
    shown.advance("onnxruntime N=1", 3, 3)
    shown.close()
    assert "[verify]" in sys.stderr.getvalue() and "3/3" in sys.stderr.getvalue()


@pytest.fixture
def no_quiet_start(monkeypatch):
    """Progress from the first moment, as a long command shows it once a second has passed."""
    monkeypatch.setattr("nncompile.cli.commands.QUIET_FOR_S", 0.0)


def test_export_reports_weights_and_layers_on_stderr_only(tmp_path, cli, in_repo, no_quiet_start):
    result = cli("export", "specs/resnet18.yaml", "-o", tmp_path / "r.onnx")
    assert result.code == 0 and result.out == ""
    weights = [line for line in result.err.splitlines() if line.startswith("[export] weights  ")]
    layers = [line for line in result.err.splitlines() if line.startswith("[export] layers  ")]
    assert len(weights) == len(layers) == 9, result.err  # each tenth but the last, which the 'wrote' line ends
    assert re.fullmatch(r"\[export\] weights  1\d/102  \d+\.\ds", weights[0]), weights[0]  # resnet18's 102 tensors
    assert cli("export", "specs/resnet18.yaml", "-o", tmp_path / "r.onnx", "--no-progress").err.count("[export]") == 0


def test_a_fast_export_stays_quiet(tmp_path, cli, in_repo):
    result = cli("export", "specs/xor.yaml", "-o", tmp_path / "x.onnx")
    assert result.code == 0 and "[export]" not in result.err and result.err.startswith("wrote ")


def test_verify_reports_its_steps_on_stderr_and_its_table_alone_on_stdout(cli, in_repo, no_quiet_start):
    result = cli("verify", "specs/xor.yaml")
    assert result.code == 0
    assert [line.split("  ")[0] for line in result.err.splitlines()] == [
        "[verify] onnx export", "[verify] onnx checker", "[verify] onnx shape inference",
        "[verify] onnxruntime session", "[verify] onnxruntime N=1", "[verify] onnxruntime N=3"]
    assert "[verify]" not in result.out and result.out.endswith("7/7 checks agree\n")
    assert "[verify]" not in cli("verify", "specs/xor.yaml", "--no-progress").err


def test_draw_shows_dots_elapsed_time(tmp_path, cli, in_repo, no_quiet_start, monkeypatch):
    slow_dot = tmp_path / "bin" / "dot"  # Graphviz's dot, a second slower
    slow_dot.parent.mkdir()
    slow_dot.write_text(f"#!/bin/sh\nsleep 1.2\nexec {shutil.which('dot')} \"$@\"\n")
    slow_dot.chmod(0o755)
    monkeypatch.setenv("PATH", f"{slow_dot.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr("nncompile.cli.commands.WAITING_PLAIN_EVERY_S", 0.4)
    result = cli("draw", "specs/xor.yaml", "-o", tmp_path / "x.svg")
    assert result.code == 0 and result.out == ""
    assert re.search(r"^\[draw\] dot layout  \d+\.\ds$", result.err, re.M), result.err
    assert "[draw]" not in cli("draw", "specs/xor.yaml", "-o", tmp_path / "x.svg", "--no-progress").err


def test_on_a_terminal_ticking_waits_for_the_delay_then_draws_and_clears_the_elapsed_time(monkeypatch):
    monkeypatch.setattr("sys.stderr", Terminal())
    start = time.perf_counter()
    with Progress("[draw] dot layout", delay=0.6).ticking(every=0.05):
        subprocess.run(["sleep", "0.8"], check=True)
    redraws = (time.perf_counter() - start - 0.6) / 0.1 + 1  # tqdm draws at most every 0.1 s, once 0.6 s are up
    drawn = sys.stderr.getvalue()
    assert drawn.startswith("\r[draw] dot layout: 00:00") and drawn.endswith("\r"), repr(drawn)
    assert 1 <= drawn.count("\r[draw] dot layout: ") <= redraws + 1  # nothing in the first 0.6 s
