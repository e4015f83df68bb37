"""Train the CCP-style CNN (specs/digits_cnn.yaml) on scikit-learn's 8×8 digits; the target
is ≥ 97% accuracy on the held-out test split (a few minutes at most on a CPU).

    python examples/train_digits.py     (nncompile train specs/digits_cnn.yaml --config examples/digits.yaml)
"""

import json
import sys
from pathlib import Path

from nncompile.cli import main

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    code = main(["train", str(ROOT / "specs/digits_cnn.yaml"), "--config", str(ROOT / "examples/digits.yaml"),
                 "--exist-ok", *sys.argv[1:]])  # a rerun replaces this example's own run, which it reads
    if code:
        sys.exit(code)
    accuracy = json.loads(Path("runs/digits/test.json").read_text())["accuracy"]
    print(f"test accuracy {accuracy:.2%} (target ≥ 97%)")
    sys.exit(0 if accuracy >= 0.97 else 1)
