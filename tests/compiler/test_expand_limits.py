"""Deep and long inputs get located diagnostics (or work), never Python's RecursionError;
the spec's hash depends on its content, not on how or from where it was named."""

from pathlib import Path

from nncompile.compiler import analyse


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
