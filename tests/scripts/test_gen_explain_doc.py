"""docs/explain.md shows what the tool prints today: every command on the page is rerun
and its output compared (rerun scripts/gen_explain_doc.py after changing explain)."""

from __future__ import annotations


def test_explain_doc_is_up_to_date(load_script):
    gen = load_script("gen_explain_doc")
    text = gen.DOC.read_text(encoding="utf-8")
    assert len(gen.BLOCK.findall(text)) >= 5
    assert gen.matches(gen.update(text), text), "run `python scripts/gen_explain_doc.py`"
    for picture in ("xor.svg", "softmax_exercise.svg", "gradient_flow.png"):
        assert (gen.DOC.parent / "explain" / picture).is_file()


def test_the_page_matches_up_to_float32_digits_only(load_script):
    gen = load_script("gen_explain_doc")
    page = "δ = [-3.75581e-12, 0]\nL = 2.06846e-09\n"
    assert gen.matches("δ = [-3.75581e-12, 6.46235e-27]\nL = 2.06847e-09\n", page)
    assert not gen.matches("δ = [-3.75581e-12, 1e-09]\nL = 2.06846e-09\n", page)  # a real gradient
    assert not gen.matches("δ = [-3.75581e-12, 0]\nL = 2.1e-09\n", page)
    assert not gen.matches("∂ = [-3.75581e-12, 0]\nL = 2.06846e-09\n", page)  # other words
