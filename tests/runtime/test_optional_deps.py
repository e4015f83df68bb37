"""Training without one of the `train` extra's packages: a usage error naming the package and
the extra, never a ModuleNotFoundError (the absence simulated in a subprocess)."""

import pytest

EXTRA = "pip install 'nncompile[train]'"


@pytest.fixture
def without(tmp_path, run_nncompile, in_repo):
    """without("sklearn", "train", …) -> CliResult: the CLI in a Python where those modules cannot be imported."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import os, sys\n"
                                           "for name in os.environ['BLOCKED'].split(','):\n"
                                           "    sys.modules[name] = None  # import raises ModuleNotFoundError\n")

    def run(modules: str, *args):
        return run_nncompile(*args, env={"PYTHONPATH": str(site), "BLOCKED": modules})

    return run


def config(tmp_path, data: str, train: str = "{epochs: 1}"):
    path = tmp_path / "train.yaml"
    path.write_text(f"run: {{dir: {tmp_path / 'runs'}, name: t, threads: 1}}\ndata: {data}\ntrain: {train}\n")
    return path


@pytest.mark.parametrize("blocked, data, message", [
    ("sklearn", "{dataset: digits}", "dataset 'digits' needs scikit-learn, which is not installed"),
    ("PIL", "{dataset: image_folder, path: images}", "dataset 'image_folder' needs Pillow, which is not installed"),
    ("torch", "{dataset: digits}", "nncompile train needs torch, which is not installed"),
])
def test_a_missing_package_is_a_usage_error_naming_the_extra(without, tmp_path, blocked, data, message):
    (tmp_path / "images/zero").mkdir(parents=True)
    result = without(blocked, "train", "specs/digits_cnn.yaml", "--config", config(tmp_path, data))
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err == f"nncompile: error: {message}: {EXTRA}\n"
    assert not (tmp_path / "runs").exists()


def test_without_matplotlib_the_run_trains_and_says_why_there_is_no_plot(without, tmp_path):
    result = without("matplotlib", "train", "specs/xor.yaml", "--config",
                     config(tmp_path, "{dataset: xor, size: 8}", "{loss: bce, epochs: 1}"), "--no-progress")
    assert result.code == 0, result.err
    assert f"note: metrics.png not drawn: matplotlib cannot be imported; install it with: {EXTRA}" in result.err
    assert (tmp_path / "runs/t/metrics.csv").is_file() and not (tmp_path / "runs/t/metrics.png").exists()
