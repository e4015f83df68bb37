"""The closed form m·⌊(a·S + c)/d⌋ + e against brute-force integer arithmetic: chains of
windows and upsamplings from a symbol, or from a declared multiple of one (16·h), give at
every admissible size what the same chain gives on that size; floors of multiples vanish;
the multiple that reconciles two sizes is the least one that does, found by evaluation."""

import math

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from nncompile.compiler.symbolic import SymDim, admits, multiple_making_equal, parse, sample_sizes, scale, window

PROPERTY = settings(max_examples=200, deadline=None)
SIZES = range(1, 41)  # the symbol's values each property evaluates at

multiples = st.sampled_from([1, 2, 3, 4, 6, 8, 12, 16, 32])
windows = st.tuples(st.just("window"), st.integers(1, 7), st.integers(1, 4), st.integers(0, 6))  # span, stride, pads
upsamplings = st.tuples(st.just("scale"), st.integers(1, 4), st.integers(-3, 3))  # factor, offset
chains = st.lists(st.one_of(windows, windows, upsamplings), min_size=1, max_size=6)


def concrete(n: int, step) -> int | None:
    """One step on a concrete size, as PyTorch sizes it; None once no window fits."""
    kind, *args = step
    if kind == "window":
        span, stride, pads = args
        return (n + pads - span) // stride + 1 if n + pads >= span else None
    factor, offset = args
    return factor * n + offset if factor * n + offset >= 1 else None


def symbolic(dim, step):
    kind, *args = step
    return window(dim, *args) if kind == "window" else scale(dim, *args)


@PROPERTY
@given(k=multiples, chain=chains)
def test_closed_form_equals_brute_force_at_every_admissible_size(k, chain):
    start = parse(f"{k}*h") if k > 1 else parse("h")
    dims = [start]
    for step in chain:
        dim = symbolic(dims[-1], step)
        if dim is None:  # m·⌊…⌋ under a floor of a stride m is no multiple of: refused, never wrong
            assert dims[-1].d > 1 and dims[-1].m % step[2] != 0
            break
        dims.append(dim)
    assume(len(dims) > 1)
    checked = 0
    for u in SIZES:
        n = k * u
        for step, dim in zip(chain, dims[1:]):
            n = concrete(n, step)
            if n is None:
                break
            assert dim.at(u) == n, (dim, u)
            checked += 1
    assume(checked)


@PROPERTY
@given(m=st.integers(1, 5), a=st.integers(1, 48), c=st.integers(-40, 40), d=st.integers(1, 64),
       e=st.integers(-5, 5))
