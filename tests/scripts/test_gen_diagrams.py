"""docs/diagrams/ is the script's output for today's specs: the index lists every spec and
each picture carries the spec's current parameter total (rerun scripts/gen_diagrams.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from nncompile.compiler import analyse

ROOT = Path(__file__).resolve().parents[2]


def _load_script():
    spec = importlib.util.spec_from_file_location("gen_diagrams", ROOT / "scripts" / "gen_diagrams.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_diagrams_are_up_to_date():
    gen = _load_script()
    graphs = {path: analyse(path) for path in gen.specs()}
    hint = "run `python scripts/gen_diagrams.py`"
    assert (gen.OUT / "README.md").read_text(encoding="utf-8") == gen.index(graphs), hint
    assert {p.stem for p in gen.OUT.glob("*.svg")} == {p.stem for p in graphs}, hint
    for path, graph in graphs.items():
        svg = (gen.OUT / f"{path.stem}.svg").read_text(encoding="utf-8")
        assert f"{graph.totals.params:,} params" in svg, f"{path.stem}.svg is stale: {hint}"
