"""The init schemes a spec's `init:` may name, each defined once: the torch.nn.init call
that applies it (backends/torch.py) and the same distribution drawn with NumPy, for
backends without torch (backends/weights.py). The spec's validation takes the names from
here. Nothing is imported: each backend passes in its own module (`torch.nn.init`) or
sampler (`weights.Draw`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple


class Scheme(NamedTuple):
    torch: Callable[[Any, Any, Any], Any]  # (torch.nn.init, tensor, arguments): fills the tensor in place
    numpy: Callable[[Any, tuple[int, ...], Any], Any] | None  # (weights.Draw, shape, arguments) -> array


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """torch.nn.init's fan_in and fan_out: dims 1 and 0 times the receptive field."""
    if len(shape) < 2:
        raise ValueError("fan in and fan out can not be computed for a tensor with fewer than 2 dimensions")
    field = math.prod(shape[2:])
    return shape[1] * field, shape[0] * field


# `arguments` is the spec's InitScheme: mean, std, low, high, gain
SCHEMES: dict[str, Scheme] = {
    # PyTorch's own, applied by the layer's constructor; Op.default_init names it for NumPy
    "default": Scheme(torch=lambda init, t, a: None, numpy=None),
    "kaiming": Scheme(
        torch=lambda init, t, a: init.kaiming_normal_(t, nonlinearity="relu"),
        numpy=lambda draw, s, a: draw.normal(s, math.sqrt(2 / fans(s)[0]))),
    "kaiming_uniform": Scheme(
        torch=lambda init, t, a: init.kaiming_uniform_(t, nonlinearity="relu"),
        numpy=lambda draw, s, a: draw.uniform(s, math.sqrt(6 / fans(s)[0]))),
    "xavier": Scheme(
        torch=lambda init, t, a: init.xavier_uniform_(t, gain=a.gain),
        numpy=lambda draw, s, a: draw.uniform(s, a.gain * math.sqrt(6 / sum(fans(s))))),
    "xavier_normal": Scheme(
        torch=lambda init, t, a: init.xavier_normal_(t, gain=a.gain),
        numpy=lambda draw, s, a: draw.normal(s, a.gain * math.sqrt(2 / sum(fans(s))))),
    "normal": Scheme(
        torch=lambda init, t, a: init.normal_(t, a.mean, a.std),
        numpy=lambda draw, s, a: draw.normal(s, a.std, a.mean)),
    "uniform": Scheme(
        torch=lambda init, t, a: init.uniform_(t, a.low, a.high),
        numpy=lambda draw, s, a: draw.uniform(s, a.high, a.low)),
    "zeros": Scheme(torch=lambda init, t, a: init.zeros_(t), numpy=lambda draw, s, a: draw.constant(s, 0.0)),
    "ones": Scheme(torch=lambda init, t, a: init.ones_(t), numpy=lambda draw, s, a: draw.constant(s, 1.0)),
}
