"""ONNX's protobuf messages, written directly: the model `export` writes, without importing onnx.

Importing onnx costs more than the rest of an export (it loads ml_dtypes, ~0.7 s), and
building a ModelProto copies every weight into it and again into its serialised bytes. Here
the lowering records nodes as plain objects; `Model.write` encodes them (protobuf's wire
format, the fields of onnx/onnx-ml.proto that nncompile emits) and streams each weight from
its NumPy array to the file, so a weight is in memory once. A model whose weights exceed
protobuf's 2 GiB limit keeps the large ones in `<file>.data` (ONNX external data).
`Model.to_proto` parses the same bytes with onnx, for callers that want a ModelProto.
"""

from __future__ import annotations

import struct
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import atomic_path

IR_VERSION = 8  # the IR of opset 18 (ONNX 1.13): what any later onnx and onnxruntime read
# TensorProto.DataType, by NumPy's name
DATA_TYPES = {"float32": 1, "uint8": 2, "int8": 3, "uint16": 4, "int16": 5, "int32": 6, "int64": 7, "bool": 9,
              "float16": 10, "float64": 11, "uint32": 12, "uint64": 13}
FLOAT, INT, STRING, FLOATS, INTS, STRINGS = 1, 2, 3, 6, 7, 8  # AttributeProto.AttributeType
EXTERNAL = 1  # TensorProto.DataLocation


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64: two's complement, ten bytes
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _number(field_number: int, n: int) -> bytes:
    return _varint(field_number << 3) + _varint(int(n))


def _chunk(field_number: int, payload: bytes | str) -> bytes:
    """A length-delimited field: a string, bytes or an embedded message."""
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(field_number << 3 | 2) + _varint(len(data)) + data


def _float(field_number: int, x: float) -> bytes:
    return _varint(field_number << 3 | 5) + struct.pack("<f", x)


def attribute(name: str, value) -> bytes:
    """An AttributeProto, its type inferred from the value as onnx.helper.make_attribute infers it."""
    kind, body = _attribute_value(name, value)
    return _chunk(1, name) + body + _number(20, kind)


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer))  # bool too: an INT, as in onnx.helper


def _attribute_value(name: str, value) -> tuple[int, bytes]:
    if _is_int(value):
        return INT, _number(3, value)
    if isinstance(value, (float, np.floating)):
        return FLOAT, _float(2, value)
    if isinstance(value, (str, bytes)):
        return STRING, _chunk(4, value)
    values = list(value)
    if not values:
        raise ValueError(f"attribute '{name}': no type can be inferred from an empty list")
    if all(_is_int(v) for v in values):
        return INTS, b"".join(_number(8, v) for v in values)
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in values):
        return FLOATS, b"".join(_float(7, v) for v in values)
    if all(isinstance(v, (str, bytes)) for v in values):
        return STRINGS, b"".join(_chunk(9, v) for v in values)
    raise TypeError(f"attribute '{name}': cannot write {values!r} as an ONNX attribute")


@dataclass
class NodeRecord:
    """A NodeProto to be: the lowering renames its inputs and outputs before it is written."""

    op_type: str
    input: list[str]
    output: list[str]
    name: str
    attrs: dict = field(default_factory=dict)
    doc_string: str = ""

    def encode(self) -> bytes:
        parts = [_chunk(1, i) for i in self.input] + [_chunk(2, o) for o in self.output]
        parts += [_chunk(3, self.name), _chunk(4, self.op_type)]
        parts += [_chunk(5, attribute(k, v)) for k, v in sorted(self.attrs.items()) if v is not None]
        if self.doc_string:
            parts.append(_chunk(6, self.doc_string))
        return b"".join(parts)


def value_info(name: str, dtype: str, shape) -> bytes:
    """A ValueInfoProto of a tensor: int sizes as dim_value, symbols as dim_param; a scalar's
    shape is present and empty (an absent one would mean an unknown rank)."""
    dims = b"".join(_chunk(1, _number(1, d) if isinstance(d, int) else _chunk(2, str(d))) for d in shape)
    tensor = _number(1, DATA_TYPES[dtype]) + _chunk(2, dims)
    return _chunk(1, name) + _chunk(2, _chunk(1, tensor))


