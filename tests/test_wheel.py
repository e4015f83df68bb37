"""The zoo ships with the package: networks by name on the command line, libraries imported as
zoo:lib/….yaml from anywhere, `nncompile zoo`, --version, python -m nncompile; and the wheel,
installed in a fresh venv, doing all of that from outside the repository."""

import subprocess
import sys
from pathlib import Path

import pytest

from nncompile.compiler import zoo

ROOT = Path(__file__).resolve().parents[1]

USER_SPEC = """\
name: mine
import: {resnet: zoo:lib/resnet.yaml}
inputs:
  image: [N, 3, 32, 32]
layers:
  - stem: {op: conv2d, out_channels: 16, kernel: 3, padding: 1}
  - layer1: {block: resnet.basic, channels: 16}
"""


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """A working directory outside the repository."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_zoo_is_the_repositorys_specs_folder():
    assert zoo.folder().resolve() == (ROOT / "specs").resolve()
    assert [p.name for p in zoo.networks()] == sorted((p.name for p in (ROOT / "specs").glob("*.yaml")),
                                                      key=lambda n: zoo.natural(Path(n)))
    assert "zoo:lib/resnet.yaml" in zoo.libraries()


@pytest.mark.parametrize("command", ["build", "check", "draw", "emit-torch", "export", "verify", "explain"])
def test_a_zoo_name_works_from_any_directory(cli, elsewhere, command):
    out = ["-o", "out.onnx" if command == "export" else "out.py"] if command in ("export", "emit-torch") else []
    result = cli(command, "digits_cnn", *out)
    assert result.code == 0, result.err
    assert "no such" not in result.err


def test_train_takes_a_zoo_name(cli, elsewhere):
    result = cli("train", "digits_cnn", "--config", "missing.yaml")  # the spec is found; the config is not
    assert result.code == 2 and "no such config file: missing.yaml" in result.err


def test_zoo_prefix_and_yaml_suffix_name_the_same_network(cli, elsewhere):
    outputs = {cli("build", name, "--format", "json").out for name in ("resnet18", "zoo:resnet18", "zoo:resnet18.yaml")}
    assert len(outputs) == 1 and '"name": "resnet18"' in outputs.pop()


def test_a_local_file_wins_over_the_zoo_and_says_so(cli, elsewhere, write_spec):
    (elsewhere / "xor").write_text((ROOT / "specs/perceptron_and.yaml").read_text())
    local = cli("build", "xor", "--format", "json")
    assert local.code == 0 and '"name": "perceptron_and"' in local.out
    assert "note: xor is the file ./xor, not the zoo's network (zoo:xor names that)" in local.err
    shipped = cli("build", "zoo:xor", "--format", "json")
    assert shipped.code == 0 and '"name": "xor"' in shipped.out and "note" not in shipped.err


def test_a_folder_of_the_zoo_names_name_does_not_hide_it(cli, elsewhere):
    (elsewhere / "xor").mkdir()  # say, `build xor -o xor` before
    assert cli("build", "xor", "-q").code == 0


@pytest.mark.parametrize("name, suggestion", [("ResNet-50", "resnet50"), ("mobilenetv2", "mobilenet_v2"),
                                              ("resnet51", None), ("zoo:vgg-19", "vgg19")])
def test_an_unknown_zoo_name_lists_the_zoo_and_suggests_only_spellings(cli, elsewhere, name, suggestion):
    result = cli("check", name)
    assert result.code == 2
    assert "the zoo has alexnet, " in result.err and "resnet152" in result.err
    assert ("did you mean" in result.err) == bool(suggestion)
    if suggestion:
        assert f"(did you mean '{suggestion}'?)" in result.err


def test_a_missing_path_is_not_a_zoo_question(cli, elsewhere):
    result = cli("build", "specs/resnet50.yaml")
    assert result.code == 2 and "no such spec file: specs/resnet50.yaml" in result.err
    assert "zoo" not in result.err


def test_a_user_spec_imports_a_shipped_library_without_allow_path(cli, elsewhere, write_spec):
    spec = write_spec(USER_SPEC)
    result = cli("build", spec, "--format", "json")
    assert result.code == 0, result.err
    assert '"layer1.conv2"' in result.out


def test_confinement_still_refuses_other_files_outside(cli, elsewhere, write_spec):
    escape = write_spec(USER_SPEC.replace("zoo:lib/resnet.yaml", str(ROOT / "specs/lib/resnet.yaml")))
    result = cli("check", escape)
    assert result.code == 1 and "[import-outside]" in result.err
    climbing = write_spec(USER_SPEC.replace("zoo:lib/resnet.yaml", "zoo:../compiler/spec.py"), "climb.yaml")
    result = cli("check", climbing)
    assert result.code == 1 and "the zoo ships no such library" in result.err


def test_a_misspelt_library_lists_the_libraries(cli, elsewhere, write_spec):
    result = cli("check", write_spec(USER_SPEC.replace("lib/resnet", "lib/Res-Net")))
    assert result.code == 1
    assert "import 'zoo:lib/Res-Net.yaml': the zoo ships no such library (did you mean 'zoo:lib/resnet.yaml'?)" in result.err
    assert "note: the zoo's libraries: zoo:lib/alexnet.yaml, " in result.err
    assert "did you mean" not in cli("check", write_spec(USER_SPEC.replace("lib/resnet", "lib/resnet2"))).err


def test_the_hash_of_a_shipped_import_does_not_depend_on_where_the_package_lies(write_spec, tmp_path):
    from nncompile.compiler.source import SourceCache
    from nncompile.compiler.expand.load import Loader
    from nncompile.compiler.expand.problems import Problems

    spec = write_spec(USER_SPEC)
    loader = Loader(spec, (), Problems(), SourceCache())
    assert loader.relative_name(zoo.folder().resolve() / "lib/resnet.yaml") == "zoo:lib/resnet.yaml"


def test_nncompile_zoo_lists_every_network_with_its_size(cli, elsewhere):
    result = cli("zoo")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["name", "input", "output", "params", "MACs"]
    rows = {line.split()[0]: line for line in lines[1:] if line and not line.startswith("libraries")}
    assert list(rows) == [p.stem for p in zoo.networks()]
    assert "25,557,032" in rows["resnet50"] and "4.09G" in rows["resnet50"] and "image N×3×224×224" in rows["resnet50"]
    assert "resnet.yaml" in lines[-1]


def test_version_and_python_dash_m(run_nncompile, elsewhere):
    from importlib.metadata import version

    done = subprocess.run([sys.executable, "-m", "nncompile", "--version"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == f"nncompile {version('nncompile')}"
    assert run_nncompile("--version").out.strip() == f"nncompile {version('nncompile')}"


@pytest.mark.slow
def test_the_wheel_installed_in_a_fresh_venv_works_outside_the_repository():
    done = subprocess.run(["bash", str(ROOT / "scripts/wheel_smoke.sh")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "wheel_smoke: ok" in done.stdout
