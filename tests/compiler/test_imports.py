"""`build` and `check` import only what analysis needs: no torch, onnx or NumPy (importing
them costs more than building most networks; issue 16 item 4), and, for a valid spec, no
pydantic (records validate what is plainly valid; pydantic is imported for an error), for
every shipped spec."""

from __future__ import annotations

import subprocess
import sys

from suite import CLI_MODULE, ROOT

HEAVY = ("torch", "onnx", "numpy", "onnxruntime", "ml_dtypes", "pydantic", "pydantic_core")
# ms each at every start, for what the build needs from them (a sha256, 4 random bytes, records)
SLOW = ("hashlib", "_hashlib", "secrets", "hmac", "dataclasses", "inspect")
# and none of nncompile.runtime (training's flags are declared only for `train` and `explain`)


def test_build_and_check_of_the_zoo_import_no_torch_onnx_numpy_pydantic_or_hashlib():
    specs = sorted(str(p) for p in (ROOT / "specs").glob("*.yaml"))
    code = (f"import io, sys, contextlib; from {CLI_MODULE} import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert main(['check', '--quiet', *{specs!r}]) == 0\n"
            f"    assert main(['build', '--format', 'json', {specs[0]!r}]) == 0\n"
            f"    assert main(['build', {specs[-1]!r}]) == 0\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY + SLOW!r} or m.startswith('nncompile.runtime')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_an_invalid_spec_gets_pydantics_own_message(tmp_path):
    """The fast path leaves errors to pydantic: its message, word for word, at the value."""
    from typing import Annotated

    import pydantic

    spec = tmp_path / "bad.yaml"
    spec.write_text("inputs: {x: [N, 3, 8, 8]}\nlayers:\n  - conv: {op: conv2d, out_channels: 0, kernel: 3}\n")
    try:
        pydantic.TypeAdapter(Annotated[int, pydantic.Field(ge=1)]).validate_python(0)
    except pydantic.ValidationError as e:
        message = e.errors()[0]["msg"]
    code = (f"import sys; from {CLI_MODULE} import main\n"
            f"assert main(['check', {str(spec)!r}]) == 1\n"
            f"print('pydantic' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert f"bad.yaml:3:38: error: layer 'conv': out_channels: {message[0].lower()}{message[1:]}, got 0" \
        in done.stderr, done.stderr
    assert done.stderr.rstrip().endswith("True")


def test_the_spec_hash_is_hashlibs_sha256_of_the_files_read_and_the_params(tmp_path):
    """The hash is taken without importing hashlib, and is still its SHA-256."""
    import hashlib
    import json

    from nncompile.compiler import analyse

    text = "inputs: {x: [N, 4]}\nparams: {width: 3}\nlayers:\n  - fc: {op: linear, out_features: $width}\n"
    (tmp_path / "spec.yaml").write_text(text)
    params = {"width": 5}
    expected = hashlib.sha256(b"\0" + text.encode() + b"\0" + json.dumps(params).encode()).hexdigest()
    assert analyse(tmp_path / "spec.yaml", params).source_hash == expected
