"""Differential property test: random valid networks — chains and DAGs of conv, pools,
linear, batch norm, activations, add, concat, upsample with random hyperparameters — get
the same shapes and parameter counts from the static analysis as from torch.

A fast profile runs by default; NNCOMPILE_LONG=1 runs the long one (1000 examples).
"""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nncompile.compiler import build
from torch_parity import check_layer_shapes, check_static_counts, every_layer, example_inputs

EXAMPLES = 1000 if os.environ.get("NNCOMPILE_LONG") == "1" else 30
ACTIVATIONS = ["relu", "sigmoid", "tanh", {"op": "leaky_relu", "negative_slope": 0.2}, "elu", "gelu"]


def _window(n: int, kernel: int, stride: int, pad: int, dilation: int = 1, ceil: bool = False) -> int:
    """PyTorch's output size, only to keep the generated specs valid (torch is the truth)."""
    span = dilation * (kernel - 1) + 1
    out = -(-(n + 2 * pad - span) // stride) + 1 if ceil else (n + 2 * pad - span) // stride + 1
    return out - 1 if ceil and (out - 1) * stride >= n + pad else out


@st.composite
def networks(draw):
    """A spec (as a dict) and nothing else: each layer is drawn to fit what it reads."""
    c, h, w = draw(st.integers(1, 4)), draw(st.integers(4, 20)), draw(st.integers(4, 20))
    shapes = {"x": (c, h, w)}  # per-sample shapes of the nodes so far
    layers = []

    def add(name, body, shape):
        layers.append({name: body})
        shapes[name] = shape

    for i in range(draw(st.integers(1, 8))):
        name = f"l{i}"
        source = draw(st.sampled_from(list(shapes)[-3:]))  # mostly chains, sometimes a skip
        shape = shapes[source]
        kinds = ["activation", "add", "concat"] + (
            ["conv", "conv", "maxpool", "avgpool", "batchnorm", "upsample", "flatten", "global"]
            if len(shape) == 3 else ["linear", "linear", "batchnorm1d"])
        kind = draw(st.sampled_from(kinds))
        body = {"in": source}
        if kind == "activation":
            activation = draw(st.sampled_from(ACTIVATIONS))
            body.update(activation if isinstance(activation, dict) else {"op": activation})
        elif kind in ("add", "concat"):
            like = [n for n, s in shapes.items() if (s == shape if kind == "add" else s[1:] == shape[1:])]
            other = draw(st.sampled_from(like))
            if kind == "concat" and shape[0] + shapes[other][0] > 64:
                other = source
            body.update(op=kind, **{"in": [source, other]})
            shape = shape if kind == "add" else (shape[0] + shapes[other][0], *shape[1:])
        elif kind == "conv":
            c, h, w = shape
            kernel = draw(st.integers(1, min(5, h, w)))
            dilation = draw(st.integers(1, 2)) if 2 * (kernel - 1) + 1 <= min(h, w) else 1
            stride, pad = draw(st.integers(1, 3)), draw(st.integers(0, 2))
            out = draw(st.integers(1, 8))
            groups = draw(st.sampled_from([g for g in (1, 2, 4) if c % g == 0 and out % g == 0]))
            body.update(op="conv2d", out_channels=out, kernel=kernel, stride=stride, padding=pad,
                        dilation=dilation, groups=groups, bias=draw(st.booleans()))
            shape = (out, _window(h, kernel, stride, pad, dilation), _window(w, kernel, stride, pad, dilation))
        elif kind in ("maxpool", "avgpool"):
            c, h, w = shape
            kernel = draw(st.integers(1, min(3, h, w)))
            stride, pad, ceil = draw(st.integers(1, 3)), draw(st.integers(0, kernel // 2)), draw(st.booleans())
            body.update(op=f"{kind}2d", kernel=kernel, stride=stride, padding=pad, ceil_mode=ceil)
            if kind == "avgpool":
                body["count_include_pad"] = draw(st.booleans())
            shape = (c, _window(h, kernel, stride, pad, ceil=ceil), _window(w, kernel, stride, pad, ceil=ceil))
        elif kind == "batchnorm":
            body.update(op="batchnorm2d", affine=draw(st.booleans()))
        elif kind == "batchnorm1d":
            body.update(op="batchnorm1d")
        elif kind == "upsample":
            mode = draw(st.sampled_from(["nearest", "bilinear"]))
            body.update(op="upsample", mode=mode)
            if mode == "bilinear":
                body["align_corners"] = draw(st.booleans())
            how = draw(st.sampled_from(["scale", "size", "like"]))
            if how == "scale":
                factor = draw(st.integers(1, max(1, min(3, 32 // max(shape[1:])))))
                body["scale_factor"] = factor
                shape = (shape[0], shape[1] * factor, shape[2] * factor)
            elif how == "size":
                size = [draw(st.integers(1, 24)), draw(st.integers(1, 24))]
                body["size"] = size
                shape = (shape[0], *size)
            else:
                other = draw(st.sampled_from([n for n, s in shapes.items() if len(s) == 3]))
                body["in"] = [source, other]
                shape = (shape[0], *shapes[other][1:])
        elif kind == "flatten" and shape[0] * shape[1] * shape[2] <= 4096:
            body.update(op="flatten")
            shape = (shape[0] * shape[1] * shape[2],)
        elif kind in ("flatten", "global"):
            body.update(op="global_avgpool")
            shape = (shape[0],)
        elif kind == "linear":
            out = draw(st.integers(1, 16))
            body.update(op="linear", out_features=out, bias=draw(st.booleans()))
            shape = (out,)
        add(name, body, shape)
    return {"name": "random", "inputs": {"x": ["N", *shapes["x"]]}, "layers": layers,
            "outputs": [list(layers[-1])[0]]}


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=networks())
def test_static_analysis_agrees_with_torch(spec, tmp_path_factory):
    path = tmp_path_factory.mktemp("random") / "spec.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    graph = build(path)  # the generator keeps every layer valid: a refusal is a bug
    model = every_layer(graph, seed=0)
    check_static_counts(graph, model)
    sizes, inputs = example_inputs(graph)
    check_layer_shapes(graph, model(*inputs), sizes)
