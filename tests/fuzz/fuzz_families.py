"""Hypothesis strategies for the hostile inputs of issue 12, one family each: run names and
config values (`train --set`), predict inputs (models and arrays), deep expressions,
import chains and deep block nesting. Each strategy draws plain data; test_families.py
writes it out and runs the command."""

from __future__ import annotations

import io

import numpy as np
from hypothesis import strategies as st

VICTIM = "{victim}"  # replaced by a folder of the sandbox the run must not touch

# --- run names: one path component, or a usage error -----------------------------------

run_names = st.one_of(
    st.sampled_from([VICTIM, VICTIM + "/sub", "..", ".", "../..", "a/b", "a/../..", "./x", "x/", "/", "/tmp",
                     "~", "$HOME", "a\x00b", "a\nb", "\x1b[2J", "", " ", "-", "--exist-ok", "a" * 255, "a" * 300,
                     "a" * 100_000, "ü" * 100, "名前", "runs", "a\\b", "C:\\x", "nul", ".hidden"]),
    st.text(alphabet=st.sampled_from(list("ab./\\~-_ \x00\n")), min_size=1, max_size=12),
)

# --- config values: wrong types, out of range, non-finite -------------------------------

HUGE = ["9" * 25, "9" * 5000, str(2**63), str(-(2**63) - 1), "1e400", "-1e400"]
NON_FINITE = [".inf", "-.inf", ".nan", "inf", "nan", "1e309"]
WRONG_TYPES = ["[1]", "[]", "{}", "{a: 1}", "[f1]", "null", "~", "true", "'3'", "abc", "3.5", "-1", "0", "1e-300",
               "!!python/object/apply:os.system [ls]", "*a", "&a [*a]", "[" * 200, "${1+1}", "''", "'a' * 10"]
# epochs and sizes: only values that must be refused (a valid huge one would train for hours)
REFUSED_SIZES = ["-1", "-(2**63)", "[1]", "{}", "abc", "3.5", ".inf", ".nan", "9" * 25, "null", "[" * 200]
CONFIG_KEYS = ["run.seed", "run.threads", "data.batch_size", "train.lr", "train.loss", "train.optimizer",
               "train.metrics", "train.weight_decay", "train.momentum", "stages.0.epochs", "data.dataset",
               "run", "train", "nope", "train.nope", "train.metrics.0", "data"]
SIZE_KEYS = ["train.epochs", "data.size"]

config_overrides = st.lists(
    st.one_of(st.tuples(st.sampled_from(CONFIG_KEYS), st.sampled_from(HUGE + NON_FINITE + WRONG_TYPES)),
              st.tuples(st.sampled_from(SIZE_KEYS), st.sampled_from(REFUSED_SIZES))),
    min_size=1, max_size=2)

# --- predict inputs: models and arrays that are not what they claim ---------------------

