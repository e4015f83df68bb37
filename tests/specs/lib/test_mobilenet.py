"""specs/lib/mobilenet.yaml: the activation a caller chooses is an op, so a misspelt one is an
unknown op located at the call, not a network silently built without it."""

from __future__ import annotations

from pathlib import Path

import pytest

LIB = Path(__file__).parents[3] / "specs" / "lib" / "mobilenet.yaml"


@pytest.mark.parametrize("call, layer, typo", [
    ("{block: mobilenet.conv_bn, channels: 8, act: reul6}", "2", "reul6"),
    ("{block: mobilenet.squeeze_excitation, squeeze: 4, gate: hardsigmiod}", "scale_activation", "hardsigmiod"),
], ids=["conv_bn-act", "squeeze_excitation-gate"])
def test_misspelt_activation_is_a_located_unknown_op(write_spec, cli, call, layer, typo):
    write_spec(LIB.read_text(encoding="utf-8"), "mobilenet.yaml")  # imports stay inside the spec's folder
    spec = write_spec(f"""
        name: typo
        import: {{mobilenet: mobilenet.yaml}}
        inputs:
          image: [N, 3, 16, 16]
        layers:
          - stem: {call}
        """)
    result = cli("build", spec)
    assert result.code != 0
    line = next(n for n, text in enumerate(LIB.read_text(encoding="utf-8").splitlines(), 1)
                if text.lstrip().startswith(f"- {layer}:"))  # the layer whose op the call chose
    first = result.err.splitlines()[0]
    assert first.startswith(f"{spec.parent / 'mobilenet.yaml'}:{line}:"), result.err
    assert first.endswith(f"error: layer '{layer}': unknown op '{typo}' [unknown-op]"), result.err
