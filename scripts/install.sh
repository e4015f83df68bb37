#!/usr/bin/env bash
# Installs nncompile and what it needs on a fresh Debian machine (run as root) or in a venv.
#   bash scripts/install.sh          the compiler (build, check, draw: no torch needed)
#   bash scripts/install.sh --test   everything the test suite needs: graphviz's dot,
#                                    torch's CPU build, torchvision, onnx, onnxruntime, pytest
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
PY=${PYTHON:-python3}
pip_install() { "$PY" -m pip install -q "$@"; }

if ! "$PY" -m pip --version >/dev/null 2>&1 && command -v apt-get >/dev/null; then
  apt-get update -qq && apt-get install -y -qq python3-pip python3-venv >/dev/null
fi
if [ "${1:-}" = "--test" ]; then
  if ! command -v dot >/dev/null && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq graphviz >/dev/null
  fi
  # torch's CPU build first (pinned), so that no range below pulls a multi-GB CUDA build
  "$PY" -c "import torch" 2>/dev/null || pip_install torch==2.13.0
  # torchvision's models, the truth the zoo is tested against (tests/torchvision_shim.py):
  # --no-deps, or its CUDA wheel's pin would replace the CPU torch above
  pip_install torchvision==0.28.0 --no-deps
  pip_install -e ".[test]"
else
  pip_install -e .
fi
