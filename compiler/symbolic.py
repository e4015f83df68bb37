"""Symbolic sizes: a dim named in `inputs` (H, W) stays exact through conv/pool chains.

Every size a chain of windows, strides and integer upsamplings makes from a symbol S has
the form  m·⌊(S + c)/d⌋ + e  (floor division, as PyTorch rounds), because
⌊(⌊x/a⌋ + b)/c⌋ = ⌊(x + a·b)/(a·c)⌋ for integers. So `H` through a 3×3 conv with padding 1
stays `H`, through a 2×2/2 pool becomes `H/2`, and back through a 2× transposed conv `2·(H/2)`.
A SymDim is a str (its canonical text), so shapes print, compare and serialise as text.
"""

from __future__ import annotations

from collections.abc import Mapping


class SymDim(str):
    """m·⌊(symbol + c)/d⌋ + e, printed in its simplest form."""

    symbol: str
    m: int
    c: int
    d: int
    e: int

    def __new__(cls, symbol: str, m: int = 1, c: int = 0, d: int = 1, e: int = 0):
        if d == 1:  # no division left: fold the offset into e
            c, e = 0, e + m * c
        self = super().__new__(cls, _text(symbol, m, c, d, e))
        self.symbol, self.m, self.c, self.d, self.e = symbol, m, c, d, e
        return self

    def at(self, size: int) -> int:
        """The dim's value when its symbol is `size`."""
        return self.m * ((size + self.c) // self.d) + self.e


def _text(symbol: str, m: int, c: int, d: int, e: int) -> str:
    core = symbol if d == 1 and c == 0 else f"{symbol}/{d}" if c == 0 else f"⌊({symbol}{c:+d})/{d}⌋"
    if m != 1:
        core = f"{m}·{core}"
    return core if e == 0 else f"{core}{e:+d}"


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


def window(dim, span: int, stride: int, pads: int):
    """⌊(n + pads − span)/stride⌋ + 1 for a symbolic n, or None if it has no affine form."""
    s = as_sym(dim)
    if s is None or s.m != 1:
        return None
    shift = s.e + pads - span + stride  # ⌊(⌊(S+c)/d⌋ + shift)/stride⌋
    return SymDim(s.symbol, 1, s.c + s.d * shift, s.d * stride, 0)


def scale(dim, factor: int, offset: int = 0):
    """factor·n + offset for a symbolic n (integer upsampling, transposed convolution)."""
    s = as_sym(dim)
    if s is None:
        return None
    return SymDim(s.symbol, s.m * factor, s.c, s.d, s.e * factor + offset)