MODEL = "{model}"  # the real ONNX model of the session


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _npy_header(shape: str, descr: str = "<f4") -> bytes:
    """A .npy file whose header claims `shape` and holds no data."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}".encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


ARRAYS = {
    "good": _npy(np.zeros((3, 2), np.float32)), "empty": _npy(np.zeros((0, 2), np.float32)),
    "0-d": _npy(np.float32(1)), "1-d": _npy(np.zeros(2, np.float32)), "wide": _npy(np.zeros((2, 5), np.float32)),
    "3-d": _npy(np.zeros((2, 2, 2), np.float32)), "nan": _npy(np.full((2, 2), np.nan, np.float32)),
    "inf": _npy(np.full((2, 2), np.inf)), "int": _npy(np.ones((2, 2), np.int64)), "bool": _npy(np.ones((2, 2), bool)),
    "complex": _npy(np.ones((2, 2), complex)), "text": _npy(np.array([["a", "b"]])),
    "object": _npy(np.array([[1, None]], dtype=object)), "huge": _npy_header("(10**12, 2)"),
    "huge-int": _npy_header("(100000000000, 2)"), "negative": _npy_header("(-1, 2)"),
    "bad-descr": _npy_header("(2, 2)", "|O"), "zero-bytes": b"", "garbage": bytes(range(256)),
    "text-file": b"1, 2\n3, 4\n", "truncated": _npy(np.zeros((64, 2), np.float32))[:100],
}
# the real model and good arrays half the time, so that most cases get past the first check
inputs = st.lists(st.tuples(st.one_of(st.just("good"), st.sampled_from(sorted(ARRAYS))),
                            st.sampled_from([".npy", ".npy", ".npy", ".png", ".txt", ""])), min_size=1, max_size=3)
models = st.one_of(st.just(MODEL), st.sampled_from(["zero-bytes", "garbage", "text", "truncated", "flipped",
                                                    "missing", "folder", "fifo"]))
outputs = st.sampled_from([None, None, None, "out.json", "out.npy", "out.npz", "out.txt", "missing/out.npy", "folder"])
flags = st.sampled_from([[], [], [], ["--batch-size", "0"], ["--top-k", "0"], ["--batch-size", "1"],
                         ["--top-k", "100"], ["--labels", "missing.txt"], ["--normalize", "imagenet"]])
predict_cases = st.fixed_dictionaries({"model": models, "inputs": inputs, "output": outputs, "flags": flags})

# --- deep expressions: under the 500-character limit, and just over it ------------------

UNARY = ["-", "+", "~", "not "]
expressions = st.one_of(
    st.builds(lambda n, op: op * n + "1", st.integers(1, 496), st.sampled_from(["-", "+", "~", "-+"])),
    st.builds(lambda n: "not " * n + "1", st.integers(1, 124)),
    st.builds(lambda n: "(" * n + "1" + ")" * n, st.integers(1, 249)),
    st.builds(lambda n, op: op.join(["k"] * n), st.integers(2, 166), st.sampled_from(["+", "*", "-", "//", "**", "<", "==",
                                                                                     " and ", " or ", "%", "/"])),
    st.builds(lambda ops: "".join(ops) + "k", st.lists(st.sampled_from(UNARY), min_size=1, max_size=200)),
    st.builds(lambda n: "max(" * n + "1" + ", 1)" * n, st.integers(1, 80)),
    st.builds(lambda n: "-(" * n + "1" + ")" * n, st.integers(1, 166)),
    st.builds(lambda n: "2 ** " * n + "2", st.integers(1, 99)),
)


def expression_spec(expression: str) -> str:
    return ("params: {k: 2}\ninputs: {x: [N, 3]}\nlayers:\n"
            f"  - a: {{op: linear, out_features: \"${{{expression}}}\"}}\n")


# --- import chains: each file imports the next ------------------------------------------

import_chains = st.fixed_dictionaries({
    "length": st.sampled_from([1, 2, 30, 300, 1_500]),
    "end": st.sampled_from(["block", "block", "cycle", "missing", "self"]),
})


def import_chain(length: int, end: str) -> dict[str, str]:
    """file name -> text: main.yaml imports f0.yaml, f{i} imports f{i+1}, and the last
    defines a block (or imports the first again, or a missing file, or itself)."""
    files = {"main.yaml": "import: {lib: f0.yaml}\ninputs: {x: [N, 3]}\nlayers:\n  - a: {block: lib.b}\n"}
    last = {"block": None, "cycle": "f0.yaml", "missing": "nope.yaml", "self": f"f{length - 1}.yaml"}[end]
    for i in range(length):
        following = f"f{i + 1}.yaml" if i < length - 1 else last
        imports = f"import: {{next: {following}}}\n" if following else ""
        files[f"f{i}.yaml"] = imports + "blocks:\n  b:\n    layers: [{r: relu}]\n"
    return files


# --- deep block nesting: b0 calls b1 … calls bN, without or with a cycle ----------------

block_chains = st.fixed_dictionaries({
    "depth": st.one_of(st.integers(1, 150), st.sampled_from([64, 65, 66, 69, 70, 71, 99, 100, 101, 500])),
    "cycle_to": st.one_of(st.none(), st.none(), st.integers(0, 10)),
})


def block_chain(depth: int, cycle_to: int | None) -> str:
    """b{i} calls b{i+1}; b{depth} is a relu, or calls b{cycle_to} (a cycle)."""
    lines = ["blocks:"]
    for i in range(depth):
        lines += [f"  b{i}:", f"    layers: [{{c: {{block: b{i + 1}}}}}]"]
    last = f"{{c: {{block: b{min(cycle_to, depth)}}}}}" if cycle_to is not None else "{r: relu}"
    lines += [f"  b{depth}:", f"    layers: [{last}]", "inputs: {x: [N, 3]}", "layers:", "  - a: {block: b0}"]
    return "\n".join(lines) + "\n"
