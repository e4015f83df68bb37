"""What a stage optimises, as a module `forward(x, y) -> (loss, outputs)` wrapping the network
(so DistributedDataParallel wraps the whole objective, decoder included), and which of the
network's parameters a stage trains.

- supervised: the spec's output against the targets, with the configured loss; or, with a
  loss per output (runtime/tasks.py), each output against its target by name, the total
  their weighted sum (MultiTask).
- reconstruct: greedy layer-wise pre-training (the slides' stacked autoencoders). The input
  of a layer (or block instance) is captured as it enters, its output as it leaves, and a
  decoder maps the output back to the input; the loss is their mean squared error. The
  network's forward stops at that layer, so later layers cost nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..compiler import build, to_torch
from ..compiler.diagnostics import did_you_mean
from ..compiler.ir import Graph, Node
from .config import Loaded, Reconstruct, Stage
from .metrics import Loss


class Supervised(nn.Module):
    def __init__(self, model: nn.Module, loss: Loss):
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, x, y):
        out = self.model(x)
        return self.loss.compute(out.float(), y), out


class MultiTask(nn.Module):
    """Several outputs, a loss each: the total is their weighted sum. Returns it with each
    output and its own loss, by name (what metrics.TaskMeter reads)."""

    def __init__(self, model: nn.Module, names: list[str], losses: dict[str, tuple[Loss, float]]):
        super().__init__()
        self.model, self.names, self.losses = model, names, losses

    def forward(self, x, y):
        outs = self.model(x)
        outs = dict(zip(self.names, outs if isinstance(outs, tuple) else (outs,)))
        if not isinstance(y, dict):  # one unnamed target: the one task's
            y = {self.names[0]: y}
        parts = {name: loss.compute(outs[name].float(), y[name]) for name, (loss, _) in self.losses.items()}
        total = sum(weight * parts[name] for name, (_, weight) in self.losses.items())
        return total, {name: (outs[name], parts[name].detach()) for name in self.losses}


class _Stop(Exception):
    """Raised by the hook at the reconstructed layer's output: the rest of the network is not needed."""


class Reconstruction(nn.Module):
    def __init__(self, model: nn.Module, entry: nn.Module, exit: nn.Module, decoder: nn.Module):
        super().__init__()
        self.model, self.decoder = model, decoder
        self.taps = (entry, exit)  # a tuple: module attributes would register them a second time
        self._taps: dict[str, torch.Tensor] = {}

    def forward(self, x, y):
        def take_input(module, args):  # a copy where an in-place activation is about to overwrite it
            self._taps["input"] = args[0].clone() if getattr(module, "inplace", False) else args[0]

        def take_output(module, args, out):
            self._taps["output"] = out
            raise _Stop

        entry, exit = self.taps
        handles = [entry.register_forward_pre_hook(take_input), exit.register_forward_hook(take_output)]
        try:
            self.model(x)
        except _Stop:
            pass
        finally:
            for h in handles:
                h.remove()
        target, code = self._taps.pop("input").detach(), self._taps.pop("output")
        return nn.functional.mse_loss(self.decoder(code).float(), target.float()), None


def layers_named(graph: Graph, name: str) -> list[Node]:
    """The nodes of a layer or a block instance, in data-flow order."""
    return [n for n in graph.topological() if n.name == name or n.name.startswith(name + ".")]


def check_names(loaded: Loaded, graph: Graph, index: int, stage: Stage) -> None:
    """Every layer a stage names exists (a located error names the closest one if not)."""
    for key in ("train", "freeze"):
        for j, name in enumerate(getattr(stage, key) or []):
            if not layers_named(graph, name):
                raise loaded.error(f"stage '{stage.name}': no layer or block instance '{name}' in '{graph.name}'"
                                   f"{did_you_mean(name, graph.nodes)}", "stages", index, key, j, code="unknown-layer")


