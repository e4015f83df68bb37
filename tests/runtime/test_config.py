"""Training configs: defaults, overrides, and located errors (never a traceback)."""

import textwrap

import pytest

from nncompile.compiler.diagnostics import SpecError
from nncompile.compiler.expand import UsageError
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


@pytest.mark.parametrize("pair, message", [
    ("run.seed=99999999999999999999999", "run.seed: input should be less than or equal to 4,294,967,295"),
    ("run.seed=-1", "run.seed: input should be greater than or equal to 0"),
    ("train.lr=.inf", "train.lr: input should be a finite number, got inf"),
    ("train.lr=.nan", "NaN is not a valid value here"),  # refused as the YAML is read
    ("train.lr=-0.1", "train.lr: input should be greater than 0, got -0.1"),
    ("train.lr=1e300", "train.lr: input should be less than or equal to 3.4e+38"),
    ("train.momentum=1", "train.momentum: input should be less than 1"),
    ("train.weight_decay=-1", "train.weight_decay: input should be greater than or equal to 0"),
    ("train.gamma=0", "train.gamma: input should be greater than 0"),
    ("train.warmup_epochs=-.inf", "train.warmup_epochs: input should be a finite number"),
    ("train.epochs=2.5", "train.epochs: input should be a valid integer"),
    ("train.step_size=true", "train.step_size: input should be a valid integer, got True"),
    ("data.batch_size=4294967296", "data.batch_size: input should be less than or equal to 2,147,483,647"),
    ("data.workers=-1", "data.workers: input should be greater than or equal to 0"),
    ("data.size=0", "data.size: input should be greater than or equal to 1"),
    ("run.threads=0", "run.threads: input should be greater than or equal to 1"),
    ("run.checkpoint_every=-5", "run.checkpoint_every: input should be greater than or equal to 0"),
    ("stages.0.epochs=0", "stages[0].epochs: input should be greater than or equal to 1"),
    ("stages.0.lr=.inf", "stages[0].lr: input should be a finite number"),
    ("run.device=cuda:123456789012345678901", "run.device: a device is auto, cpu, cuda or cuda:N (N the GPU's index)"),
    ("run.dir=''", "run.dir: a path is not empty and has no NUL or other control characters, got ''"),
    ('data.path="a\\0b"', "data.path: a path is not empty and has no NUL or other control characters"),
])
def test_every_config_number_is_bounded_and_located_at_its_set(tmp_path, pair, message):
    assert_located_on_the_command_line(tmp_path, pair, message, at=pair.split("=", 1)[1])


@pytest.mark.parametrize("pair, message, at", [
    ("train.metrics=[accuracy, f1]", "train.metrics[1]: input should be 'accuracy', 'top5', 'mean_iou', "
                                     "'pixel_accuracy' or 'box_iou', got 'f1'", "f1"),
    ("stages.0.objective={reconstruct: [1]}", "stages[0].objective.reconstruct: input should be a valid string, "
                                             "got a list", "[1]"),
    ("train.metrics=[&a accuracy, *a, f1]", "train.metrics[2]:", "f1"),
    ("data.image_size=[8, 100000]", "data.image_size[1]: input should be less than or equal to 16,384", "100000"),
    ("data.std=[0.5, -2]", "data.std[1]: input should be greater than 0, got -2", "-2"),
])
def test_an_item_of_a_set_list_or_mapping_is_located_at_the_item(tmp_path, pair, message, at):
    assert_located_on_the_command_line(tmp_path, pair, message, at)


def assert_located_on_the_command_line(tmp_path, pair: str, message: str, at: str) -> None:
    """The one diagnostic of `--set pair` starts with message, its caret under `at`."""
    path = write(tmp_path, "data: {dataset: xor}\nstages: [{epochs: 1}]\n")
    key, value = pair.split("=", 1)
    (shown,) = errors(path, {key: value})
    first, source, caret = shown.splitlines()
    col = len(f"--set {key}=") + value.index(at)
    assert first.startswith(f"<command line>:1:{col + 1}: error: {message}"), first
    assert source == f"    1 | --set {pair}" and caret == "      | " + " " * col + "^" * len(at)
    assert "YMap" not in shown and "YList" not in shown


def test_values_in_the_file_are_named_as_written_at_their_line(tmp_path):
    path = write(tmp_path, """
        data: {dataset: xor, std: [1, -1]}
        train: {metrics: [f1]}
        stages: {epochs: 2}
    """)
    shown = "\n".join(errors(path))
    assert f"{path}:1:31: error: data.std[1]: input should be greater than 0, got -1" in shown
    assert f"{path}:2:19: error: train.metrics[0]: input should be 'accuracy'" in shown
    assert f"{path}:3:9: error: stages: input should be a valid list, got a mapping" in shown


def test_set_into_a_list_the_config_lacks_is_a_usage_error(tmp_path):
    path = write(tmp_path, "data: {dataset: xor}\n")
    with pytest.raises(UsageError, match=r"--set stages.0.epochs: the config has no list 'stages' to set item 0 of"):
        config.load(path, {"stages.0.epochs": "2"})


def test_cli_reports_every_bad_set_located_without_a_traceback(tmp_path, run_nncompile, in_repo):
    path = write(tmp_path, "data: {dataset: xor}\n")
    result = run_nncompile("train", "specs/xor.yaml", "--config", path, "--set", "run.seed=99999999999999999999999",
                           "--set", "train.lr=.inf", "--set", "train.metrics=[f1]")
    assert result.code == 1 and "Traceback" not in result.err
    assert "<command line>:1:16: error: run.seed: input should be less than or equal to 4,294,967,295" in result.err
    assert "<command line>:2:16: error: train.lr: input should be a finite number, got inf" in result.err
    assert "<command line>:3:22: error: train.metrics[0]: input should be 'accuracy'" in result.err
    assert result.err.endswith("3 errors\n")


@pytest.mark.parametrize("value, message", [
    ("&a [*a]", "a YAML alias refers to the node that contains it (a cycle)"),
    ("[&a [x, x, x, x, x, x, x, x, x], &b [*a, *a, *a, *a, *a, *a, *a, *a, *a], &c [*b, *b, *b, *b, *b, *b, *b, *b, *b],"
     " &d [*c, *c, *c, *c, *c, *c, *c, *c, *c], &e [*d, *d, *d, *d, *d, *d, *d, *d, *d], "
     "&f [*e, *e, *e, *e, *e, *e, *e, *e, *e], &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]]", "an alias bomb"),
])
def test_a_set_value_is_read_as_safely_as_a_file(tmp_path, value, message):
    (shown, *_) = errors(write(tmp_path, "data: {dataset: xor}\n"), {"train.metrics": value})
    assert shown.startswith("<command line>:1:") and message in shown.splitlines()[0]
