"""One pass through the lowered module, seen layer by layer: what `explain` and the
gradient-flow report both observe, and the sample, target and loss they feed it.

The module `to_torch` made is traced by torch.fx with each of the spec's layers as a leaf,
then cut at the layers: `torch_source.generate` writes forward as one line per layer, in
graph order, so the line of forward that made an fx node names its layer. A run is
torch.fx's Interpreter over the module's own graph, keeping every layer's output; each
layer alone is that layer's part of the graph, as a GraphModule over the same submodules.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..compiler import symbolic
from ..compiler.expand import UsageError
from ..compiler.ir import Graph, Node
from . import losses
from .losses import Target
from .metrics import LOSSES


class _LayerTracer(fx.Tracer):
    """Keeps the spec's layers whole and notes the line of forward each fx node comes from."""

    def __init__(self, layers: set[str], forward):
        super().__init__()
        self.layers, self.forward = layers, forward.__code__

    def is_leaf_module(self, module: nn.Module, name: str) -> bool:
        return name in self.layers or super().is_leaf_module(module, name)

    def create_node(self, *args, **kwargs) -> fx.Node:
        node = super().create_node(*args, **kwargs)
        frame = sys._getframe()
        while frame is not None and frame.f_code is not self.forward:
            frame = frame.f_back
        node.meta["forward_line"] = frame.f_lineno if frame else None  # None: placeholders, output
        return node


def _copy_what_is_overwritten(traced: fx.Graph, model: nn.Module) -> None:
    """An activation the lowering runs in place (torch_inplace.py) gets a copy of its input
    here: every layer's output is kept, and a layer alone may be run on a leaf tensor."""
    for n in list(traced.nodes):
        if n.op == "call_module" and getattr(model.get_submodule(n.target), "inplace", False):
            with traced.inserting_before(n):
                copy = traced.call_method("clone", (n.args[0],))
            copy.meta["forward_line"] = n.meta["forward_line"]
            n.args = (copy, *n.args[1:])


class Layers:
    """The module's forward, run by torch.fx and observed at every layer of `graph`."""

    def __init__(self, graph: Graph, model: nn.Module):
        self.graph, self.model = graph, model
        self.nodes = [node for node in graph.topological() if not node.is_input]
        forward = type(model).forward
        traced = _LayerTracer({n.name for n in self.nodes}, forward).trace(model)
        _copy_what_is_overwritten(traced, model)
        self.module = fx.GraphModule(model, traced)
        placeholders = [n for n in traced.nodes if n.op == "placeholder"]
        self.outputs: dict[str, fx.Node] = dict(zip(graph.inputs, placeholders))  # layer -> its output's fx node
        self.parts: dict[str, list[fx.Node]] = {node.name: [] for node in self.nodes}
        first = forward.__code__.co_firstlineno + 1  # the line after `def forward`
        for n in traced.nodes:
            if n.meta["forward_line"] is not None:
                layer = self.nodes[n.meta["forward_line"] - first].name
                if n.op == "call_module" and n.target != layer:
                    raise RuntimeError(f"forward's line for '{layer}' calls '{n.target}': not generate's layout")
                self.parts[layer].append(n)
        for node in self.nodes:  # a layer that made no fx node (identity) is its input
            part = self.parts[node.name]
            self.outputs[node.name] = part[-1] if part else self.outputs[node.inputs[0]]
        self._functions: dict[str, Callable] = {}

    def run(self, inputs: dict[str, torch.Tensor], keep_grad: bool = False) -> dict[str, torch.Tensor]:
        """Every node's output, the graph's inputs included; with `keep_grad` each output
        keeps its gradient (`.grad`) after a backward pass."""
        interpreter = fx.Interpreter(self.module, garbage_collect_values=False)
        interpreter.run(*(inputs[name] for name in self.graph.inputs))
        values = {name: interpreter.env[n] for name, n in self.outputs.items()}
        if keep_grad:
            for y in values.values():
                if y.requires_grad:
                    y.retain_grad()
        return values

    def sources(self, node: Node) -> list[str]:
        """The inputs of `node` that are distinct tensors in the module, in order: an input
        given twice is one tensor, and so are an identity layer and its input."""
        distinct = {}
        for name in node.inputs:
            distinct.setdefault(self.outputs[name], name)
        return list(distinct.values())

    def function(self, node: Node) -> Callable:
        """The layer alone, as a function of its `sources`."""
        if node.name not in self._functions:
            graph, env = fx.Graph(), {}
            for i, name in enumerate(self.sources(node)):
                env[self.outputs[name]] = graph.placeholder(f"x{i}")

            def copied(n: fx.Node) -> fx.Node:  # a call another line made: the parts of a chunk share one
                if n not in env:
                    env[n] = graph.node_copy(n, copied)
                return env[n]

            for n in self.parts[node.name]:
                copied(n)
            graph.output(env[self.outputs[node.name]])
            self._functions[node.name] = fx.GraphModule(self.model, graph)
        return self._functions[node.name]


