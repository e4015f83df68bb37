"""Lowering to ONNX straight from the IR: `to_onnx(spec)` -> an onnx.ModelProto, no torch.

A generic walker: each op lowers itself (`Op.onnx`) through a LayerEmitter, which names
nodes, values and initializers after the spec's layers, so Netron shows the author's
names: the layer `layer1.conv1` is the node `layer1.conv1` whose output value is
`layer1.conv1` and whose weight is the initializer `layer1.conv1.weight` (torch's
state_dict key); helper nodes and constants a lowering needs are `layer1.conv1/Reshape`,
`layer1.conv1/axes`. Symbolic sizes (the batch `N`, named spatial sizes) become dim_params;
every layer's output carries its statically inferred type as value_info.
"""

from __future__ import annotations

import io
import json
import os
import sys
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .. import symbolic
from ..atomic import atomic_path, write_bytes
from ..diagnostics import Diagnostic, SpecError
from ..ir import Graph, Node, TensorType
from ..ops import REGISTRY
from . import onnx_wire
from . import weights as weights_

OPSET = 18  # LayerNormalization (17), ReduceMax/ReduceMean with axes as input and Resize `axes` (18)
PRODUCER = "nncompile"
# A protobuf message cannot exceed 2 GiB: initializers beyond this go to a side file.
EXTERNAL_DATA_THRESHOLD = 2**31 - 2**26
EXTERNAL_MIN_TENSOR_BYTES = 1024  # smaller tensors stay inline even then


def to_onnx(graph: Graph, weights: str | Path | Mapping | None = None, *, seed: int = 0,
            opset: int = OPSET, progress=None) -> onnx.ModelProto:
    """The analysed network as an ONNX model (`nncompile.compiler.to_onnx` takes a spec path
    too and builds it first); `lower` gives the same model unserialised, without onnx."""
    return lower(graph, weights, seed=seed, opset=opset, progress=progress).to_proto()


def lower(graph: Graph, weights: str | Path | Mapping | None = None, *, seed: int = 0,
          opset: int = OPSET, progress=None) -> onnx_wire.Model:
    """The analysed network as an ONNX model to write with `save` (no onnx import; each weight
    held once, as its array).

    `weights`: a checkpoint (torch state_dict or .safetensors) or a mapping name -> array or
    tensor (e.g. `to_torch(...).state_dict()`); without them the spec's own initialisation,
    drawn with NumPy from `seed` (same distributions as torch's, not the same values).
    `progress(phase, done, total)`, if given, hears of each weight drawn and each layer lowered."""
    values = _values(graph, weights, seed, progress)
    model = onnx_wire.Model(onnx_wire.Graph(graph.name, graph.doc or ""), [onnx_wire.OpsetId(opset)],
                            PRODUCER, _version(), graph.doc or "", metadata(graph))
    builder = _Builder(graph, values, model.graph)
    for done, node in enumerate(graph.topological(), 1):
        if node.is_input:
            model.graph.input.append(_value_info(node.name, node.type))
        else:
            builder.lower(node)
        if progress:
            progress("layers", done, len(graph.nodes))
    builder.finish_outputs()
    return model


def _values(graph: Graph, weights, seed: int, progress=None) -> dict[str, np.ndarray]:
    if weights is None:
        return weights_.initial_values(graph, seed, progress)
    if isinstance(weights, Mapping):
        values, origin = weights_.as_arrays(weights), "the given state_dict"
    else:
        values, origin = weights_.load_checkpoint(weights), str(weights)
    weights_.check(graph, values, origin)
    return values


def metadata(graph: Graph) -> dict[str, str]:
    """The spec's name, docstring, hash and parameters, readable by any ONNX consumer."""
    return {"name": graph.name, "doc": graph.doc or "", "source_hash": graph.source_hash,
            "source_file": str(graph.file), "params": json.dumps(graph.params, default=str)}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nncompile")
    except PackageNotFoundError:
        return "unknown"


def _value_info(name: str, t: TensorType) -> bytes:
    return onnx_wire.value_info(name, np.dtype(t.dtype).name, t.shape)


class LayerEmitter:
    """What an op's ONNX lowering builds with, for one layer."""

    def __init__(self, builder: "_Builder", node: Node):
        self._builder, self._node = builder, node
        self.name = node.name
        self.nodes: list[onnx_wire.NodeRecord] = []

    def __call__(self, op_type: str, *inputs: str, outputs: int = 1, **attrs) -> str | list[str]:
        """Adds a node (inputs by name; "" skips an optional input) and returns its output's name,
        or the names of its first `outputs` outputs where that is more than one (TopK's indices)."""
        output = self._builder.unique(f"{self.name}/{op_type}")
        names = [output] + [self._builder.unique(f"{output}:{k}") for k in range(1, outputs)]
        node = onnx_wire.NodeRecord(op_type, list(inputs), names, output, attrs,
                                    str(self._node.span) if self._node.span is not None else "")
        self.nodes.append(node)
        return output if outputs == 1 else names

    def param(self, name: str) -> str:
        """The initializer of this layer's parameter or buffer `name` (the owner's, when shared)."""
        owner = self._builder.graph.nodes[self._node.share] if self._node.share else self._node
        # named `layer.name` even where the state_dict key is the layer's own name (a free
        # parameter, ops/parameter.py): the layer's output value has that name
        return self._builder.tensor(owner.state_key(name), f"{owner.name}.{name}")

    def const(self, what: str, values, dtype: str = "int64", shape: tuple | None = None) -> str:
        """A constant initializer `layer/what` holding `values` (a number or nested lists),
        repeated to `shape` when one is given."""
        name = self._builder.unique(f"{self.name}/{what}")
        array = np.asarray(values, dtype=dtype)
        self._builder.initializer(name, array if shape is None else np.broadcast_to(array, shape))
        return name


