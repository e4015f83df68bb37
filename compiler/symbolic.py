"""Symbolic sizes: a dim named in `inputs` (H, W) stays exact through conv/pool chains.

Every size a chain of windows, strides and integer upsamplings makes from a symbol S has
the form  m·⌊(a·S + c)/d⌋ + e  (floor division, as PyTorch rounds), because
⌊(⌊x/a⌋ + b)/c⌋ = ⌊(x + a·b)/(a·c)⌋ for integers. So `H` through a 3×3 conv with padding 1
stays `H`, through a 2×2/2 pool becomes `H/2` (that is ⌊H/2⌋), and back through a 2×
transposed conv `2·H/2`. An input dim written `16*h` is a multiple of 16, any one: the
symbol is h and the dim 16·h, so four 2×2 pools give exactly h and the floors vanish —
⌊(g·y + c)/(g·d)⌋ = ⌊(y + ⌊c/g⌋)/d⌋ takes g = gcd(a, d) out, and with d = 1 the form is
affine. A SymDim is a str (its canonical text), so shapes print, compare and serialise
as text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

MAX_MULTIPLE = 2**40  # as a concrete size is bounded
MAX_PERIOD = 2**12  # beyond it, only the multiple that makes every dim affine is tried
SYMBOL_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
MULTIPLE_PATTERN = rf"^([1-9][0-9]*)\s*[*·]\s*({SYMBOL_PATTERN})$"  # 16*h, or 16·h as it prints


class SymDim(str):
    """m·⌊(a·symbol + c)/d⌋ + e, printed in its simplest form."""

    symbol: str
    m: int
    c: int
    d: int
    e: int
    a: int

    def __new__(cls, symbol: str, m: int = 1, c: int = 0, d: int = 1, e: int = 0, a: int = 1):
        g = math.gcd(a, d)
        a, c, d = a // g, c // g, d // g
        if d == 1:  # no division left: an affine m·a·S + (e + m·c)
            m, a, c, e = m * a, 1, 0, e + m * c
        self = super().__new__(cls, _text(symbol, m, a, c, d, e))
        self.symbol, self.m, self.c, self.d, self.e, self.a = symbol, m, c, d, e, a
        return self

    def at(self, size: int) -> int:
        """The dim's value when its symbol is `size`."""
        return self.m * ((self.a * size + self.c) // self.d) + self.e

    @property
    def floors(self) -> str:
        """The text with every floor written out: ⌊H/8⌋ where the canonical text says H/8."""
        return _text(self.symbol, self.m, self.a, self.c, self.d, self.e, brackets=True)


def _text(symbol: str, m: int, a: int, c: int, d: int, e: int, brackets: bool = False) -> str:
    inner = symbol if a == 1 else f"{a}·{symbol}"
    if d == 1:
        core = inner
    elif a == 1 and c == 0 and not brackets:
        core = f"{symbol}/{d}"  # read as ⌊S/d⌋, the one floor written without brackets
    else:
        core = f"⌊{inner}/{d}⌋" if c == 0 else f"⌊({inner}{c:+d})/{d}⌋"
    if m != 1:
        core = f"{m}·{core}"
    return core if e == 0 else f"{core}{e:+d}"


def parse(text: str) -> SymDim | None:
    """An input dim written as a symbol (`H`) or a multiple of one (`16*h`, `16·h`); None if
    it is neither."""
    if re.fullmatch(SYMBOL_PATTERN, text):
        return SymDim(text)
    multiple = re.fullmatch(MULTIPLE_PATTERN, text)
    if multiple is None or int(multiple.group(1)) > MAX_MULTIPLE:
        return None
    return SymDim(multiple.group(2), int(multiple.group(1)))


def as_sym(dim) -> SymDim | None:
    """A symbolic dim in affine form (a plain str symbol becomes one); None if it is not."""
    if isinstance(dim, SymDim):
        return dim
    if isinstance(dim, str) and dim.isidentifier():
        return SymDim(dim)
    return None


def evaluate(dim, sizes: Mapping[str, int], default: int | None = None) -> int | None:
    """A dim's value with each symbol at its size in `sizes` (`default` for a symbol not
    there; without one, a KeyError); None where its form is not affine (H·W)."""
    if isinstance(dim, int):
        return dim
    s = as_sym(dim)
    if s is None:
        return None
    return s.at(sizes[s.symbol] if default is None else sizes.get(s.symbol, default))


def admits(dims: Iterable, sizes: Iterable[int]) -> bool:
    """Whether concrete sizes fit dims as an input declares them: a number equal, a symbol any
    size (the same one each time it recurs), 16·h a positive multiple of 16."""
    values: dict[str, int] = {}
    for dim, size in zip(dims, sizes):
        if isinstance(dim, int):
            if dim != size:
                return False
            continue
        s = as_sym(dim)
        if s is None or s.d != 1:  # not an input's form: nothing to check
            continue
        unit, rest = divmod(size - s.e, s.m)
        if rest or unit < 1 or values.setdefault(s.symbol, unit) != unit:
            return False
    return True


def sample_sizes(dims: Iterable, side: int) -> dict[str, int]:
    """A value for each symbol among `dims` that makes its dims about `side`: `side` for H,
    side/16 for 16·h (at least 1), so sample inputs stay small whatever the multiple."""
    unit: dict[str, int] = {}
    for dim in dims:
        s = as_sym(dim)
        if s is not None and s.d == 1:
            unit[s.symbol] = max(unit.get(s.symbol, 1), s.m)
    return {symbol: max(1, round(side / m)) for symbol, m in unit.items()}


def window(dim, span: int, stride: int, pads: int):
    """⌊(n + pads − span)/stride⌋ + 1 for a symbolic n, or None if it has no closed form."""
    s = as_sym(dim)
    if s is None:
        return None
    if s.d == 1:  # m·S + e, the floor of which is ⌊(m·S + e + …)/stride⌋
        a, c, d, e = s.m, 0, 1, s.e
    elif s.m == 1:
        a, c, d, e = s.a, s.c, s.d, s.e
    elif s.m % stride == 0:  # (k·stride)·⌊…⌋ + r over stride: k·⌊…⌋ + ⌊r/stride⌋, a pool after an upsampling
        return SymDim(s.symbol, s.m // stride, s.c, s.d, (s.e + pads - span + stride) // stride, s.a)
    else:  # m·⌊…⌋ under a floor that m does not divide has no closed form
        return None
    shift = e + pads - span + stride  # ⌊(⌊(a·S + c)/d⌋ + shift)/stride⌋
    return SymDim(s.symbol, 1, c + d * shift, d * stride, 0, a)


def scale(dim, factor: int, offset: int = 0):
    """factor·n + offset for a symbolic n (integer upsampling, transposed convolution)."""
    s = as_sym(dim)
    if s is None:
        return None
    return SymDim(s.symbol, s.m * factor, s.c, s.d, s.e * factor + offset, s.a)


def multiple_making_equal(dims: list[SymDim]) -> int | None:
    """The least k for which the dims, all of one symbol, are equal whenever that symbol is
    a multiple of k; None if no k does (they differ by more than a floor: H vs H−2).

    In u, with the symbol k·u, each dim is a line plus a term whose period divides
    d/gcd(a·k, d); dims that agree over two of their common periods agree for every u. k
    ranges over the divisors of the d's lcm, the multiple that makes every dim affine."""
    period = math.lcm(*(s.d for s in dims))
    candidates = [k for k in range(1, period + 1) if period % k == 0] if period <= MAX_PERIOD else [period]
    for k in candidates:
        cycle = math.lcm(*(s.d // math.gcd(s.a * k, s.d) for s in dims))
        if cycle <= MAX_PERIOD and len({tuple(s.at(k * u) for u in range(1, 2 * cycle + 1)) for s in dims}) == 1:
            return k
    return None
