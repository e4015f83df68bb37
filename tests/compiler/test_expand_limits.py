"""Deep and long inputs get located diagnostics (or work), never Python's RecursionError;
the spec's hash depends on its content, not on how or from where it was named."""

import importlib
from pathlib import Path

import pytest

from nncompile.compiler import analyse
from nncompile.compiler.diagnostics import SpecError
from nncompile.compiler.expand import budget, walk
from suite import ROOT


def _nested_blocks(depth: int) -> str:
    """Block b0 calls b1 calls … b{depth-1}: nesting, no recursion."""
    lines = ["inputs: {x: [N, 4]}", "blocks:"]
    for i in range(depth):
        inner = f"{{b: {{block: b{i + 1}}}}}" if i < depth - 1 else "{fc: {op: linear, out_features: 3}}"
        lines.append(f"  b{i}: {{layers: [{inner}]}}")
    return "\n".join(lines + ["layers:", "  - a: {block: b0}", ""])


def test_an_expression_of_496_minuses_is_too_deep_not_a_crash(write_spec, run_nncompile):
    path = write_spec('inputs: {x: [N, 4]}\nlayers:\n  - fc: {op: linear, out_features: "${%s1}"}\n' % ("-" * 496))
    result = run_nncompile("check", path, cwd=path.parent)
    assert result.code == 1 and "Traceback" not in result.err
    assert result.err.startswith("spec.yaml:3:36: error: expression nested too deeply (limit 100) [bad-expression]")


def test_a_chain_of_1500_imports_loads(tmp_path, run_nncompile):
    count = 1500
    (tmp_path / "main.yaml").write_text("import: {l: c0.yaml}\ninputs: {x: [N, 4]}\nlayers:\n  - a: {block: l.b}\n")
    for i in range(count):
        following = f"import: {{l: c{i + 1}.yaml}}\n" if i < count - 1 else ""
        (tmp_path / f"c{i}.yaml").write_text(following + "blocks:\n  b: {layers: [{fc: {op: linear, out_features: 3}}]}\n")
    result = run_nncompile("check", "main.yaml", cwd=tmp_path)
    assert (result.code, result.err) == (0, "")
    assert "main.yaml: ok (15 params)" in result.out


def test_a_deep_chain_of_imports_names_an_unknown_block_without_crashing(tmp_path, run_nncompile):
    count = 1200  # 'did you mean' lists every block reachable through the chain
    (tmp_path / "main.yaml").write_text("import: {l: c0.yaml}\ninputs: {x: [N, 4]}\nlayers:\n  - a: {block: l.nope}\n")
    for i in range(count):
        following = f"import: {{l: c{i + 1}.yaml}}\n" if i < count - 1 else ""
        (tmp_path / f"c{i}.yaml").write_text(following + "blocks:\n  b: {layers: [{fc: {op: linear, out_features: 3}}]}\n")
    result = run_nncompile("check", "main.yaml", cwd=tmp_path)
    assert result.code == 1 and "Traceback" not in result.err
    assert result.err.startswith("main.yaml:4:16: error: layer 'a': unknown block 'l.nope' [unknown-block]")
    assert len(result.err) < 2_000  # the note names 20 of the 1,200 blocks reachable


def test_blocks_nested_64_deep_build_and_deeper_nesting_is_named_as_such(write_spec, run_nncompile):
    fine = write_spec(_nested_blocks(64), "fine.yaml")
    assert run_nncompile("check", fine, cwd=fine.parent).code == 0
    deep = write_spec(_nested_blocks(70), "deep.yaml")
    result = run_nncompile("check", deep, cwd=deep.parent)
    assert result.code == 1 and "Traceback" not in result.err and "calls itself" not in result.err
    assert result.err.startswith("deep.yaml:66:30: error: blocks are nested more than 64 levels deep [too-large]")


def test_real_recursion_is_still_recursion(write_spec, run_nncompile):
    path = write_spec("""
        inputs: {x: [N, 4]}
        blocks:
          a: {layers: [{x: {block: b}}]}
          b: {layers: [{y: {block: a}}]}
        layers:
          - top: {block: a}
        """)
    result = run_nncompile("check", path, cwd=path.parent)
    assert result.code == 1
    assert result.err.startswith("spec.yaml:4:28: error: block 'a' calls itself [block-recursion]")


