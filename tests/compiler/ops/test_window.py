"""shifted_window_attention and patch_merging against torchvision's own ShiftedWindowAttention
and PatchMerging modules (the harness's references: plain windows, shifted ones, padded
ones, a shift dropped where the window covers the axis, symbolic sizes), and the constant
relative_position_index, made without torch, against torchvision's buffer."""

import numpy as np
import pytest
import torch

from harness import Case, Refusal, analyse_layer, op_tests
from nncompile.compiler import to_torch
from nncompile.compiler.backends.weights import initial_values


def torchvision_or_skip():
    """Imported when a case runs, so scripts/gen_op_tables.py reads the cases without tests/ on its path."""
    from torchvision_shim import torchvision_or_skip

    return torchvision_or_skip()


def swin_attention(dim, window, shift, heads, **biases):
    return lambda: torchvision_or_skip().models.swin_transformer.ShiftedWindowAttention(dim, window, shift, heads,
                                                                                        **biases)


def patch_merging(dim):
    return lambda: torchvision_or_skip().models.swin_transformer.PatchMerging(dim)


CASES = [
    Case("shifted_window_attention", {"num_heads": 2, "window": 3}, [("N", 6, 9, 8)],
         swin_attention(8, [3, 3], [0, 0], 2), id="swa-windows"),
    Case("shifted_window_attention", {"num_heads": 2, "window": 3, "shift": 1}, [("N", 6, 9, 8)],
         swin_attention(8, [3, 3], [1, 1], 2), id="swa-shifted"),
    Case("shifted_window_attention", {"num_heads": 4, "window": [3, 4], "shift": [1, 2]}, [("N", 5, 7, 8)],
         swin_attention(8, [3, 4], [1, 2], 4), id="swa-padded"),
    Case("shifted_window_attention", {"num_heads": 1, "window": 4, "shift": 2, "qkv_bias": False,
                                      "proj_bias": False}, [("N", 4, 8, 6)],
         swin_attention(6, [4, 4], [2, 2], 1, qkv_bias=False, proj_bias=False), id="swa-one-window-high-no-bias"),
    Case("shifted_window_attention", {"num_heads": 2, "window": [4, 3], "shift": [0, 1]}, [("N", 8, 6, 4)],
         swin_attention(4, [4, 3], [0, 1], 2), id="swa-shifted-across-only"),
    # run at P, H, W = 20, 9, 13: whole windows (every region's mask seen in the output), padded ones
    Case("shifted_window_attention", {"num_heads": 2, "window": [4, 3], "shift": [2, 1]}, [("N", "P", "H", 8)],
         swin_attention(8, [4, 3], [2, 1], 2), id="swa-symbolic"),
    Case("shifted_window_attention", {"num_heads": 2, "window": [4, 3], "shift": [0, 1]}, [("N", "P", "H", 4)],
         swin_attention(4, [4, 3], [0, 1], 2), id="swa-symbolic-shifted-across-only"),
    Case("shifted_window_attention", {"num_heads": 2, "window": 4, "shift": 2}, [("N", "H", "W", 8)],
         swin_attention(8, [4, 4], [2, 2], 2), id="swa-symbolic-padded"),  # 12×16
    Case("shifted_window_attention", {"num_heads": 2, "window": [10, 4], "shift": [5, 2]}, [("N", "H", "W", 4)],
         swin_attention(4, [10, 4], [5, 2], 2), id="swa-symbolic-one-window-high"),  # H's shift dropped at run time
    Case("patch_merging", {}, [("N", 4, 6, 8)], patch_merging(8), id="patch-merging"),
    Case("patch_merging", {}, [("N", 5, 7, 4)], patch_merging(4), id="patch-merging-odd"),
    Case("patch_merging", {}, [("N", "H", "W", 4)], patch_merging(4), id="patch-merging-symbolic"),
]

REFUSALS = [
    Refusal("shifted_window_attention", {"num_heads": 3, "window": 3}, [("N", 6, 6, 8)], "shape-mismatch",
            id="swa-heads-not-dividing", fragments=["3 heads"]),
    Refusal("shifted_window_attention", {"num_heads": 2, "window": 3, "shift": 3}, [("N", 6, 6, 8)],
            "shape-mismatch", id="swa-shift-not-in-window", fragments=["smaller than the window"]),
    Refusal("patch_merging", {}, [("N", 8, 6, 6, 4)], "shape-mismatch", id="patch-merging-rank",
            fragments=["N×H×W×C"]),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)


@pytest.mark.parametrize("window", [(7, 7), (3, 4), (1, 5)])
def test_relative_position_index_is_torchvisions(window, tmp_path):
    """The buffer's values, as the torch lowering makes them and as NumPy does for the
    backends without torch, are torchvision's."""
    tv = torchvision_or_skip()
    theirs = tv.models.swin_transformer.ShiftedWindowAttention(4, list(window), [0, 0], 2).relative_position_index
    graph = analyse_layer(tmp_path, "shifted_window_attention", {"num_heads": 2, "window": list(window)},
                          [("N", 8, 8, 4)])
    assert torch.equal(to_torch(graph).state_dict()["y.relative_position_index"], theirs)
    assert np.array_equal(initial_values(graph)["y.relative_position_index"], theirs.numpy())
