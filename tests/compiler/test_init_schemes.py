"""The init-scheme registry: the names the spec accepts are its names, and each scheme's
NumPy column draws the distribution its torch.nn.init column does."""

from typing import get_args

import numpy as np
import pytest
import torch

from nncompile.compiler.backends.weights import Draw
from nncompile.compiler.init_schemes import SCHEMES
from nncompile.compiler.spec import InitScheme, Scheme

SHAPE = (256, 64, 3, 3)  # fan_in 576, fan_out 2,304


def test_the_spec_accepts_exactly_the_registered_schemes():
    assert get_args(Scheme) == tuple(SCHEMES)


@pytest.mark.parametrize("name", [n for n in SCHEMES if n != "default"])
def test_numpy_draws_what_torch_does(name):
    arguments = InitScheme(scheme=name, mean=0.5, std=0.2, low=-0.3, high=0.7, gain=1.5)
    scheme = SCHEMES[name]
    by_torch = torch.empty(SHAPE)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        scheme.torch(torch.nn.init, by_torch, arguments)
    by_numpy = scheme.numpy(Draw(np.random.default_rng(0)), SHAPE, arguments)
    assert by_numpy.shape == SHAPE and by_numpy.dtype == np.float32
    expected = by_torch.numpy()
    quantiles = [0.01, 0.25, 0.5, 0.75, 0.99]
    assert np.quantile(by_numpy, quantiles) == pytest.approx(np.quantile(expected, quantiles),
                                                             abs=0.05 * expected.std() + 1e-7)
