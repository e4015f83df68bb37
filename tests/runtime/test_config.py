"""Training configs: defaults, overrides, and located errors (never a traceback)."""

import textwrap

import pytest

from nncompile.compiler.diagnostics import SpecError
from nncompile.runtime import config


def write(tmp_path, text, name="train.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def errors(path, overrides=None):
    with pytest.raises(SpecError) as e:
        config.load(path, overrides)
    return [d.render(e.value.sources) for d in e.value.diagnostics]


def test_defaults_and_stages(tmp_path):
    loaded = config.load(write(tmp_path, """
        data: {dataset: digits}
        train: {epochs: 7, lr: 0.01}
        stages:
          - {train: [layer1], objective: {reconstruct: layer1}, epochs: 2}
          - {name: tune}
    """))
    first, second = loaded.config.resolved_stages()
    assert (first.name, first.epochs, first.lr, first.objective.reconstruct) == ("stage1", 2, 0.01, "layer1")
    assert (second.name, second.epochs, second.objective, second.train) == ("tune", 7, "supervised", None)
    assert loaded.config.run.device == "auto" and loaded.config.train.optimizer == "adam"


def test_overrides_are_yaml_values_at_dotted_paths(tmp_path):
    path = write(tmp_path, "data: {dataset: xor}\nstages: [{epochs: 3}]\n")
    loaded = config.load(path, {"train.lr": "0.5", "train.metrics": "[top5]", "stages.0.epochs": "9"})
    assert loaded.config.train.lr == 0.5 and loaded.config.train.metrics == ["top5"]
    assert loaded.config.resolved_stages()[0].epochs == 9


def test_errors_point_at_the_file_and_suggest(tmp_path):
    path = write(tmp_path, """
        run: {seeed: 1}
        data:
          dataset: digitz
        stages:
          - objective: {reconstruct: layer1, decodr: x}
    """)
    shown = "\n".join(errors(path))
    assert f"{path}:1:7: error: unknown key 'run.seeed' (did you mean 'run.seed'?)" in shown
    assert f"{path}:3:12: error: data.dataset: input should be 'xor'" in shown
    assert "unknown key 'stages[0].objective.decodr' (did you mean 'stages[0].objective.decoder'?)" in shown
    assert "should be 'supervised'" not in shown  # one error for the objective, not one per alternative


def test_a_bad_override_is_located_on_the_command_line(tmp_path):
    path = write(tmp_path, "data: {dataset: xor}\n")
    (shown,) = errors(path, {"train.epochs": "3", "train.lr": "fast"})
    assert shown.splitlines()[0].startswith("<command line>:2:16: error: train.lr: input should be a valid number")
    assert shown.splitlines()[1:] == ["    2 | --set train.lr=fast", "      |                ^^^^"]


def test_cli_reports_config_errors_with_exit_1(tmp_path, cli, in_repo):
    path = write(tmp_path, "data: {dataset: xor, batch_size: 0}\n")
    result = cli("train", "specs/xor.yaml", "--config", path)
    assert result.code == 1
    assert "data.batch_size: input should be greater than or equal to 1" in result.err
    assert "Traceback" not in result.err


def test_cli_usage_errors_exit_2(tmp_path, cli, in_repo):
    assert cli("train", "specs/xor.yaml", "--config", tmp_path / "missing.yaml").code == 2
    path = write(tmp_path, "data: {dataset: xor}\n")
    result = cli("train", "specs/xor.yaml", "--config", path, "--set", "data.dataset.x=1")
    assert result.code == 2 and "not a mapping" in result.err