def test_the_hash_is_the_same_however_the_spec_is_named(tmp_path, monkeypatch):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.yaml").write_text("blocks:\n  b: {layers: [{fc: {op: linear, out_features: 3}}]}\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text("import: {lib: lib/blocks.yaml}\ninputs: {x: [N, 4]}\nlayers:\n  - a: {block: lib.b}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path)
    relative = analyse("spec.yaml").source_hash
    absolute = analyse(spec).source_hash
    monkeypatch.chdir(elsewhere)
    from_elsewhere = analyse(Path("..") / "spec.yaml").source_hash
    assert relative == absolute == from_elsewhere and len(relative) == 64
    (tmp_path / "lib" / "blocks.yaml").write_text("blocks:\n  b: {layers: [{fc: {op: linear, out_features: 4}}]}\n")
    assert analyse(spec).source_hash != relative  # one byte of an import


def test_the_hash_covers_the_params(write_spec):
    path = write_spec("params: {width: 3}\ninputs: {x: [N, 4]}\nlayers:\n  - fc: {op: linear, out_features: $width}\n")
    assert analyse(path).source_hash != analyse(path, {"width": 5}).source_hash


# --- budgets before work: a spec's size is counted before anything is expanded ----------------

def _refusal(path, params=None):
    """The too-large diagnostic analyse gives (the only error)."""
    with pytest.raises(SpecError) as caught:
        analyse(path, params)
    (found,) = caught.value.diagnostics
    assert found.code == "too-large"
    return found


def test_a_repeat_of_repeats_of_blocks_is_refused_at_the_repeat_with_its_product(write_spec, cli):
    path = write_spec("""
        inputs: {x: [N, 4]}
        blocks:
          c: {layers: [{r: relu}]}
          b: {layers: [{c: {block: c, repeat: 100}}]}
          a: {layers: [{b: {block: b, repeat: 100}}]}
        layers:
          - top: {block: a, repeat: 100}
        """)
    result = cli("check", str(path))
    assert result.code == 1
    assert result.err.splitlines()[0] == (f"{path}:7:29: error: layer 'top' expands to 100 × 100 × 100 = "
                                          "1,000,000 layers (limit 250,000) [too-large]")
    assert [line.strip() for line in result.err.splitlines() if "note:" in line] == [
        f"note: 100 copies of layer 'top' ({path}:7:29)",
        f"note: × 100 copies of layer 'b' in block 'a' ({path}:5:39)",
        f"note: × 100 copies of layer 'c' in block 'b' ({path}:4:39)"]


def test_a_block_too_large_on_its_own_names_the_chain_of_calls(write_spec):
    path = write_spec("""
        params: {n: 10}
        inputs: {x: [N, 4]}
        blocks:
          ten: {layers: [{r: {op: relu, repeat: 10}}]}
          wide:
            params: {k: int}
            layers: [{r: {block: ten, repeat: $k}}, {s: {block: ten, repeat: $k}}, {t: {block: ten, repeat: $k}}]
          outer: {params: {m: int}, layers: [{w: {block: wide, k: "${m * 100}"}}]}
        layers:
          - first: relu
          - body: {block: outer, m: $n}
        """)
    found = _refusal(path, {"n": "100"})  # `--set n=100`: the repeat is evaluated as the walker will
    assert found.message == ("block 'wide' expands to more than 250,000 layers: 300,000 by its layer 't', "
                             "which expands to 10,000 × 10 = 100,000")
    assert (found.span.line, found.span.col) == (7, 77)
    assert found.notes == [f"10,000 copies of layer 't' in block 'wide' ({path}:7:101)",
                           f"× 10 copies of layer 'r' in block 'ten' ({path}:4:41)",
                           f"in block 'wide', called by layer 'w' ({path}:8:39)",
                           f"in block 'outer', called by layer 'body' ({path}:11:5)"]
    assert len(analyse(path).nodes) == 30_002  # n = 10: 30,000 layers, `first` and the input, built


def test_layers_that_add_up_past_the_limit_are_refused_at_the_one_that_passes_it(write_spec):
    path = write_spec("""
        inputs: {x: [N, 4]}
        blocks:
          ten: {layers: [{r: {op: relu, repeat: 10}}]}
        layers:
          - a: {block: ten, repeat: 10000}
          - b: {block: ten, repeat: 10000}
          - parts: {op: chunk, chunks: 60000, dim: 0}
        """)
    found = _refusal(path)
    assert found.message == ("the network expands to more than 250,000 layers: 260,001 by its layer 'parts', "
                             "which expands to 60,000")
    assert (found.span.line, found.span.col) == (7, 5)


def test_blocks_imported_from_other_files_are_counted_where_they_are_defined(tmp_path):
    (tmp_path / "lib.yaml").write_text("blocks:\n  deep: {layers: [{r: {op: relu, repeat: 1000}}]}\n")
    (tmp_path / "main.yaml").write_text("import: {lib: lib.yaml}\ninputs: {x: [N, 4]}\n"
                                        "layers:\n  - a: {block: lib.deep, repeat: 300}\n")
    found = _refusal(tmp_path / "main.yaml")
    assert found.message == "layer 'a' expands to 300 × 1,000 = 300,000 layers (limit 250,000)"
    assert found.notes[1] == f"× 1,000 copies of layer 'r' in block 'deep' ({tmp_path / 'lib.yaml'}:2:42)"


def test_copies_that_differ_by_their_index_are_counted_one_by_one(write_spec):
    path = write_spec("""
        inputs: {x: [N, 4]}
        blocks:
          grow: {params: {n: int}, layers: [{r: {op: relu, repeat: "${n + 1}"}}]}
        layers:
          - a: {block: grow, repeat: 1000, n: $i}
        """)
    found = _refusal(path)  # 1 + 2 + … + 707 = 250,278
    assert found.message == "layer 'a' expands to more than 250,000 layers: 250,278 in its first 707 of 1,000 copies"


def test_a_switched_off_layer_still_counts_one_for_the_walker_visits_it(write_spec):
    path = write_spec("""
        inputs: {x: [N, 4]}
        blocks:
          skipped: {layers: [{r: {op: relu, when: false, repeat: 1000}}]}
        layers:
          - a: {block: skipped, repeat: 1000}
        """)
    assert _refusal(path).message.startswith("layer 'a' expands to 1,000 × 1,000 = 1,000,000 layers")


def test_a_repeat_that_reads_a_shape_is_left_to_the_walkers_own_bound(write_spec, monkeypatch):
    monkeypatch.setattr(importlib.import_module("nncompile.compiler.expand"), "MAX_NODES", 50)
    path = write_spec("""
        inputs: {x: [N, 64]}
        blocks:
          by_width: {layers: [{r: {op: relu, repeat: "${input.shape[1]}"}}]}
        layers:
          - a: {block: by_width}
        """)
    assert _refusal(path).message == "the network expands to more than 50 layers"


def _shipped_specs() -> list[Path]:
    return sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "examples" / "specs").glob("*.yaml"))


@pytest.mark.parametrize("path", _shipped_specs(), ids=lambda p: p.name)
def test_the_budget_counts_what_the_walker_builds(path, monkeypatch):
    """The count made before expanding is the walker's: a node per output and one per layer
    it switches off, exactly, but where a `when:` reads a shape (counted as true, so the
    count is at most that much over)."""
    expand_module = importlib.import_module("nncompile.compiler.expand")
    seen = {}

    def counted(*args):
        seen["size"] = budget.check_budget(*args)
        return seen["size"]

    def walked(walker, *args):
        seen["walker"] = walker
        return original_spec(walker, *args)

    original_spec = walk.Walker.spec
    monkeypatch.setattr(expand_module, "check_budget", counted)
    monkeypatch.setattr(walk.Walker, "spec", walked)
    graph, _ = expand_module.expand(path)
    built = len(graph.nodes) + len(seen["walker"].links.switched_off)
    size = seen["size"]
    assert size.total - size.guessed <= built <= size.total
    if size.guessed == 0:
        assert built == size.total