# --- inputs, targets and the loss -------------------------------------------------------

def sample_shape(graph: Graph, name: str, batch: int = 1, size: int = 32) -> tuple[int, ...]:
    """An input's concrete shape: the batch dim is `batch`, other symbolic dims about `size`
    (16·h at h = size/16)."""
    shape = graph.nodes[name].type.shape
    sizes = symbolic.sample_sizes(shape[1:], size)
    return (batch, *(symbolic.evaluate(d, sizes, default=size) for d in shape[1:]))


def parse_input(graph: Graph, text: str) -> dict[str, torch.Tensor]:
    """`--input 0.1,0.15,0.2`: one sample of the spec's one input, values in order."""
    if len(graph.inputs) != 1:
        raise UsageError(f"--input fills one input; '{graph.name}' has {len(graph.inputs)} "
                         f"({', '.join(graph.inputs)}): leave --input out for random values")
    name = graph.inputs[0]
    values = _numbers(text, "--input")
    shape = sample_shape(graph, name)
    if len(values) != math.prod(shape):
        raise UsageError(f"--input has {len(values)} values; input '{name}' takes {math.prod(shape)} per sample "
                         f"({'×'.join(map(str, shape[1:]))})")
    return {name: torch.tensor(values, dtype=torch.float64).reshape(shape)}


def random_inputs(graph: Graph, batch: int, seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {name: torch.randn(sample_shape(graph, name, batch), generator=generator, dtype=torch.float64)
            for name in graph.inputs}


def parse_target(text: str | None, output: torch.Tensor, loss: str, seed: int) -> torch.Tensor:
    """The target as the loss takes it: class indices for cross_entropy and nll, values
    shaped like the output for the others. One number against a wider output of mse is a
    class index, made one-hot (the slides' y = 1 against a softmax)."""
    batch, width = output.shape[0], output[0].numel()
    kind = losses.LOSSES[loss].target
    classify = kind is Target.CLASS
    if text is None:
        generator = torch.Generator().manual_seed(seed + 1)
        if classify:
            return torch.randint(0, output.shape[1], (batch,), generator=generator)
        values = torch.rand(output.shape, generator=generator, dtype=torch.float64)
        return values.round() if kind is Target.BINARY else values
    values = _numbers(text, "--target")
    if classify:
        if len(values) != 1 or not values[0].is_integer() or not 0 <= values[0] < output.shape[1]:
            raise UsageError(f"--target for {loss} is one class index in 0 … {output.shape[1] - 1}, got '{text}'")
        return torch.full((batch,), int(values[0]))
    if len(values) == width:
        return torch.tensor(values, dtype=torch.float64).reshape(1, *output.shape[1:]).expand_as(output)
    if len(values) == 1 and values[0].is_integer() and 0 <= values[0] < width and kind is Target.VALUES:
        return F.one_hot(torch.tensor([int(values[0])] * batch), width).to(torch.float64).reshape(output.shape)
    one_hot = " (or give one class index to compare with its one-hot vector)" if kind is Target.VALUES else ""
    raise UsageError(f"--target has {len(values)} values; the output has {width} per sample{one_hot}")


def _numbers(text: str, flag: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"{flag} expects comma-separated numbers, got '{text}'") from None


def loss_value(loss: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    try:
        return LOSSES[loss].compute(output, target)
    except (RuntimeError, ValueError, IndexError) as e:  # e.g. bce of a value outside [0, 1]
        raise UsageError(f"loss {loss} does not apply to this output {tuple(output.shape)}: {e}") from None
