"""parameter, a layer that is a learnt tensor, against an nn.Parameter used as torchvision
uses its class token, position embedding and layer scale."""

import torch
from torch import nn

from harness import Case, Refusal, op_tests
from nncompile.compiler import analyse, to_onnx, to_torch
from nncompile.compiler.verify import render, verify


class ClassToken(nn.Module):
    """ViT's `class_token.expand(n, -1, -1)` (as a repeat: FlopCounterMode's module hooks
    refuse a view of a parameter at batch 1); the layer's parameter is the layer itself."""

    def __init__(self, *shape):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(*shape))

    def forward(self, x):
        return self.weight.repeat(x.shape[0], *[1] * (self.weight.dim() - 1))


CASES = [
    Case("parameter", {"shape": [1, 1, 8]}, [("N", 5, 8)], lambda: ClassToken(1, 1, 8), id="parameter-class-token"),
    Case("parameter", {"shape": [1, 4, 3, 3]}, [("N", 2, "H", "W")], lambda: ClassToken(1, 4, 3, 3),
         id="parameter-expanded-to-a-symbolic-input"),
]

REFUSALS = [
    Refusal("parameter", {"shape": [2, 8]}, [("N", 8)], "shape-mismatch", fragments=["first size must be 1"],
            id="parameter-expanded-without-a-unit-batch"),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)

SCALED = """
name: scaled
inputs: {x: [N, 4, H, W], tokens: [N, 6, 8]}
layers:
  - layer_scale: {op: parameter, shape: [4, 1, 1], init: {scheme: normal, std: 0.5}}
  - scaled: {op: multiply, in: [x, layer_scale]}
  - pos_embedding: {op: parameter, shape: [1, 6, 8], init: 0.25}
  - placed: {op: add, in: [tokens, pos_embedding]}
outputs: [scaled, placed]
"""


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer_scale = nn.Parameter(torch.randn(4, 1, 1))
        self.pos_embedding = nn.Parameter(torch.randn(1, 6, 8))

    def forward(self, x, tokens):
        return x * self.layer_scale, tokens + self.pos_embedding


def test_a_parameter_without_input_is_broadcast_where_used(tmp_path):
    path = tmp_path / "scaled.yaml"
    path.write_text(SCALED)
    graph = analyse(path)
    assert not graph.errors, [e.message for e in graph.errors]
    assert graph.nodes["layer_scale"].inputs == [] and graph.nodes["layer_scale"].type.shape == (4, 1, 1)
    assert graph.totals.params == 4 + 48
    lowered, reference = to_torch(graph, seed=0), Scaled()
    assert list(lowered.state_dict()) == ["layer_scale", "pos_embedding"]  # the layer is the parameter
    assert torch.all(lowered.pos_embedding == 0.25) and 0.2 < float(lowered.layer_scale.detach().std()) < 1.0  # init:
    lowered.load_state_dict(reference.state_dict())
    x, tokens = torch.randn(2, 4, 3, 5), torch.randn(2, 6, 8)
    with torch.no_grad():
        for got, want in zip(lowered(x, tokens), reference(x, tokens)):
            torch.testing.assert_close(got, want)
    assert {"layer_scale.weight", "pos_embedding.weight"} <= {t.name for t in to_onnx(graph).graph.initializer}
    checks = verify(graph, batches=(1, 2), sizes={"H": 3, "W": 5})
    assert all(c.ok for c in checks), render(checks)
