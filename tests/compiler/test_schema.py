"""`nncompile schema` accepts what the validator accepts: check-jsonschema passes every shipped
spec and every example of docs/spec-language.md, and flags a misspelled key and an unknown op;
every property has a description."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "specs/lib").glob("*.yaml"))
DOC_EXAMPLES = re.findall(r"```yaml\n# file: (\S+)\n(.*?)```", (ROOT / "docs/spec-language.md").read_text(), re.S)
# op files other engineers were editing when the schema got its descriptions: their attributes
# are described from name and type until the files give descriptions of their own
DESCRIBED_BY_TYPE = {"activation", "norm", "dropout", "merge", "tensor", "index", "parameter", "roi", "attention",
                    "frozen_norm"}


@pytest.fixture(scope="module")
def schema_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "schema.json"
    from nncompile.cli import main

    assert main(["schema", "-o", str(path)]) == 0
    return path


def check(schema_file: Path, *files: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--schemafile", str(schema_file), *map(str, files)],
                          capture_output=True, text=True, timeout=300)


def test_every_shipped_spec_validates(schema_file):
    done = check(schema_file, *SHIPPED)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_every_doc_example_validates(schema_file, tmp_path):
    files = []
    for i, (name, text) in enumerate(DOC_EXAMPLES):
        files.append(tmp_path / f"{i}_{Path(name).name}")
        files[-1].write_text(text)
    done = check(schema_file, *files)
    assert done.returncode == 0, done.stdout[-3000:]


SPEC = """\
name: probe
params: {c: 8}
inputs:
  image: [N, 3, 32, 32]
layers:
  - conv: {op: conv2d, out_channels: $c, kernel: 3, stride: [1, "${1 if c > 4 else 2}"], padding: same}
  - pool: {op: maxpool2d, kernel: 2}
  - flat: flatten
  - fc: {op: linear, out_features: 10}
"""


@pytest.mark.parametrize("mistake, found", [
    (("kernel: 3, stride", "kernal: 3, stride"), "kernal"),                         # a misspelled key
    (("op: maxpool2d", "op: maxpool3d"), "maxpool3d"),                              # an unknown op
    (("kernel: 2}", "kernel: 0}"), "pool"),                                         # a value out of range
    (("padding: same", "padding: full"), "full"),                                    # not one of the choices
])
def test_mistakes_are_flagged(schema_file, tmp_path, cli, mistake, found):
    good = tmp_path / "good.yaml"
    good.write_text(SPEC)
    assert check(schema_file, good).returncode == 0
    assert cli("check", good).code == 0  # the validator agrees
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.replace(*mistake))
    done = check(schema_file, bad)
    assert done.returncode == 1 and found in done.stdout
    assert cli("check", bad).code == 1


def _properties(node, path=""):
    if isinstance(node, dict):
        for name, prop in node.get("properties", {}).items():
            yield f"{path}.{name}", prop
        for key, value in node.items():
            yield from _properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for value in node:
            yield from _properties(value, path)


def test_every_property_has_a_description_with_its_default(schema_file):
    schema = json.loads(schema_file.read_text())
    properties = list(_properties(schema))
    assert len(properties) > 300
    assert [path for path, prop in properties if not prop.get("description")] == []
    stride = schema["$defs"]["Conv2dLayer"]["properties"]["stride"]["description"]
    assert "pixels" in stride and stride.endswith("default: [1, 1]")


def test_only_the_listed_op_files_fall_back_to_type_descriptions(schema_file):
    from nncompile.compiler.ops import REGISTRY
    from nncompile.compiler.records import fields

    schema = json.loads(schema_file.read_text())
    for name, op in REGISTRY.items():
        if type(op).__module__.rsplit(".", 1)[-1] in DESCRIBED_BY_TYPE:
            continue
        layer = schema["$defs"][f"{type(op).__name__}Layer"]["properties"]
        for field in fields(op.Attrs):
            assert not layer[field]["description"].startswith(f"{field.replace('_', ' ')}: "), (name, field)
