"""Every registered op lowers to ONNX, and onnxruntime computes what torch computes: one
small network per case, through `verify` (torch's output with the same weights is the
truth; ONNX's strict shape inference must agree with our static shapes). The cases are
the corners where ONNX and PyTorch conventions part: asymmetric 'same' padding, ceil
mode, count_include_pad, adaptive windows of unequal sizes, resizing grids, …"""

from __future__ import annotations

import json

import pytest

from nncompile.compiler import SpecError, build, to_onnx
from nncompile.compiler.ops import REGISTRY
from nncompile.compiler.verify import render, verify

IMAGE, VECTOR = [3, 9, 11], [6]
# (op, per-sample input shapes, attributes); a case's id is op[-detail]
CASES = {
    "adaptive_avgpool2d-unequal": ("adaptive_avgpool2d", [IMAGE], {"output_size": [4, 3]}),
    "adaptive_avgpool2d-equal": ("adaptive_avgpool2d", [[3, 8, 6]], {"output_size": [4, 3]}),
    "adaptive_avgpool2d-symbolic": ("adaptive_avgpool2d", [[3, "H", "W"]], {"output_size": 1}),
    "add": ("add", [IMAGE, [1, 9, 11], IMAGE], {}),
    "avgpool2d-exclude-pad": ("avgpool2d", [IMAGE], {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                                                      "count_include_pad": False}),
    "avgpool2d-include-pad": ("avgpool2d", [[3, 10, 7]], {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    "batchnorm1d": ("batchnorm1d", [VECTOR], {"eps": 1e-3, "affine": False}),
    "batchnorm1d-sequence": ("batchnorm1d", [[4, 7]], {}),
    "batchnorm2d": ("batchnorm2d", [IMAGE], {"momentum": 0.2}),
    "concat": ("concat", [IMAGE, [4, 9, 11]], {"axis": 1}),
    "conv2d-groups-dilation": ("conv2d", [[4, 9, 11]], {"out_channels": 6, "kernel": [3, 2], "stride": 2,
                                                        "padding": "valid", "dilation": 2, "groups": 2, "bias": False}),
    "conv2d-same-asymmetric": ("conv2d", [IMAGE], {"out_channels": 4, "kernel": [4, 2], "padding": "same"}),
    "conv2d-same-symbolic": ("conv2d", [[3, "H", "W"]], {"out_channels": 2, "kernel": 3, "padding": "same",
                                                         "dilation": 2}),
    "conv_transpose2d": ("conv_transpose2d", [[4, 5, 6]], {"out_channels": 6, "kernel": 3, "stride": 2, "padding": 1,
                                                           "output_padding": 1, "groups": 2}),
    "dropout": ("dropout", [VECTOR], {"p": 0.3}),
    "elu": ("elu", [VECTOR], {"alpha": 0.5}),
    "flatten": ("flatten", [IMAGE], {}),
    "flatten-middle": ("flatten", [[3, 4, 5, 2]], {"start_dim": 2, "end_dim": 3}),
    "flatten-symbolic": ("flatten", [[3, "H", "W"]], {}),
    "gelu": ("gelu", [VECTOR], {}),
    "gelu-tanh": ("gelu", [VECTOR], {"approximate": "tanh"}),
    "global_avgpool": ("global_avgpool", [IMAGE], {}),
    "global_avgpool-keepdim": ("global_avgpool", [IMAGE], {"keepdim": True}),
    "identity": ("identity", [IMAGE], {}),
    "layernorm": ("layernorm", [IMAGE], {"normalized_shape": [9, 11]}),
    "layernorm-plain": ("layernorm", [[5, 8]], {"elementwise_affine": False}),
    "leaky_relu": ("leaky_relu", [VECTOR], {"negative_slope": 0.3}),
    "linear": ("linear", [VECTOR], {"out_features": 5, "bias": False}),
    "linear-last-axis": ("linear", [IMAGE], {"out_features": 5}),
    "local_response_norm": ("local_response_norm", [[7, 5, 4]], {"size": 3, "alpha": 0.1, "beta": 0.6, "k": 2.0}),
    "log_softmax": ("log_softmax", [IMAGE], {"dim": 1}),
    "lppool2d": ("lppool2d", [IMAGE], {"norm_type": 2.0, "kernel": 2, "ceil_mode": True}),
    "lppool2d-l1": ("lppool2d", [IMAGE], {"norm_type": 1.0, "kernel": 3, "stride": 2}),
    "maxout": ("maxout", [VECTOR], {"out_features": 3, "pieces": 4}),
    "maxout-sequence": ("maxout", [[5, 6]], {"out_features": 2, "pieces": 3}),
    "maxpool2d": ("maxpool2d", [IMAGE], {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    "multiply": ("multiply", [IMAGE, [1, 9, 11]], {}),
    "relu": ("relu", [VECTOR], {}),
    "reshape": ("reshape", [IMAGE], {"shape": [-1, 11]}),
    "sigmoid": ("sigmoid", [VECTOR], {}),
    "softmax": ("softmax", [VECTOR], {}),
    "step": ("step", [VECTOR], {"threshold": 0.2}),
    "tanh": ("tanh", [VECTOR], {}),
    "upsample-like-bilinear-corners": ("upsample", [IMAGE, [1, 20, 17]], {"mode": "bilinear", "align_corners": True}),
    "upsample-like-symbolic": ("upsample", [[3, "H", "W"], [1, "P", "Q"]], {"mode": "bilinear"}),
    "upsample-scale-nearest": ("upsample", [IMAGE], {"scale_factor": [2, 3]}),
    "upsample-scale-bilinear": ("upsample", [IMAGE], {"scale_factor": 1.5, "mode": "bilinear"}),
    "upsample-size-down": ("upsample", [IMAGE], {"size": [4, 1], "mode": "bilinear"}),
}
SIZES = {"H": 9, "W": 13, "P": 20, "Q": 17}  # symbolic sizes in the cases


def network(write_spec, op, shapes, attrs, name="case"):
    inputs = {f"x{i}": ["N", *shape] for i, shape in enumerate(shapes)}
    spec = {"name": name, "inputs": inputs, "layers": [{"layer": {"op": op, "in": list(inputs), **attrs}}],
            "outputs": ["layer"]}
    return build(write_spec(json.dumps(spec)))


def test_every_op_has_a_case():
    assert sorted({op for op, _, _ in CASES.values()}) == sorted(REGISTRY)


def test_every_op_has_its_own_onnx_lowering():
    from nncompile.compiler.ops.base import Op

    assert [name for name, op in REGISTRY.items() if type(op).onnx is Op.onnx] == []


@pytest.mark.parametrize("case", sorted(CASES))
def test_onnxruntime_matches_torch(case, write_spec):
    graph = network(write_spec, *CASES[case])
    checks = verify(graph, batches=(1, 3), sizes=SIZES)
    assert all(c.ok for c in checks), render(checks)
    model = to_onnx(graph)
    assert "layer" in [n.name for n in model.graph.node]  # the node that makes the output has the layer's name
    assert {t.name for t in model.graph.initializer} >= {f"layer.{p}" for p in graph.nodes["layer"].params}


def test_shared_parameters_are_one_initializer(write_spec):
    graph = build(write_spec("""
        name: shared
        inputs: {x: [N, 4]}
        layers:
          - a: {op: linear, out_features: 4}
          - b: {op: linear, out_features: 4, share: a}
        outputs: [b]
    """))
    model = to_onnx(graph)
    assert sorted(t.name for t in model.graph.initializer) == ["a.bias", "a.weight"]
    assert [list(n.input) for n in model.graph.node] == [["x", "a.weight", "a.bias"], ["a", "a.weight", "a.bias"]]
    assert all(c.ok for c in verify(graph))


def test_an_op_onnx_cannot_express_points_at_the_layer(write_spec):
    # onnxruntime's LRN takes odd sizes only
    graph = build(write_spec("""
        name: even_lrn
        inputs: {x: [N, 3, 9, 11]}
        layers:
          - norm: {op: local_response_norm, size: 4}
    """))
    with pytest.raises(SpecError) as caught:
        to_onnx(graph)
    [d] = caught.value.diagnostics
    assert d.code == "no-onnx" and "layer 'norm' (local_response_norm)" in d.message and "odd" in d.message
    assert (d.span.line, d.span.col) == (4, 5) and any("--via torch" in n for n in d.notes)
