"""Constants the whole suite shares, importable by name (`from suite import ROOT`): a
conftest is not, since every folder's conftest.py would answer to `import conftest`."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI_MODULE = "nncompile.cli"  # the one place tests name the CLI's module
