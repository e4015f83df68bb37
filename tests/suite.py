"""Constants the whole suite shares, importable by name (`from suite import ROOT`): a
conftest is not, since every folder's conftest.py would answer to `import conftest`."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI_MODULE = "nncompile.cli"  # the one place tests name the CLI's module

# a chunk's three parts joined out of order: each part read once (the lowering's one call)
CHUNK_PARTS_SPEC = """
name: parts
inputs: {x: [N, 6, 4]}
layers:
  - parts: {op: chunk, chunks: 3, dim: 1}
  - joined: {op: concat, in: [parts.2, parts.0, parts.1], axis: 1}
outputs: [joined]
"""
