"""Greedy layer-wise pre-training, then fine-tuning, of the digits CNN (the slides' stacked
autoencoders): layer1 learns to reconstruct the image, layer2 (layer1 now fixed) to
reconstruct layer1's features, then the whole network trains on the labels.

    python examples/pretrain_digits.py  (nncompile train specs/digits_cnn.yaml --config examples/pretrain_digits.yaml)
"""

import json
import sys
from pathlib import Path

from nncompile.cli import main

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    code = main(["train", str(ROOT / "specs/digits_cnn.yaml"), "--config", str(ROOT / "examples/pretrain_digits.yaml"),
                 "--exist-ok", *sys.argv[1:]])  # a rerun replaces this example's own run, which it reads
    if code:
        sys.exit(code)
    accuracy = json.loads(Path("runs/pretrain_digits/test.json").read_text())["accuracy"]
    print(f"test accuracy after pre-training and fine-tuning {accuracy:.2%} (target ≥ 97%)")
    sys.exit(0 if accuracy >= 0.97 else 1)