class _Builder:
    def __init__(self, graph: Graph, values: dict[str, np.ndarray], proto: onnx_wire.Graph):
        self.graph, self.values, self.proto = graph, values, proto
        self.used: set[str] = set(graph.nodes)
        self.added: set[str] = set()

    def unique(self, name: str) -> str:
        candidate, suffix = name, 1
        while candidate in self.used:
            candidate, suffix = f"{name}_{suffix}", suffix + 1
        self.used.add(candidate)
        return candidate

    def tensor(self, key: str, name: str) -> str:
        """The initializer `name` holding the value of the state_dict key `key`."""
        if key not in self.added:
            self.added.add(key)
            self.initializer(name, np.asarray(self.values[key], np.float32))
        return name

    def initializer(self, name: str, array: np.ndarray) -> None:
        # the array itself, written out by Model.write (no copy unless it is a strided view)
        # (reshaped: ascontiguousarray makes a scalar 1-D)
        self.proto.initializer.append(onnx_wire.Initializer(name, np.ascontiguousarray(array).reshape(array.shape)))

    def lower(self, node: Node) -> None:
        """The layer's nodes; the one that makes its output takes the layer's name, and so
        does the output value (an Identity when the lowering passes an input through)."""
        emit = LayerEmitter(self, node)
        types = [self.graph.nodes[i].type for i in node.inputs]
        try:
            result = REGISTRY[node.op].onnx(node.attrs, list(node.inputs), types, node.type, emit)
        except NotImplementedError as e:
            error = SpecError(Diagnostic(f"layer '{node.name}' ({node.op}): {e}", node.span, code="no-onnx",
                                         notes=["`nncompile export --via torch` exports through torch.onnx instead"]))
            error.sources = self.graph.sources
            raise error from None
        producer = next((n for n in emit.nodes if result in n.output), None)
        if producer is None:
            producer = emit("Identity", result)
        for n in emit.nodes:  # the result may feed later nodes of the same layer
            n.input[:] = [node.name if i == result else i for i in n.input]
        producer.output[:] = [node.name if o == result else o for o in producer.output]
        producer.name = node.name
        self.proto.node += emit.nodes
        if node.name not in self.graph.outputs.values():
            self.proto.value_info.append(_value_info(node.name, node.type))

    def finish_outputs(self) -> None:
        for output, source in self.graph.outputs.items():
            if output != source:
                self.proto.node.append(onnx_wire.NodeRecord("Identity", [source], [output], output))
            self.proto.output.append(_value_info(output, self.graph.nodes[source].type))


# --- through torch, for cross-checking ------------------------------------------------------

# ops whose torch lowering takes its loop counts and sizes from the data, which torch.onnx.export's
# trace would freeze at the sample input's values: refused before tracing (their direct lowerings
# are standard ONNX). roi_pool is not among them: its trace holds for any boxes and batch.
UNTRACEABLE = {
    "rpn_proposals": "greedy NMS loops as many times as the boxes need, and each image keeps as many as survive",
    "detections": "greedy NMS loops as many times as the boxes need, and each image keeps as many as survive",
    "roi_align": "it loops over the images of the batch and cuts each image's boxes into chunks counted from the "
                 "data, with as many samples per bin as the largest box needs",
    "multiscale_roi_align": "it routes each box to its level by its size, then loops over the images of the batch "
                            "and cuts each image's boxes into chunks counted from the data",
}


class TorchExportError(RuntimeError):
    """torch.onnx.export failed on the lowered module: its message's first line."""


def refuse_untraceable(graph: Graph) -> None:
    """A located `no-torch-export` error for each layer of an UNTRACEABLE op, before any work."""
    found = [Diagnostic(f"layer '{node.name}' ({node.op}): torch.onnx.export traces one run, and this op's torch "
                        f"lowering depends on the data: {UNTRACEABLE[node.op]}", node.span, code="no-torch-export",
                        notes=["export without --via torch: the direct export lowers it to standard ONNX ops"])
             for node in graph.topological() if node.op in UNTRACEABLE]
    if found:
        error = SpecError(found)
        error.sources = graph.sources
        raise error


