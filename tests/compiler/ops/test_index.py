"""slice, select, chunk and split against Python slicing, Tensor.select, Tensor.chunk and
torch.split; a layer with several outputs read as `parts.0`, `parts.1` through a spec."""

import torch
from torch import nn

from harness import Case, Fn, Refusal, op_tests
from nncompile.compiler import analyse, to_onnx, to_torch
from nncompile.compiler.verify import render, verify

IMAGE = [("N", 6, 9, 11)]
SYMBOLIC = [("N", 6, "H", "W")]

CASES = [
    Case("slice", {"dim": 2, "start": 1, "step": 2}, IMAGE, lambda: Fn(lambda x: x[:, :, 1::2]), id="slice-odd-rows"),
    Case("slice", {"dim": -1, "start": -7, "stop": -2}, IMAGE, lambda: Fn(lambda x: x[..., -7:-2]),
         id="slice-from-the-end"),
    Case("slice", {"dim": 1, "start": 2, "stop": 100}, IMAGE, lambda: Fn(lambda x: x[:, 2:100]),
         id="slice-stop-past-the-end"),
    Case("slice", {"dim": 3, "start": 1, "stop": -1, "step": 3}, SYMBOLIC, lambda: Fn(lambda x: x[..., 1:-1:3]),
         id="slice-symbolic"),
    Case("slice", {"dim": 2, "start": 2}, SYMBOLIC, lambda: Fn(lambda x: x[:, :, 2:]), id="slice-symbolic-open"),
    Case("select", {"dim": 1, "index": 0}, [("N", 5, 8)], lambda: Fn(lambda x: x[:, 0]), id="select-class-token"),
    Case("select", {"dim": -1, "index": -2}, SYMBOLIC, lambda: Fn(lambda x: x.select(-1, -2)),
         id="select-symbolic-negative"),
    Case("chunk", {"chunks": 2, "index": 1}, IMAGE, lambda: Fn(lambda x: x.chunk(2, 1)[1]), id="chunk-channels"),
    Case("chunk", {"chunks": 3, "dim": 1, "index": 2}, SYMBOLIC, lambda: Fn(lambda x: x.chunk(3, 1)[2]),
         id="chunk-symbolic-spatial"),
    Case("chunk", {"chunks": 2, "dim": 2, "index": 1}, [("N", 3, 6, "W")], lambda: Fn(lambda x: x.chunk(2, 2)[1]),
         id="chunk-concrete-axis"),
    Case("split", {"sizes": [1, 2, 3], "index": 1}, IMAGE, lambda: Fn(lambda x: torch.split(x, [1, 2, 3], 1)[1]),
         id="split-sizes"),
    Case("split", {"sizes": [7, 4], "dim": -1, "index": -1}, IMAGE,
         lambda: Fn(lambda x: torch.split(x, [7, 4], -1)[1]), id="split-last-negative-index"),
]

REFUSALS = [
    Refusal("slice", {"dim": 2, "start": 9}, IMAGE, "shape-mismatch", fragments=["empty"], id="slice-empty"),
    Refusal("slice", {"dim": 2, "start": 0, "stop": 5}, SYMBOLIC, "shape-mismatch", fragments=["H reaches 5"],
            id="slice-symbolic-stop"),
    Refusal("slice", {"dim": 2, "start": -4}, SYMBOLIC, "shape-mismatch", fragments=["H reaches 4"],
            id="slice-symbolic-start-from-the-end"),
    Refusal("slice", {"dim": 0, "start": 1}, IMAGE, "shape-mismatch", fragments=["batch axis N"],
            id="slice-the-batch"),
    Refusal("select", {"dim": 2, "index": 9}, IMAGE, "shape-mismatch", lambda: (lambda x: x.select(2, 9)),
            id="select-out-of-range"),
    Refusal("chunk", {"chunks": 4, "index": 0}, IMAGE, "shape-mismatch", fragments=["4 equal parts"],
            id="chunk-not-dividing"),
    Refusal("chunk", {"chunks": 2, "dim": 2, "index": 0}, SYMBOLIC, "shape-mismatch",
            fragments=["symbolic size H", "2 equal parts"], id="chunk-symbolic-not-known-to-divide"),
    Refusal("chunk", {"chunks": 2, "index": 2}, IMAGE, "shape-mismatch", fragments=["2 outputs"],
            id="chunk-index-out-of-range"),
    Refusal("split", {"sizes": [2, 2], "index": 0}, IMAGE, "shape-mismatch",
            lambda: (lambda x: torch.split(x, [2, 2], 1)),
            id="split-not-adding-up"),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)


SHUFFLE = """
name: shuffle_unit
inputs: {x: [N, 8, H, W]}
layers:
  - parts: {op: chunk, chunks: 2}
  - branch: {op: conv2d, in: parts.1, out_channels: 4, kernel: 3, padding: 1}
  - joined: {op: concat, in: [parts.0, branch]}
  - thirds: {op: split, sizes: [2, 3, 3], dim: 1}
outputs: [thirds.2, thirds.0]
"""


class ShuffleUnit(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        parts = torch.split(torch.cat([a, self.branch(b)], 1), [2, 3, 3], 1)
        return parts[2], parts[0]


def test_outputs_are_named_by_index(tmp_path):
    """`parts.1` is the second output in `in:`, `outputs:`, the IR, the torch module and ONNX."""
    path = tmp_path / "shuffle.yaml"
    path.write_text(SHUFFLE)
    graph = analyse(path)
    assert not graph.errors, [e.message for e in graph.errors]
    assert [n for n in graph.nodes if n.startswith(("parts", "thirds"))] == \
        ["parts.0", "parts.1", "thirds.0", "thirds.1", "thirds.2"]
    assert graph.nodes["joined"].inputs == ["parts.0", "branch"]
    lowered, reference = to_torch(graph, seed=0).eval(), ShuffleUnit().eval()
    lowered.load_state_dict(reference.state_dict())
    x = torch.randn(2, 8, 5, 7)
    with torch.no_grad():
        for got, want in zip(lowered(x), reference(x)):
            torch.testing.assert_close(got, want)
    assert {"parts.0", "parts.1", "thirds.2"} <= {n.name for n in to_onnx(graph).graph.node}
    checks = verify(graph, batches=(2,), sizes={"H": 5, "W": 7})
    assert all(c.ok for c in checks), render(checks)


def test_an_output_read_without_its_index_is_located(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ninputs: {x: [N, 8, 4, 4]}\nlayers:\n"
                    "  - parts: {op: chunk, chunks: 2}\n"
                    "  - a: {op: relu, in: parts}\n")
    graph = analyse(path)
    [error] = graph.errors
    assert (error.code, error.span.line, error.span.col) == ("bad-input", 5, 23)
    assert "'parts' has 2 outputs" in error.message and "parts.0, parts.1" in error.notes[0]


def test_one_diagnostic_for_all_outputs(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ninputs: {x: [N, 8, 4, 4]}\nlayers:\n"
                    "  - parts: {op: chunk, chunks: 3}\n"
                    "  - a: {op: add, in: [parts.0, parts.1, parts.2]}\n")
    [error] = analyse(path).errors
    assert "3 equal parts" in error.message and error.span.line == 4
