"""Safety: a spec cannot run code, read files outside its tree, or exhaust memory, the
stack or time; each attempt is a located diagnostic (docs/cli.md, "Hostile specs")."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap

import pytest
from suite import CLI_MODULE

from nncompile.compiler import analyse
from nncompile.compiler.diagnostics import SpecError


def codes(path, **kwargs) -> list[str]:
    try:
        return [d.code for d in analyse(path, **kwargs).errors]
    except SpecError as e:
        return [d.code for d in e.diagnostics]


# --- YAML: safe constructors only ------------------------------------------------------

@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system ['touch pwned']", "!!python/name:os.system",
                                 "!!python/object:os.system {}", "!!binary aGVsbG8=", "!!set {a}", "!custom x"])
def test_a_tag_is_a_diagnostic_not_an_object(write_spec, monkeypatch, tag):
    monkeypatch.setattr(os, "system", lambda *a: pytest.fail("os.system was called"))
    path = write_spec(f"name: {tag}\ninputs: {{x: [N, 3]}}\nlayers: [{{a: relu}}]\n")
    assert codes(path) == ["yaml-tag"]
    assert not (path.parent / "pwned").exists()


# --- expressions: arithmetic only -------------------------------------------------------

@pytest.mark.parametrize("expression", [
    "${open('/etc/passwd')}", "${__import__('os')}", "${exec('1')}", "${(lambda: 1)()}",  # calls
    "${[1, 2][2]}", "${[1, 2][True]}", "${'abc'[0]}", "${[1, 2][0:1]}",  # indexing: only a list or shape, in range
    "${k.__class__}", "${(1).real}",  # attributes
    "${9 ** 9 ** 9}", "${2 ** 100}", "${10 ** 18 * 10}",  # huge numbers
    "${[x for x in (1, 2)]}", "${{1: 2}}", "${f'{k}'}",  # comprehensions, dicts, f-strings
])
def test_expressions_cannot_call_index_or_grow(write_spec, expression):
    path = write_spec(f"params: {{k: 2}}\ninputs: {{x: [N, 3]}}\n"
                      f"layers:\n  - a: {{op: linear, out_features: \"{expression}\"}}\n")
    assert codes(path) == ["bad-expression"]


def test_a_list_is_indexed_in_range(write_spec):
    path = write_spec("params: {widths: [8, 16]}\ninputs: {x: [N, 3]}\n"
                      "layers:\n  - a: {op: linear, out_features: '${widths[-1] + [1, 2][0]}'}\n")
    assert analyse(path).nodes["a"].type.shape == ("N", 17)


def test_the_allowed_functions_work(write_spec):
    path = write_spec("params: {k: 2.6}\ninputs: {x: [N, 3]}\nlayers:\n"
                      "  - a: {op: linear, out_features: '${max(1, min(8, abs(-int(k) * 2)) + round(k))}'}\n")
    assert analyse(path).nodes["a"].type.shape == ("N", 7)  # max(1, min(8, 4) + 3)


# --- imports stay in the spec's tree --------------------------------------------------------

@pytest.mark.parametrize("target", ["../../etc/passwd", "/etc/passwd", "lib/../../outside.yaml", "../outside.yaml"])
def test_imports_stay_inside_the_spec_tree(tmp_path, target):
    (tmp_path / "outside.yaml").write_text("blocks: {b: {layers: [{r: relu}]}}\n")
    spec = tmp_path / "project" / "spec.yaml"
    (spec.parent / "lib").mkdir(parents=True)
    spec.write_text(f"import: {{evil: '{target}'}}\ninputs: {{x: [N, 3]}}\nlayers: [{{a: relu}}]\n")
    assert codes(spec) == ["import-outside"]


def test_a_symlink_out_of_the_tree_is_outside_too(tmp_path):
    (tmp_path / "outside.yaml").write_text("blocks: {b: {layers: [{r: relu}]}}\n")
    spec = tmp_path / "project" / "spec.yaml"
    spec.parent.mkdir()
    (spec.parent / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    spec.write_text("import: {lib: link.yaml}\ninputs: {x: [N, 3]}\nlayers: [{a: {block: lib.b}}]\n")
    assert codes(spec)[0] == "import-outside"


def test_allow_path_opens_another_tree(tmp_path, cli):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "blocks.yaml").write_text("blocks: {b: {layers: [{r: relu}]}}\n")
    spec = tmp_path / "project" / "spec.yaml"
    spec.parent.mkdir()
    spec.write_text("import: {lib: ../shared/blocks.yaml}\ninputs: {x: [N, 3]}\nlayers: [{a: {block: lib.b}}]\n")
    assert codes(spec) == ["import-outside"]
    assert codes(spec, allow_paths=[shared]) == []
    assert cli("build", spec, "--allow-path", shared).code == 0


# --- resource bounds ---------------------------------------------------------------------------

def test_repeat_is_bounded(write_spec):
    path = write_spec("params: {n: 10001}\ninputs: {x: [N, 3]}\nlayers:\n  - a: {op: relu, repeat: $n}\n")
    assert codes(path) == ["bad-attribute"]


def test_graph_size_is_bounded(write_spec, monkeypatch):
    monkeypatch.setattr(importlib.import_module("nncompile.compiler.expand"), "MAX_NODES", 500)
    path = write_spec("""
        blocks:
          ten: {layers: [{r: {op: relu, repeat: 10}}]}
        inputs: {x: [N, 3]}
        layers:
          - a: {block: ten, repeat: 100}
        """)
    with pytest.raises(SpecError) as e:
        analyse(path)
    assert e.value.diagnostics[-1].code == "too-large"
    assert "= 1,000 layers (limit 500)" in e.value.diagnostics[-1].message  # counted before expanding


def test_symbolic_sizes_stay_bounded_through_a_long_chain(write_spec):
    """10,000 stride-2 convolutions of a symbolic H: the size expression must not grow
    without bound (in text or in digits)."""
    path = write_spec("""
        inputs: {x: [N, 3, H, W]}
        layers:
          - c: {op: conv2d, out_channels: 3, kernel: 1, stride: 2, repeat: 10000}
        """)
    graph = analyse(path)
    assert [d.code for d in graph.errors] == ["shape-mismatch"]
    assert "too complex to follow symbolically" in graph.errors[0].message
    assert all(len(str(n.type)) < 1000 for n in graph.nodes.values() if n.type is not None)


# --- bombs, in a subprocess with a memory limit -----------------------------------------------------

BOMB = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}' if i else 'lol'] * 10)}]\n" for i in range(12))
MEMORY = 1 << 31  # 2 GiB of address space: the bomb fully built would need hundreds


def run_limited(tmp_path, text: str) -> subprocess.CompletedProcess:
    """`nncompile check` on text in a fresh interpreter limited to MEMORY bytes."""
    spec = tmp_path / "bomb.yaml"
    spec.write_text(text)
    program = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({MEMORY}, {MEMORY}))
        from {CLI_MODULE} import main
        sys.exit(main(["check", {str(spec)!r}]))
        """)
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("text, message", ids=["alias-bomb", "flow-list", "flow-map", "block-list", "recursive"],
                         argvalues=[
    (BOMB, "expands to more than 1,000,000 values"),
    ("[" * 100_000, "nested more than 100 levels deep"),  # libyaml's C composer segfaulted
    ("a: " + "{b: " * 100_000, "nested more than 100 levels deep"),
    ("- " * 100_000 + "x", "nested more than 100 levels deep"),
    ("a: &a [*a]\n", "refers to the node that contains it"),
])
def test_bombs_are_refused_within_bounded_memory(tmp_path, text, message):
    result = run_limited(tmp_path, text)
    assert result.returncode == 1, result.stderr[-2000:]  # not -11 (SIGSEGV) or a MemoryError traceback
    assert message in result.stderr and "Traceback" not in result.stderr
