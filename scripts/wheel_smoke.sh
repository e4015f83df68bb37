#!/usr/bin/env bash
# The wheel is the product: build it, install it (not editable) into a fresh venv, and use it
# from a folder outside the repository, as a user who ran `pip install nncompile` would.
#   bash scripts/wheel_smoke.sh
# Offline: the wheel is built with the setuptools already installed (no build isolation), and
# the venv sees the system's site-packages for pyyaml, pydantic, torch, onnx. Needs
# `python3 -m venv` (Debian: python3-venv) and Graphviz's `dot` for draw -o .svg.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
step() { echo "wheel_smoke: $*"; }

# the tree as git sees it (tracked and new files, nothing ignored), so the build's own
# build/ folder lands in the copy, never in the checkout
step "building the wheel"
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard) |
  (cd "$REPO" && tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$WORK" --one-top-level=src
"$PY" -m pip wheel "$WORK/src" --no-deps --no-build-isolation -q -w "$WORK/dist"
WHEEL=$(ls "$WORK"/dist/nncompile-*.whl)

step "installing $(basename "$WHEEL") into a fresh venv"
"$PY" -m venv --system-site-packages "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install -q --no-deps --force-reinstall "$WHEEL"
NNC="$WORK/venv/bin/nncompile"

mkdir "$WORK/user"
cd "$WORK/user"
# the system's editable install puts a finder for the checkout on every path; the venv's own
# site-packages must come first, or this would test the checkout, not the wheel
"$VPY" - "$WORK/venv" <<'EOF'
import importlib.util, pathlib, sys
venv = pathlib.Path(sys.argv[1]).resolve()
for name in ("nncompile.cli", "nncompile.compiler", "nncompile.zoo"):
    spec = importlib.util.find_spec(name)
    where = pathlib.Path(spec.origin or list(spec.submodule_search_locations)[0]).resolve()
    if not where.is_relative_to(venv):
        sys.exit(f"wheel_smoke: {name} comes from {where}, not from the venv {venv}")
EOF

step "a zoo network by name, from $PWD"
"$NNC" --version
"$VPY" -m nncompile --version
"$NNC" zoo > zoo.txt && grep -q "^resnet50 " zoo.txt
"$NNC" build resnet50 -q > resnet50.txt && grep -q "25,557,032" resnet50.txt
"$NNC" check resnet18 zoo:mobilenet_v2
"$NNC" draw resnet18 --depth 1 -o resnet18.svg
"$NNC" export resnet18 -o resnet18.onnx

step "a user's spec importing a shipped library"
cat > mine.yaml <<'EOF'
name: mine
import: {resnet: zoo:lib/resnet.yaml}
inputs:
  image: [N, 3, 64, 64]
layers:
  - stem: {op: conv2d, out_channels: 32, kernel: 3, padding: 1, bias: false}
  - layer1: {block: resnet.basic, repeat: 2, channels: 32}
  - layer2: {block: resnet.bottleneck, width: 16, stride: 2}
  - pool: {op: adaptive_avgpool2d, output_size: 1}
  - flat: flatten
  - fc: {op: linear, out_features: 10}
EOF
"$NNC" build mine.yaml -q > mine.txt && grep -q "fc" mine.txt
"$NNC" check mine.yaml
"$NNC" draw mine.yaml -o mine.svg
"$NNC" export mine.yaml -o mine.onnx
"$VPY" -m nncompile check mine.yaml
test -s resnet18.svg && test -s resnet18.onnx && test -s mine.svg && test -s mine.onnx
step "ok"
