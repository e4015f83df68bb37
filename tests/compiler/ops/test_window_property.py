"""Property tests of window_output, the one conv/pool output-size rule, over random
hyperparameters: against an independent formula, against the output shapes of torch's
own nn.Conv2d / MaxPool2d / AvgPool2d, and its symbolic form against its concrete one."""

import math

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from nncompile.compiler.ops.base import InferLog, ShapeError, window_output

PROPERTY = settings(max_examples=100, deadline=None)

sizes = st.integers(1, 40)
kernels = st.integers(1, 7)
strides = st.integers(1, 5)
pads = st.integers(0, 4)
dilations = st.integers(1, 3)


def reference(n, k, s, p, d, ceil):
    """PyTorch's documented rule: ⌊ or ⌈(n + 2p − d(k−1) − 1)/s⌉ + 1, and in ceil mode the
    last window must start inside the input or its left padding. None: no window fits."""
    extent = n + 2 * p - d * (k - 1) - 1
    if extent < (1 - s if ceil else 0):  # rounding up, the last window may hang over the end
        return None
    out = (math.ceil(extent / s) if ceil else extent // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def ours(n, k, s, p, d, ceil, strict=False):
    try:
        return window_output(n, k, s, p, d, ceil, InferLog(["x"], strict), "H")
    except ShapeError:
        return None


@PROPERTY
@given(n=sizes, k=kernels, s=strides, p=pads, d=dilations, ceil=st.booleans())
def test_matches_the_formula(n, k, s, p, d, ceil):
    assume(p <= k // 2 or not ceil)  # ceil mode is for pools, which refuse more padding
    assert ours(n, k, s, p, d, ceil) == reference(n, k, s, p, d, ceil)


@PROPERTY
@given(n=sizes, k=kernels, s=strides, p=pads, d=dilations)
def test_strict_refuses_exactly_the_inexact_divisions(n, k, s, p, d):
    expected = reference(n, k, s, p, d, False)
    assume(expected is not None)
    exact = (n + 2 * p - d * (k - 1) - 1) % s == 0
    assert (ours(n, k, s, p, d, False, strict=True) is not None) == exact


def _torch_size(module, n) -> int | None:
    try:
        with torch.no_grad():
            return module(torch.zeros(1, 1, n, n)).shape[-1]
    except RuntimeError:  # torch: "output size is too small" / "kernel size can't be greater"
        return None


@PROPERTY
@given(n=sizes, k=kernels, s=strides, p=pads, d=dilations)
def test_matches_torch_conv2d(n, k, s, p, d):
    conv = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, bias=False)
    assert ours(n, k, s, p, d, False) == _torch_size(conv, n)


@PROPERTY
@given(n=sizes, k=kernels, s=strides, p=pads, d=dilations, ceil=st.booleans())
def test_matches_torch_maxpool2d(n, k, s, p, d, ceil):
    assume(p <= k // 2)  # torch refuses more padding than half the window
    pool = nn.MaxPool2d(k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
    assert ours(n, k, s, p, d, ceil) == _torch_size(pool, n)


@PROPERTY
@given(n=sizes, k=kernels, s=strides, p=pads, ceil=st.booleans())
def test_matches_torch_avgpool2d(n, k, s, p, ceil):
    assume(p <= k // 2)
    pool = nn.AvgPool2d(k, stride=s, padding=p, ceil_mode=ceil)
    assert ours(n, k, s, p, 1, ceil) == _torch_size(pool, n)


@PROPERTY
@given(layers=st.lists(st.tuples(kernels, strides, pads), min_size=1, max_size=4), n=st.integers(1, 200))
def test_symbolic_size_evaluates_to_the_concrete_one(layers, n):
    """A chain of windows applied to a symbol H, then evaluated at H = n, gives what the
    same chain gives on n (wherever every window fits)."""
    symbolic, concrete = "H", n
    for k, s, p in layers:
        concrete = ours(concrete, k, s, p, 1, False)
        assume(concrete is not None)
        symbolic = ours(symbolic, k, s, p, 1, False)
        assert symbolic is not None
    if isinstance(symbolic, str) and symbolic == "H":
        assert concrete == n
    else:
        assert symbolic.at(n) == concrete


def test_ceil_mode_never_starts_a_window_in_the_right_padding():
    # (5 + 2·1 − 2)/2 + 1 = 3.5: ceil gives 4, but the 4th window would start at 6 ≥ 5 + 1
    assert ours(5, 2, 2, 1, 1, True) == reference(5, 2, 2, 1, 1, True) == 3
    assert _torch_size(nn.MaxPool2d(2, 2, padding=1, ceil_mode=True), 5) == 3


@pytest.mark.parametrize("n, k, s, p, expected", [(227, 11, 4, 0, 55), (224, 3, 1, 1, 224), (7, 3, 3, 0, 2)])
def test_slides_examples(n, k, s, p, expected):
    assert ours(n, k, s, p, 1, False) == expected
