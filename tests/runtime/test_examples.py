"""Each example reaches its target from a clean folder, with the one command its docstring gives."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("script, target", [
    ("train_xor.py", "accuracy 100% on the four points"),
    ("train_digits.py", "(target ≥ 97%)"),
    ("pretrain_digits.py", "(target ≥ 97%)"),
    ("segment_shapes.py", "(target ≥ 0.9)"),
    ("localize_shapes.py", "(targets ≥ 95%, ≥ 0.7)"),  # the script exits 1 unless both are met on the test split
])
def test_example_reaches_its_target(script, target, tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--no-progress"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert target in result.stdout
