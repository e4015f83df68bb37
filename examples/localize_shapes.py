"""Classification + localization on generated images of one shape each (no download): one
backbone, a class head and a box head (specs/localize_shapes.yaml), trained with a multi-task
loss; the targets, on held-out images, are ≥ 95% class accuracy and a mean box IoU ≥ 0.7.

    python examples/localize_shapes.py   (nncompile train specs/localize_shapes.yaml --config examples/localize_shapes.yaml)
"""

import json
import sys
from pathlib import Path

from nncompile.cli import main

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    code = main(["train", str(ROOT / "specs/localize_shapes.yaml"), "--config", str(ROOT / "examples/localize_shapes.yaml"),
                 "--exist-ok", *sys.argv[1:]])  # a rerun replaces this example's own run, which it reads
    if code:
        sys.exit(code)
    test = json.loads(Path("runs/localize_shapes/test.json").read_text())
    accuracy, iou = test["class.accuracy"], test["box.box_iou"]
    print(f"test class accuracy {accuracy:.1%}, mean box IoU {iou:.3f} (targets ≥ 95%, ≥ 0.7)")
    sys.exit(0 if accuracy >= 0.95 and iou >= 0.7 else 1)
