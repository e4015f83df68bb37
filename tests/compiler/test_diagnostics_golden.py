"""Golden diagnostics: the command of every examples/errors/<code>.yaml (`nncompile build`
unless its `# run:` line says another) prints exactly examples/errors/<code>.expected on
stderr. NNCOMPILE_UPDATE_GOLDEN=1 rewrites the goldens (review the diff before committing).
docs/errors.md is generated from the same files and compiler/codes.py and must be up to date.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

from pathlib import Path

import pytest

from nncompile.compiler.codes import CODES

ROOT = Path(__file__).resolve().parents[2]

UPDATE = os.environ.get("NNCOMPILE_UPDATE_GOLDEN") == "1"
LOCATED = re.compile(r"^examples/errors/[\w./-]+\.yaml:\d+:\d+: (error|warning): .+ \[([a-z0-9-]+)\]$")


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_errors_doc", ROOT / "scripts" / "gen_errors_doc.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


gen = _load_generator()
EXAMPLES = gen.examples()


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.path.stem for e in EXAMPLES])
def test_golden(example, cli, in_repo):
    result = cli(*example.command)
    assert "Traceback" not in result.err
    first = result.err.splitlines()[0]
    match = LOCATED.match(first)
    assert match, f"not a located diagnostic: {first!r}"
    severity, code = match.groups()
    assert code == example.code, "the example is named after the code it triggers"
    if CODES[example.code].warning:  # the spec still builds
        assert (result.code, severity) == (0, "warning")
    else:
        assert (result.code, severity, result.out) == (1, "error", "")  # a failed build prints no report
    if UPDATE or not example.expected.exists():
        example.expected.write_text(result.err, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"wrote the missing golden {example.expected.name}: review and commit it")
    assert result.err == example.expected.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["in-features", "yaml-tag"])
def test_golden_through_a_process(name):
    """The installed entry point behaves as in-process: same stderr, exit 1."""
    example = next(e for e in EXAMPLES if e.code == name)
    done = subprocess.run([sys.executable, "-m", "nncompile.cli", *example.command], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == example.expected.read_text(encoding="utf-8")


def test_slides_ccp_variant_shows_288_and_6272(in_repo, cli):
    """The classic: in_features written for a 6×6 map at 224×224 input."""
    result = cli("build", "examples/errors/in-features.yaml")
    spec_lines = (ROOT / "examples/errors/in-features.yaml").read_text().splitlines()
    line = int(result.err.split(":")[1])
    assert "in_features" in spec_lines[line - 1]
    assert "288" in result.err and "6,272" in result.err and "8 × 28 × 28" in result.err


def test_every_example_explains_itself():
    for example in EXAMPLES:
        assert example.code in CODES, f"{example.path.name} is named after no code of compiler/codes.py"
        fix = next((i for i, line in enumerate(example.comment) if line.startswith("Fix:")), 0)
        assert len(" ".join(example.comment[:fix])) > 20, f"{example.path.name}: its leading comment says what is wrong"
        assert fix, f"{example.path.name}: its leading comment needs a `Fix:` line after that"


def test_errors_doc_is_up_to_date():
    doc = ROOT / "docs" / "errors.md"
    assert doc.read_text(encoding="utf-8") == gen.render(EXAMPLES), \
        "docs/errors.md is stale: run python scripts/gen_errors_doc.py"


def test_no_orphan_goldens():
    orphans = [p.name for p in gen.EXAMPLES.glob("*.expected") if not p.with_suffix(".yaml").exists()]
    assert not orphans, f"delete the goldens of removed examples: {orphans}"


def test_a_printable_message_is_kept_as_it_is_and_any_other_escaped():
    """bounded() returns a printable message unscanned: sound only if every character its
    pattern escapes is unprintable, which all of Unicode is checked for here."""
    from nncompile.compiler.diagnostics import _UNPRINTABLE, bounded

    escaped = [chr(c) for c in range(0x110000) if _UNPRINTABLE.match(chr(c))]
    assert escaped and not any(c.isprintable() for c in escaped)
    assert bounded("layer 'a' (relu): fine") == "layer 'a' (relu): fine"
    assert bounded("a\tb\u202ec\nd") == "a\\tb\\u202ec\\nd"
