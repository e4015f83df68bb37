"""Every registered op lowers to torch with its static shape, parameters and buffers:
one small network per op, with attributes off their defaults where that matters."""

from __future__ import annotations

import json

import pytest

from nncompile.compiler import build
from nncompile.compiler.ops import REGISTRY
from torch_parity import check_layer_shapes, check_static_counts, every_layer, example_inputs

IMAGE, IMAGE2, VECTOR = [3, 9, 11], [4, 9, 11], [6]
# op -> (per-sample input shapes, the layer's attributes)
CASES = {
    "adaptive_avgpool2d": ([IMAGE], {"output_size": [4, 3]}),
    "add": ([IMAGE, IMAGE], {}),
    "avgpool2d": ([IMAGE], {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}),
    "batchnorm1d": ([VECTOR], {"eps": 1e-3, "affine": False}),
    "batchnorm2d": ([IMAGE], {"momentum": 0.2}),
    "concat": ([IMAGE, IMAGE2], {"axis": 1}),
    "conv2d": ([[4, 9, 11]], {"out_channels": 6, "kernel": [3, 2], "stride": 2, "padding": "valid", "dilation": 2,
                              "groups": 2, "bias": False}),
    "conv_transpose2d": ([IMAGE], {"out_channels": 4, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1}),
    "dropout": ([VECTOR], {"p": 0.3}),
    "elu": ([VECTOR], {"alpha": 0.5}),
    "flatten": ([IMAGE], {"start_dim": 2}),
    "gelu": ([VECTOR], {"approximate": "tanh"}),
    "global_avgpool": ([IMAGE], {"keepdim": True}),
    "identity": ([IMAGE], {}),
    "layernorm": ([IMAGE], {"normalized_shape": [9, 11]}),
    "leaky_relu": ([VECTOR], {"negative_slope": 0.3}),
    "linear": ([IMAGE], {"out_features": 5}),
    "local_response_norm": ([IMAGE], {"size": 3, "k": 2.0}),
    "log_softmax": ([IMAGE], {"dim": 1}),
    "lppool2d": ([IMAGE], {"norm_type": 2.0, "kernel": 2, "ceil_mode": True}),
    "maxout": ([VECTOR], {"out_features": 3, "pieces": 4}),
    "maxpool2d": ([IMAGE], {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    "multiply": ([IMAGE, [1, 9, 11]], {}),
    "relu": ([VECTOR], {}),
    "reshape": ([IMAGE], {"shape": [-1, 11]}),
    "sigmoid": ([VECTOR], {}),
    "softmax": ([VECTOR], {}),
    "step": ([VECTOR], {"threshold": 0.2}),
    "tanh": ([VECTOR], {}),
    "upsample": ([IMAGE, [1, 20, 17]], {"mode": "bilinear", "align_corners": True}),
}


def test_every_op_has_a_case():
    assert sorted(CASES) == sorted(REGISTRY)


@pytest.mark.parametrize("op", sorted(CASES))
def test_op_lowers_with_its_static_shape_and_counts(op, tmp_path):
    shapes, attrs = CASES[op]
    inputs = {f"x{i}": ["N", *shape] for i, shape in enumerate(shapes)}
    spec = {"name": op, "inputs": inputs, "layers": [{"layer": {"op": op, "in": list(inputs), **attrs}}],
            "outputs": ["layer"]}
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    graph = build(path)
    model = every_layer(graph, seed=0)
    check_static_counts(graph, model)
    sizes, tensors = example_inputs(graph)
    check_layer_shapes(graph, model(*tensors), sizes)
