"""docs/explain.md shows what the tool prints today: every command on the page is rerun
and its output compared (rerun scripts/gen_explain_doc.py after changing explain)."""

from __future__ import annotations


def test_explain_doc_is_up_to_date(load_script):
    gen = load_script("gen_explain_doc")
    text = gen.DOC.read_text(encoding="utf-8")
    assert len(gen.BLOCK.findall(text)) >= 5
    assert gen.update(text) == text, "run `python scripts/gen_explain_doc.py`"
    for picture in ("xor.svg", "softmax_exercise.svg", "gradient_flow.png"):
        assert (gen.DOC.parent / "explain" / picture).is_file()
