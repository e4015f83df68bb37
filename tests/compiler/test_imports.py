"""`build` and `check` import only what analysis needs: no torch, onnx or NumPy (importing
them costs more than building most networks; issue 16 item 4), for every shipped spec."""

from __future__ import annotations

import subprocess
import sys

from suite import CLI_MODULE, ROOT

HEAVY = ("torch", "onnx", "numpy", "onnxruntime", "ml_dtypes")


def test_build_and_check_of_the_zoo_import_no_torch_onnx_or_numpy():
    specs = sorted(str(p) for p in (ROOT / "specs").glob("*.yaml"))
    code = (f"import io, sys, contextlib; from {CLI_MODULE} import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert main(['check', '--quiet', *{specs!r}]) == 0\n"
            f"    assert main(['build', '--format', 'json', {specs[0]!r}]) == 0\n"
            f"    assert main(['build', {specs[-1]!r}]) == 0\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
