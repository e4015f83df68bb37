"""dropout against torch.nn.Dropout; drop_path against torchvision.ops.StochasticDepth."""

import pytest
import torch
from torch import nn

from harness import Case, Refusal, analyse_layer, op_tests
from nncompile.compiler import to_torch


def torchvision_or_skip():
    # imported when a test runs: scripts/gen_op_tables.py reads CASES with only this folder importable
    from torchvision_shim import torchvision_or_skip

    return torchvision_or_skip()


def stochastic_depth(p, mode="row"):
    return torchvision_or_skip().ops.StochasticDepth(p, mode)


CASES = [
    Case("dropout", {}, [("N", 4096)], lambda: nn.Dropout(0.5), id="alexnet-classifier"),
    Case("dropout", {"p": 0.1}, [("N", 3, 4, 4)], lambda: nn.Dropout(0.1), id="image"),
    Case("dropout", {"p": 0.3}, [("N", 6)], lambda: nn.Dropout(0.3), id="vector"),
    Case("drop_path", {"p": 0.2}, [("N", 8, 5, 5)], lambda: stochastic_depth(0.2), id="drop_path-row"),
    Case("drop_path", {"p": 0.5, "mode": "batch"}, [("N", 6)], lambda: stochastic_depth(0.5, "batch"),
         id="drop_path-batch"),
]

REFUSALS = [
    Refusal("dropout", {"p": 1.5}, [("N", 4)], "bad-attribute", lambda: nn.Dropout(1.5), id="p-above-1"),
    Refusal("drop_path", {"p": -0.1}, [("N", 4)], "bad-attribute", lambda: stochastic_depth(-0.1), id="drop_path-p-negative"),
    Refusal("drop_path", {"p": 0.1, "mode": "column"}, [("N", 4)], "bad-attribute",
            lambda: stochastic_depth(0.1, "column"), id="drop_path-unknown-mode"),
]

test_case, test_onnx, test_refusal = op_tests(CASES, REFUSALS)


def _training(tmp_path, p, mode="row"):
    return to_torch(analyse_layer(tmp_path, "drop_path", {"p": p, "mode": mode}, [("N", 3, 2, 2)])).train()


def test_drop_path_while_training_keeps_rows_at_the_survival_rate(tmp_path):
    """Each sample is zeroed whole or kept whole and scaled by 1/(1 − p); the kept fraction is
    1 − p within four binomial standard deviations (seeded)."""
    p, rows = 0.3, 4000
    torch.manual_seed(0)
    y = _training(tmp_path, p)(torch.ones(rows, 3, 2, 2))
    per_row = y.flatten(1)
    assert (per_row == per_row[:, :1]).all(), "a row is dropped or kept as a whole"
    assert per_row[:, 0].unique().tolist() == pytest.approx([0.0, 1 / (1 - p)])
    kept = (per_row[:, 0] > 0).float().mean().item()
    assert abs(kept - (1 - p)) < 4 * (p * (1 - p) / rows) ** 0.5
    assert abs(y.mean().item() - 1) < 0.05, "the expectation is kept"


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_drop_path_while_training_draws_as_torchvision(tmp_path, mode):
    tv = torchvision_or_skip()
    x = torch.randn(64, 3, 2, 2)
    torch.manual_seed(1)
    ours = _training(tmp_path, 0.4, mode)(x)
    torch.manual_seed(1)
    torch.testing.assert_close(ours, tv.ops.stochastic_depth(x, 0.4, mode, training=True), rtol=0, atol=0)


def test_drop_path_batch_mode_keeps_or_drops_the_whole_batch(tmp_path):
    torch.manual_seed(0)
    outcomes = {_training(tmp_path, 0.5, "batch")(torch.ones(16, 3, 2, 2)).unique().tolist()[0] for _ in range(20)}
    assert outcomes == {0.0, 2.0}
