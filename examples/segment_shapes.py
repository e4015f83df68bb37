"""Segment the synthetic shapes set (circles, squares, triangles, generated on the fly) with
a small FCN (specs/shapes_fcn.yaml); the target is a test mean IoU ≥ 0.9.

    python examples/segment_shapes.py   (nncompile train specs/shapes_fcn.yaml --config examples/shapes.yaml)
"""

import json
import sys
from pathlib import Path

from nncompile.cli import main

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    code = main(["train", str(ROOT / "specs/shapes_fcn.yaml"), "--config", str(ROOT / "examples/shapes.yaml"),
                 "--exist-ok", *sys.argv[1:]])  # a rerun replaces this example's own run, which it reads
    if code:
        sys.exit(code)
    iou = json.loads(Path("runs/shapes/test.json").read_text())["mean_iou"]
    print(f"test mean IoU {iou:.3f} (target ≥ 0.9)")
    sys.exit(0 if iou >= 0.9 else 1)