def select_trainable(model: nn.Module, spec_frozen: set[str], stage: Stage) -> int:
    """Sets requires_grad for this stage: the layers in `train` (default all) but not in
    `freeze`, never a parameter the spec marks `trainable: false`. Returns how many train."""
    def within(name: str, layers) -> bool:
        return any(name.startswith(layer + ".") for layer in layers)

    count = 0
    for name, p in model.named_parameters():
        p.requires_grad_(name not in spec_frozen and (stage.train is None or within(name, stage.train))
                         and not within(name, stage.freeze))
        count += p.numel() if p.requires_grad else 0
    return count


@dataclass
class Taps:
    """Where a reconstruct objective taps the network, and the decoder that closes the loop."""

    entry: nn.Module  # its forward's input is the target
    exit: nn.Module  # its forward's output is the code the decoder reads
    code: tuple  # shapes per sample
    target: tuple
    decoder: Graph | None  # None: one linear map


def reconstruction_taps(loaded: Loaded, graph: Graph, index: int, objective: Reconstruct, model: nn.Module) -> Taps:
    """The taps and decoder of stage `index`'s reconstruct objective, checked; makes no module
    (so it can run before training starts without touching the RNG)."""
    where = ("stages", index, "objective", "reconstruct")
    nodes = layers_named(graph, objective.reconstruct)
    if not nodes:
        raise loaded.error(f"no layer or block instance '{objective.reconstruct}' in '{graph.name}'"
                           f"{did_you_mean(objective.reconstruct, graph.nodes)}", *where, code="unknown-layer")
    inside = {n.name for n in nodes}
    entry = next(n for n in nodes if any(i not in inside for i in n.inputs))
    exit = nodes[-1]
    modules = []
    for node, role in ((entry, "first"), (exit, "last")):
        try:
            modules.append(model.get_submodule(node.name))
        except AttributeError:
            raise loaded.error(f"the {role} layer of '{objective.reconstruct}', '{node.name}' ({node.op}), is "
                               "computed inline and has no module to tap", *where,
                               notes=["name a layer, or a block that starts and ends with layers that have "
                                      "modules (conv, linear, activations, pools)"]) from None
    given, wanted = graph.nodes[entry.inputs[0]].type, exit.type
    taps = Taps(modules[0], modules[1], wanted.shape[1:], given.shape[1:], None)
    if objective.decoder is None:
        return taps
    path = loaded.resolve(objective.decoder)
    if not path.is_file():
        raise loaded.error(f"no such decoder spec: {path}", "stages", index, "objective", "decoder")
    taps.decoder = build(path)
    d_in = taps.decoder.nodes[taps.decoder.inputs[0]].type
    d_out = taps.decoder.nodes[next(iter(taps.decoder.outputs.values()))].type
    if d_in.shape[1:] != wanted.shape[1:] or d_out.shape[1:] != given.shape[1:]:
        raise loaded.error(f"decoder '{taps.decoder.name}' maps {d_in} to {d_out}; reconstructing "
                           f"'{objective.reconstruct}' needs N×{_dims(wanted)} to N×{_dims(given)}",
                           "stages", index, "objective", "decoder", code="decoder-shape")
    return taps


def reconstruction(loaded: Loaded, graph: Graph, index: int, objective: Reconstruct, model: nn.Module,
                   seed: int) -> Reconstruction:
    """The reconstruct objective of stage `index`, its decoder built and shape-checked."""
    taps = reconstruction_taps(loaded, graph, index, objective, model)
    decoder = _linear_decoder(taps.code, taps.target) if taps.decoder is None else to_torch(taps.decoder, seed=seed)
    return Reconstruction(model, taps.entry, taps.exit, decoder)


def _linear_decoder(code: tuple, target: tuple) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(code), math.prod(target)), nn.Unflatten(1, target))


def _dims(t) -> str:
    return "×".join(str(d) for d in t.shape[1:])
