"""docs/explain.md shows what the tool prints today: every command on the page is rerun
and its output compared (rerun scripts/gen_explain_doc.py after changing explain)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_script():
    spec = importlib.util.spec_from_file_location("gen_explain_doc", ROOT / "scripts" / "gen_explain_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_explain_doc_is_up_to_date():
    gen = _load_script()
    text = gen.DOC.read_text(encoding="utf-8")
    assert len(gen.BLOCK.findall(text)) >= 5
    assert gen.update(text) == text, "run `python scripts/gen_explain_doc.py`"
    for picture in ("xor.svg", "softmax_exercise.svg", "gradient_flow.png"):
        assert (gen.DOC.parent / "explain" / picture).is_file()
