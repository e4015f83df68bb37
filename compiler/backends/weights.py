"""A network's parameter and buffer values as NumPy arrays, keyed like torch's state_dict
(`layer1.conv1.weight`): read from a checkpoint, or made from the spec's `init:` without torch.

Without torch the values follow the same distributions as `to_torch` (PyTorch's defaults,
or the spec's scheme) but not the same numbers: torch's generator cannot be replayed in
NumPy. For the very values of `to_torch(graph, seed=s)`, pass its state_dict as weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..diagnostics import Diagnostic, SpecError
from ..expand import UsageError
from ..init_schemes import SCHEMES, fans
from ..ir import Graph, Node
from ..ops import REGISTRY
from ..spec import InitScheme

# Entries of a torch state_dict that carry no value of the network (BatchNorm's counter).
IGNORED_SUFFIXES = (".num_batches_tracked",)


def expected(graph: Graph) -> dict[str, tuple[int, ...]]:
    """Every parameter and buffer the network owns, name -> shape (a layer that shares
    another's parameters owns none)."""
    shapes = {}
    for node in graph.nodes.values():
        if not node.is_input and not node.share:
            shapes.update({node.state_key(k): s for k, s in {**node.params, **node.buffers}.items()})
    return shapes


def load_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
    """A state_dict from safetensors (no torch needed) or from torch.save (loaded with
    weights_only=True, so a checkpoint cannot run code). A training checkpoint holding the
    state_dict under "model" or "state_dict" works too."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no such weights file: {path}")
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        return load_file(str(path))
    try:
        import torch  # only a torch checkpoint needs torch
    except ImportError:
        raise UsageError(f"reading {path} needs torch, which is not installed; save the weights as "
                         ".safetensors to export without torch") from None
    try:
        state = torch_load(path)
    except ValueError as e:
        raise UsageError(f"cannot load weights: {e}") from None
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping):
        raise UsageError(f"{path} holds a {type(state).__name__}, not a state_dict")
    return as_arrays(state)


def torch_load(path: Path):
    """torch.load(weights_only=True), with a refusal said in our words: torch's own message
    advises weights_only=False, that is, running whatever code the file holds."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "global" not in str(e):  # "Unsupported operand", "invalid load key": bytes, not objects
            raise ValueError(f"cannot read {path}: not a file torch.save wrote, or a truncated one") from None
        raise ValueError(f"{path} is not a plain state_dict or checkpoint: it holds Python objects besides "
                         "tensors, numbers, strings, lists and dicts, and nncompile will not unpickle arbitrary "
                         "objects (unpickling can run any code). Save model.state_dict() with torch.save, "
                         "or as .safetensors") from None
    except Exception:  # torch raises KeyError, EOFError, RuntimeError… for a file it did not write
        raise ValueError(f"cannot read {path}: not a file torch.save wrote, or a truncated one") from None


def as_arrays(state: Mapping) -> dict[str, np.ndarray]:
    """A state_dict of torch tensors or arrays as float32-or-native NumPy arrays."""
    return {k: v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v) for k, v in state.items()}


def check(graph: Graph, values: Mapping[str, np.ndarray], origin: str) -> None:
    """Every expected tensor is present with its shape, and nothing else is (as torch's
    strict load_state_dict); raises UsageError listing every mismatch."""
    shapes = expected(graph)
    shared = {n.state_key(k) for n in graph.nodes.values() if n.share for k in n.params}
    problems = [f"missing {k} {_dims(s)}" for k, s in shapes.items() if k not in values]
    problems += [f"{k} is {_dims(values[k].shape)}, expected {_dims(s)}"
                 for k, s in shapes.items() if k in values and tuple(values[k].shape) != s]
    problems += [f"unexpected {k}" for k in values
                 if k not in shapes and k not in shared and not k.endswith(IGNORED_SUFFIXES)]
    if problems:
        shown = problems[:8] + ([f"… and {len(problems) - 8} more"] if len(problems) > 8 else [])
        raise UsageError(f"the weights in {origin} do not fit network '{graph.name}':\n  " + "\n  ".join(shown))


def _dims(shape) -> str:
    return "×".join(map(str, shape)) or "scalar"


# --- initialisation without torch -------------------------------------------------------

class Draw:
    """The distributions init_schemes' NumPy column draws from, with one seeded generator;
    float32 and in place: VGG's 138M values would otherwise take seconds."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def normal(self, shape, std, mean=0.0) -> np.ndarray:
        values = self.rng.standard_normal(shape, dtype=np.float32)
        values *= np.float32(std)
        values += np.float32(mean)
        return values

    def uniform(self, shape, high, low=None) -> np.ndarray:
        low = -high if low is None else low
        values = self.rng.random(shape, dtype=np.float32)
        values *= np.float32(high - low)
        values += np.float32(low)
        return values

    def constant(self, shape, value) -> np.ndarray:
        return np.full(shape, value, dtype=np.float32)


def initial_values(graph: Graph, seed: int = 0, progress=None) -> dict[str, np.ndarray]:
    """Values for every parameter and buffer: the spec's `init:` where it gives one, else
    the op's PyTorch default (`Op.default_init`), drawn from one seeded generator.
    `progress("weights", done, total)`, if given, is called after each tensor."""
    draw = Draw(np.random.default_rng(seed))
    values, errors = {}, []
    owners = [node for node in graph.nodes.values() if not (node.is_input or node.share)]
    total = sum(len(node.params) + len(node.buffers) for node in owners)
    for node in owners:
        shapes = {**node.params, **node.buffers}
        defaults = REGISTRY[node.op].default_init
        for name, shape in shapes.items():
            try:
                values[node.state_key(name)] = _value(draw, node, name, shape, shapes, defaults).astype(np.float32,
                                                                                                     copy=False)
            except ValueError as e:  # a fan-based scheme on a 1-D tensor
                errors.append(Diagnostic(f"layer '{node.name}' ({node.op}): cannot initialise {name} "
                                         f"{shape} this way: {e}", node.span_of("init"),
                                         code="bad-init"))
            if progress:
                progress("weights", len(values) + len(errors), total)
    if errors:
        error = SpecError(errors)
        error.sources = graph.sources
        raise error
    return values


def _value(draw: Draw, node: Node, name: str, shape: tuple, shapes: dict, defaults: dict) -> np.ndarray:
    value = node.init.get(name, "default")
    if isinstance(value, list) or isinstance(value, (int, float)) and not isinstance(value, bool):
        return np.broadcast_to(np.asarray(value, dtype=np.float64), shape)
    scheme = value if isinstance(value, InitScheme) else InitScheme(scheme=value)
    if scheme.scheme != "default":
        return SCHEMES[scheme.scheme].numpy(draw, shape, scheme)
    default = defaults.get(name)
    if callable(default):  # a constant the op computes from its attributes (Swin's relative_position_index)
        return np.asarray(default(node.attrs), dtype=np.float64).reshape(shape)
    if default == "fan_in_uniform":
        # nn.Linear/nn.Conv*: U(±1/√fan_in) for the weight and the bias, fan_in of the weight
        # beside it (qkv.bias: qkv.weight's; out_proj.weight: its own)
        weight = f"{name.rpartition('.')[0]}.weight" if "." in name else "weight"
        return draw.uniform(shape, 1 / math.sqrt(fans(shapes.get(weight, shape))[0]))
    if isinstance(default, float):  # a constant (nn.PReLU's slope ¼)
        return draw.constant(shape, default)
    if default in SCHEMES:
        return SCHEMES[default].numpy(draw, shape, scheme)
    raise RuntimeError(f"op '{node.op}' names no default initialisation for '{name}' (Op.default_init)")