def test_the_normal_form_keeps_the_value(m, a, c, d, e):
    dim = SymDim("S", m, c, d, e, a)
    assert [dim.at(s) for s in SIZES] == [m * ((a * s + c) // d) + e for s in SIZES]
    assert math.gcd(dim.a, dim.d) == 1 and (dim.d > 1 or (dim.a, dim.c) == (1, 0))


@pytest.mark.parametrize("k, pools, expected", [(16, 4, "h"), (32, 4, "2·h"), (8, 4, "h/2"), (12, 3, "⌊3·h/2⌋")])
def test_pools_of_a_multiple_divide_exactly(k, pools, expected):
    dim = parse(f"{k}*h")
    for _ in range(pools):
        dim = window(dim, 2, 2, 0)
    assert dim == expected
    assert [dim.at(u) for u in SIZES] == [k * u // 2**pools for u in SIZES]


def test_the_unet_skip_meets_its_upsampled_map_only_for_multiples():
    # encoder at 1/8, decoder pooled to 1/16 and upsampled 2× (a 2×2 stride-2 transposed conv)
    for start, skip_equals_up in [(parse("H"), False), (parse("16*h"), True)]:
        skip = start
        for _ in range(3):
            skip = window(skip, 2, 2, 0)
        up = scale(window(skip, 2, 2, 0), 2, 0)
        assert (skip == up) is skip_equals_up, (skip, up)
    assert (str(skip), str(up)) == ("2·h", "2·h")


def _torch_chain(n: int) -> int:
    """ResNet's stem and three stride-2 stages, then FPN's 2× nearest upsampling, on n×n."""
    layers = nn.Sequential(nn.Conv2d(1, 1, 7, 2, 3), nn.MaxPool2d(3, 2, 1), nn.Conv2d(1, 1, 3, 2, 1),
                           nn.Conv2d(1, 1, 3, 2, 1), nn.Conv2d(1, 1, 3, 2, 1), nn.Upsample(scale_factor=2))
    with torch.no_grad():
        return layers(torch.zeros(1, 1, n, n)).shape[-1]


@pytest.mark.parametrize("k", [1, 32])
def test_the_closed_form_matches_torchs_shapes(k):
    dim = parse(f"{k}*h") if k > 1 else parse("h")
    for span, stride, pads in [(7, 2, 6), (3, 2, 2), (3, 2, 2), (3, 2, 2), (3, 2, 2)]:
        dim = window(dim, span, stride, pads)
    dim = scale(dim, 2)
    assert [dim.at(u) for u in range(1, 9)] == [_torch_chain(k * u) for u in range(1, 9)]
    assert dim == ("2·⌊(h+31)/32⌋" if k == 1 else "2·h")


def _least_by_brute_force(dims: list[SymDim]) -> int | None:
    """The least k ≤ lcm(d) with the dims equal at k·u for u = 1 … 3·lcm(d), by evaluation."""
    period = math.lcm(*(s.d for s in dims))
    for k in range(1, period + 1):
        if len({tuple(s.at(k * u) for u in range(1, 3 * period + 1)) for s in dims}) == 1:
            return k
    return None


@PROPERTY
@given(first=chains, second=chains)
def test_the_reconciling_multiple_is_the_least(first, second):
    dims = []
    for chain in (first, second):
        dim = parse("H")
        for step in chain:
            dim = symbolic(dim, step)
            assume(dim is not None)
        dims.append(dim)
    assume(max(s.d for s in dims) <= 64)
    assert multiple_making_equal(dims) == _least_by_brute_force(dims)


def test_the_reconciling_multiple_of_known_pairs():
    H = parse("H")
    assert multiple_making_equal([window(window(window(H, 2, 2, 0), 2, 2, 0), 2, 2, 0),
                                  scale(window(window(window(window(H, 2, 2, 0), 2, 2, 0), 2, 2, 0), 2, 2, 0), 2)]) == 16
    assert multiple_making_equal([H, SymDim("H", e=-2)]) is None  # an unpadded conv: no multiple helps


@pytest.mark.parametrize("text, expected", [("h", ("h", 1)), ("16*h", ("h", 16)), ("16·h", ("h", 16)),
                                            ("16 * H_1", ("H_1", 16)), ("1*h", ("h", 1))])
def test_parse_reads_a_symbol_or_a_multiple_of_one(text, expected):
    dim = parse(text)
    assert (dim.symbol, dim.m) == expected and str(parse(str(dim))) == str(dim)


@pytest.mark.parametrize("text", ["0*h", "h*16", "1.5*h", "16*", "-2*h", "16*h+1", "2*3", "Ĥ", f"{2**40 + 1}*h"])
def test_parse_refuses_anything_else(text):
    assert parse(text) is None


def test_sample_sizes_keep_sample_inputs_small():
    assert sample_sizes(["N", 3, parse("16*h"), parse("16*w"), 7], 32) == {"N": 32, "h": 2, "w": 2}
    assert sample_sizes([parse("H"), parse("64*h")], 32) == {"H": 32, "h": 1}


@pytest.mark.parametrize("sizes, fits", [((3, 32, 48), True), ((3, 24, 48), False), ((3, 0, 16), False),
                                         ((4, 32, 32), False)])
def test_admits_sizes_the_declared_multiples_allow(sizes, fits):
    assert admits([3, parse("16*h"), parse("16*w")], sizes) is fits


def test_admits_one_value_per_symbol():
    square = [parse("16*s"), parse("16*s")]
    assert admits(square, (32, 32)) and not admits(square, (32, 48))
    assert admits([parse("H"), parse("H")], (5, 5)) and not admits([parse("H"), parse("H")], (5, 6))


@pytest.mark.parametrize("dim, text, floors", [(SymDim("H", 2, 0, 16), "2·H/16", "2·⌊H/16⌋"),
                                               (SymDim("H", 1, 15, 16, 1), "⌊(H+15)/16⌋+1", "⌊(H+15)/16⌋+1"),
                                               (SymDim("h", 1, 0, 2, 0, 3), "⌊3·h/2⌋", "⌊3·h/2⌋"),
                                               (SymDim("h", 16), "16·h", "16·h")])
def test_text_and_its_floors_written_out(dim, text, floors):
    assert (str(dim), dim.floors) == (text, floors)


def test_a_pool_after_an_upsampling_halves_the_multiple():
    up = scale(window(parse("H"), 2, 2, 0), 2)  # 2·⌊H/2⌋: the even part of H
    assert (str(up), str(window(up, 2, 2, 0)), window(up, 3, 3, 0)) == ("2·H/2", "H/2", None)  # 3 ∤ 2
