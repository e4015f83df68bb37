"""Keep docs/explain.md true: rerun every command shown in it and put back what it prints.

A ```console block whose first line is `$ nncompile …` or `$ python examples/….py …` holds
that command's output below it; this script reruns each command (in this process, from
the repository's root) and rewrites the block. Without --check it also draws the page's
pictures into docs/explain/.

    python scripts/gen_explain_doc.py           # rewrite docs/explain.md and its pictures
    python scripts/gen_explain_doc.py --check   # exit 1 if the page is out of date
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import runpy
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "explain.md"
BLOCK = re.compile(r"```console\n\$ (?P<command>[^\n]+)\n(?P<output>.*?)```", re.DOTALL)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
PICTURES = [  # the page's pictures: the same tools, writing files
    "nncompile explain specs/xor.yaml --input 1,0 --target 1 --draw docs/explain/xor.svg",
    "nncompile explain examples/specs/softmax_exercise.yaml --input 0.1,0.15,0.2 --target 1 "
    "--draw docs/explain/softmax_exercise.svg",
    "python examples/gradient_flow.py --plot docs/explain/gradient_flow.png",
]


def run(command: str) -> str:
    """What the command prints on stdout, run from the repository's root."""
    from nncompile.cli import main

    words = shlex.split(command)
    out, cwd, argv = io.StringIO(), os.getcwd(), sys.argv
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out):
            if words[0] == "nncompile":
                code = main(words[1:])
                if code:
                    raise RuntimeError(f"`{command}` exited with {code}")
            elif words[0] == "python":
                sys.argv = words[1:]
                runpy.run_path(words[1], run_name="__main__")
            else:
                raise ValueError(f"cannot run `{command}`: only nncompile and python commands")
    finally:
        os.chdir(cwd)
        sys.argv = argv
    return out.getvalue()


def update(text: str) -> str:
    return BLOCK.sub(lambda m: f"```console\n$ {m['command']}\n{run(m['command'])}```", text)


def matches(fresh: str, text: str) -> bool:
    """Whether the page says what the commands print, up to float32's last digits: the same
    words, and numbers within 1e-4 of each other, or within 1e-20 (where an exact cancellation,
    XOR's Wᵀ δ, leaves 0 on one CPU and a residue of fused multiply-adds on another)."""
    words, numbers = NUMBER.split(fresh), NUMBER.findall(fresh)
    if words != NUMBER.split(text):
        return False
    return all(math.isclose(float(a), float(b), rel_tol=1e-4, abs_tol=1e-20)
               for a, b in zip(numbers, NUMBER.findall(text)))


def main() -> int:
    text = DOC.read_text(encoding="utf-8")
    fresh = update(text)
    if "--check" in sys.argv[1:]:
        if not matches(fresh, text):
            print(f"{DOC.relative_to(ROOT)} is out of date: run python scripts/gen_explain_doc.py", file=sys.stderr)
            return 1
        return 0
    (ROOT / "docs" / "explain").mkdir(exist_ok=True)
    for command in PICTURES:
        run(command)
    DOC.write_text(fresh, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
