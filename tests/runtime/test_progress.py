"""Training's progress on stderr: plain lines when stderr is no terminal, none with --no-progress;
stdout keeps the run folder line and the summaries alone."""

import io
import re
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