@dataclass
class Initializer:
    name: str
    array: np.ndarray  # C-contiguous, little-endian (x86 and ARM are)

    @property
    def raw_data(self) -> memoryview:
        """The bytes, as ModelProto's initializers hold them (not copied)."""
        return memoryview(self.array).cast("B") if self.array.size else memoryview(b"")

    def header(self, external: tuple[str, int] | None = None) -> bytes:
        """The TensorProto without its raw_data field; external: (file, offset) of its bytes."""
        out = b"".join(_number(1, d) for d in self.array.shape) + _number(2, DATA_TYPES[self.array.dtype.name])
        out += _chunk(8, self.name)
        if external:
            location, offset = external
            out += b"".join(_chunk(13, _chunk(1, k) + _chunk(2, str(v)))
                            for k, v in (("location", location), ("offset", offset), ("length", self.array.nbytes)))
            out += _number(14, EXTERNAL)
        return out


@dataclass
class Graph:
    name: str
    doc_string: str = ""
    node: list[NodeRecord] = field(default_factory=list)
    input: list[bytes] = field(default_factory=list)  # value_info()s
    output: list[bytes] = field(default_factory=list)
    value_info: list[bytes] = field(default_factory=list)
    initializer: list[Initializer] = field(default_factory=list)

    def header(self) -> bytes:
        """Every field but the initializers, which are written after it (fields may come in any order)."""
        parts = [_chunk(1, n.encode()) for n in self.node] + [_chunk(2, self.name)]
        parts += [_chunk(10, self.doc_string)] if self.doc_string else []
        parts += [_chunk(11, v) for v in self.input] + [_chunk(12, v) for v in self.output]
        parts += [_chunk(13, v) for v in self.value_info]
        return b"".join(parts)


@dataclass
class OpsetId:
    version: int
    domain: str = ""


@dataclass
class Model:
    """What a ModelProto holds, under its field names (graph.node, graph.initializer, opset_import)."""

    graph: Graph
    opset_import: list[OpsetId]
    producer_name: str = ""
    producer_version: str = ""
    doc_string: str = ""
    metadata_props: dict[str, str] = field(default_factory=dict)

    def _fields(self, graph_size: int) -> tuple[bytes, bytes]:
        """The bytes before the graph's body (ending with the graph's key and length) and after it."""
        before = _number(1, IR_VERSION) + _chunk(2, self.producer_name) + _chunk(3, self.producer_version)
        before += _chunk(6, self.doc_string) if self.doc_string else b""
        before += _varint(7 << 3 | 2) + _varint(graph_size)
        after = b"".join(_chunk(8, _chunk(1, o.domain) + _number(2, o.version)) for o in self.opset_import)
        after += b"".join(_chunk(14, _chunk(1, k) + _chunk(2, v)) for k, v in self.metadata_props.items())
        return before, after

    def write(self, path: str | Path, external_threshold: int, min_external_bytes: int) -> list[Path]:
        """Writes the model atomically, streaming the weights from their arrays; when they exceed
        `external_threshold` bytes, those of at least `min_external_bytes` go to `<path>.data`.
        Returns the files written."""
        path = Path(path)
        data = path.with_name(path.name + ".data")
        inits = self.graph.initializer
        external = sum(t.array.nbytes for t in inits) > external_threshold
        chunks, offset = [], 0  # (the initializer's bytes before its raw data, its array if inline)
        for t in inits:
            if external and t.array.nbytes >= min_external_bytes:
                body, inline = t.header((data.name, offset)), None
                offset += t.array.nbytes
            else:
                body, inline = t.header() + _varint(9 << 3 | 2) + _varint(t.array.nbytes), t
            size = len(body) + (t.array.nbytes if inline else 0)
            chunks.append((_varint(5 << 3 | 2) + _varint(size) + body, inline))
        graph = self.graph.header()
        before, after = self._fields(len(graph) + sum(len(c) + (t.array.nbytes if t else 0) for c, t in chunks))
        # the data file is renamed an instant before the model: a failed write leaves the old pair
        with atomic_path(path) as model_tmp, atomic_path(data) if external else nullcontext() as data_tmp:
            if external:
                with open(data_tmp, "wb") as f:
                    for t in inits:
                        if t.array.nbytes >= min_external_bytes:
                            f.write(t.raw_data)
            with open(model_tmp, "wb") as f:
                f.write(before + graph)
                for chunk, inline in chunks:
                    f.write(chunk)
                    if inline:
                        f.write(inline.raw_data)
                f.write(after)
        return [path, data] if external else [path]

    def to_proto(self):
        """The model as an onnx.ModelProto (imports onnx), its weights copied in."""
        import onnx

        before, after = self._fields(len(self.graph.header()))
        model = onnx.load_from_string(before + self.graph.header() + after)
        for t in self.graph.initializer:
            proto = model.graph.initializer.add()
            proto.ParseFromString(t.header())
            proto.raw_data = t.array.tobytes()
        return model

