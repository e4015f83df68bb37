"""torchvision for the tests that compare the zoo with it, or a skip where it cannot be had.

PyPI's torchvision wheel is a CUDA build; over the CPU torch the tests use, `import
torchvision` fails while registering its C++ ops (`operator torchvision::nms does not
exist`). Its model definitions are plain Python and need none of those ops, so the two
modules that register them are replaced by empty ones before the import; the one op its
detection models call, nms, is onnxruntime's kernel inside `nms_by_onnxruntime`.
(scripts/install.sh --test installs torchvision==0.28.0 with --no-deps, beside torch.)
"""

from __future__ import annotations

import functools
import sys
import types
from contextlib import contextmanager
from unittest import mock

import numpy as np
import pytest
import torch

OP_REGISTRATIONS = ("torchvision._meta_registrations", "torchvision._autograd_registrations")


def torchvision_or_skip():
    """The torchvision module; the calling test is skipped where it cannot be imported."""
    for name in OP_REGISTRATIONS:
        sys.modules.setdefault(name, types.ModuleType(name))
    try:
        import torchvision
    except Exception as e:  # not installed (ImportError), or built against another torch
        pytest.skip(f"torchvision cannot be imported: {e}")
    return torchvision


def onnxruntime_nms(boxes, scores, groups, threshold: float, batches=None):
    """NMS by onnxruntime's NonMaxSuppression kernel: boxes [B, 4], scores [B], each box in
    group `groups` (NonMaxSuppression's classes) and batch `batches` (its batches); the kept
    indices, batch by batch, class by class, each by descending score."""
    boxes, scores, groups = (np.asarray(v) for v in (boxes, scores, groups))
    batches = np.zeros(len(boxes), np.int64) if batches is None else np.asarray(batches)
    count, classes = int(batches.max(initial=0)) + 1, int(groups.max(initial=0)) + 1
    per_batch = np.zeros((count, len(boxes), 4), np.float32)
    per_batch[batches, np.arange(len(boxes))] = boxes
    masked = np.full((count, classes, len(boxes)), -1.0, np.float32)  # NonMaxSuppression passes over -1
    masked[batches, groups, np.arange(len(boxes))] = scores
    (kept,) = _nms_session().run(None, {"boxes": per_batch, "scores": masked, "most": np.array([len(boxes)]),
                                        "iou": np.array([threshold], np.float32),
                                        "floor": np.array([-0.5], np.float32)})
    return kept[:, 2]


@functools.cache
def _nms_session():
    import onnxruntime
    from onnx import TensorProto, helper

    names = {"boxes": TensorProto.FLOAT, "scores": TensorProto.FLOAT, "most": TensorProto.INT64,
             "iou": TensorProto.FLOAT, "floor": TensorProto.FLOAT}
    graph = helper.make_graph([helper.make_node("NonMaxSuppression", list(names), ["kept"])], "nms",
                              [helper.make_tensor_value_info(n, t, None) for n, t in names.items()],
                              [helper.make_tensor_value_info("kept", TensorProto.INT64, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@contextmanager
def nms_by_onnxruntime(tv):
    """torchvision.ops.nms, a compiled kernel that does not load here, replaced by onnxruntime's
    NonMaxSuppression kernel (for torchvision's own RPN and RoI heads, which call it)."""

    def nms(boxes, scores, threshold):
        return torch.from_numpy(onnxruntime_nms(boxes.numpy(), scores.numpy(), np.zeros(len(boxes), np.int64),
                                                threshold))

    with mock.patch.object(tv.ops.boxes, "nms", nms):
        yield
