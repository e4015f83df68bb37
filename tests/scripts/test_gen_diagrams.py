"""docs/diagrams/ is the script's output for today's specs: the index lists every spec and
each picture carries the spec's current parameter total (rerun scripts/gen_diagrams.py)."""

from __future__ import annotations

from nncompile.compiler import analyse


def test_diagrams_are_up_to_date(load_script):
    gen = load_script("gen_diagrams")
    graphs = {path: analyse(path) for path in gen.specs()}
    hint = "run `python scripts/gen_diagrams.py`"
    assert (gen.OUT / "README.md").read_text(encoding="utf-8") == gen.index(graphs), hint
    assert {p.stem for p in gen.OUT.glob("*.svg")} == {p.stem for p in graphs}, hint
    for path, graph in graphs.items():
        svg = (gen.OUT / f"{path.stem}.svg").read_text(encoding="utf-8")
        assert f"{graph.totals.params:,} params" in svg, f"{path.stem}.svg is stale: {hint}"
