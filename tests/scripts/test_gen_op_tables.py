"""The op tables of docs/spec-language.md and docs/onnx.md are the script's output for
today's registry and op cases (rerun scripts/gen_op_tables.py after adding or changing an op)."""

from __future__ import annotations

from nncompile.compiler.ops import REGISTRY


def test_op_tables_are_up_to_date(load_script):
    gen = load_script("gen_op_tables")
    hint = "run `python scripts/gen_op_tables.py`"
    for path, markers, table in [(gen.SPEC_LANGUAGE, gen.OPS_MARKERS, gen.ops_table()),
                                 (gen.ONNX, gen.ONNX_MARKERS, gen.onnx_table())]:
        _, inside, _ = gen.split(path.read_text(encoding="utf-8"), markers)
        assert inside == f"\n{table}\n", f"{path.name} is stale: {hint}"
        assert all(f"| `{name}` |" in table for name in REGISTRY)


def test_the_conventions_table_names_only_registered_ops(load_script):
    """docs/onnx.md's hand-written table of where ONNX and torch part names real ops."""
    gen = load_script("gen_op_tables")
    text = gen.ONNX.read_text(encoding="utf-8")
    notes = text.split("| op | lowering |", 1)[1].split("\n\n", 1)[0]
    named = {name.strip() for row in notes.splitlines()[2:] for name in row.split("|")[1].split(",")}
    assert named and named <= set(REGISTRY), named - set(REGISTRY)