def to_onnx_via_torch(graph: Graph, weights: str | Path | Mapping | None = None, *, seed: int = 0,
                      opset: int = OPSET) -> onnx.ModelProto:
    """The same network exported by torch.onnx.export from `to_torch`'s module (the legacy
    TorchScript exporter: the dynamo one needs onnxscript), with the same metadata; symbolic
    sizes become dynamic axes. A layer torch cannot trace is a SpecError (refuse_untraceable);
    any other failure of torch.onnx.export a TorchExportError."""
    refuse_untraceable(graph)  # before torch is imported
    import torch

    from .torch import to_torch

    module = to_torch(graph, seed=seed).eval()
    if weights is not None:
        values = _values(graph, weights, seed)
        # strict=False: a checkpoint may leave out a shared layer's keys and BatchNorm's counters
        module.load_state_dict({k: torch.from_numpy(v) for k, v in values.items()}, strict=False)
    samples = tuple(torch.zeros(sample_shape(graph.nodes[name].type, batch_sizes(graph, 2))) for name in graph.inputs)
    dynamic = {name: {axis: str(d) for axis, d in enumerate(t.type.shape) if not isinstance(d, int)}
               for name, t in [*((i, graph.nodes[i]) for i in graph.inputs),
                               *((o, graph.nodes[s]) for o, s in graph.outputs.items())]}
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings(), _stdout_discarded():
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # the legacy exporter, chosen knowingly
        try:
            torch.onnx.export(module, samples, buffer, input_names=list(graph.inputs),
                              output_names=list(graph.outputs), dynamic_axes=dynamic, opset_version=opset, dynamo=False)
        except Exception as e:  # torch's exporter raises a dozen unrelated classes (TypeError, SymbolicValueError, …)
            first = str(e).strip().splitlines()[0].rstrip(".") if str(e).strip() else type(e).__name__
            raise TorchExportError(f"torch.onnx.export cannot export {graph.name}: {first}") from None
    import onnx

    model = onnx.load_from_string(buffer.getvalue())
    onnx.helper.set_model_props(model, metadata(graph))
    return model


@contextmanager
def _stdout_discarded():
    """File descriptor 1 into /dev/null: when an export fails, torch's C++ prints the whole traced
    graph there (megabytes for a detector), where stdout carries only a command's product."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no stdout at all: nothing to keep clean
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


SAMPLE_SIZE = 32  # a symbolic size other than the batch, in sample inputs, unless given


def batch_sizes(graph: Graph, batch: int, sizes: Mapping[str, int] | None = None) -> dict[str, int]:
    """Values of the symbolic sizes: the inputs' first axes at `batch`, others from `sizes`,
    else near SAMPLE_SIZE (h = 2 where an input is 16·h)."""
    batch_symbols = {graph.nodes[i].type.shape[0] for i in graph.inputs} - {None}
    dims = [d for i in graph.inputs for d in graph.nodes[i].type.shape[1:]]
    return {**symbolic.sample_sizes(dims, SAMPLE_SIZE), **(sizes or {}),
            **{s: batch for s in batch_symbols if isinstance(s, str)}}


def sample_shape(t: TensorType, sizes: Mapping[str, int]) -> tuple[int | None, ...]:
    """Type `t`'s shape with each symbol at its value in `sizes` (else SAMPLE_SIZE); None
    for a dim whose symbolic form cannot be evaluated (a product of symbols)."""
    return tuple(symbolic.evaluate(d, sizes, default=SAMPLE_SIZE) for d in t.shape)


# --- writing ----------------------------------------------------------------------------------

def save(model: onnx.ModelProto | onnx_wire.Model, path: str | Path, *,
         external_threshold: int = EXTERNAL_DATA_THRESHOLD) -> list[Path]:
    """Writes the model (`lower`'s, streamed from its arrays, or a ModelProto) atomically; when
    its initializers exceed `external_threshold` bytes (protobuf's 2 GiB limit) the large ones
    go to `<path>.data` beside it (ONNX external data), and a ModelProto is left referring to
    that file. Returns the files written."""
    if isinstance(model, onnx_wire.Model):
        return model.write(path, external_threshold, EXTERNAL_MIN_TENSOR_BYTES)
    from onnx import TensorProto, external_data_helper

    path = Path(path)
    tensors = [t for t in model.graph.initializer if len(t.raw_data) >= EXTERNAL_MIN_TENSOR_BYTES]
    if sum(len(t.raw_data) for t in model.graph.initializer) <= external_threshold:
        write_bytes(path, model.SerializeToString())
        return [path]
    data = path.with_name(path.name + ".data")
    # Both files are written whole before either is renamed (the data first, an instant before
    # the model): a write that fails or is killed leaves the old pair, never a mixed one.
    with atomic_path(path) as model_tmp, atomic_path(data) as data_tmp:
        with open(data_tmp, "wb") as f:
            for t in tensors:
                offset = f.tell()
                f.write(t.raw_data)
                external_data_helper.set_external_data(t, data.name, offset, len(t.raw_data))
                t.data_location = TensorProto.EXTERNAL
                t.ClearField("raw_data")
        model_tmp.write_bytes(model.SerializeToString())
    return [path, data]
