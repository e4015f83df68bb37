"""README's zoo table is the script's output for today's specs (all but the timings)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _untimed_rows(text: str) -> list[str]:
    """Table rows without their last cell (the build time, which changes per run)."""
    return [line.rsplit("|", 2)[0] for line in text.splitlines() if line.startswith("| [")]


def test_readme_zoo_table_is_up_to_date(load_script):
    zoo = load_script("zoo_table")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(zoo.START, 1)[1].split(zoo.END, 1)[0]
    assert _untimed_rows(section) == _untimed_rows(zoo.table()), "run `python scripts/zoo_table.py`"
    assert len(_untimed_rows(section)) == len(list((ROOT / "specs").glob("*.yaml")))
