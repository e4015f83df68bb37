"""The loss registry: every place that names a loss reads it, and each entry's torch side
computes what torch's own loss does."""

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from nncompile.cli import parser
from nncompile.runtime import losses
from nncompile.runtime.config import LossName, TaskLoss, Train
from nncompile.runtime.metrics import LOSSES as TORCH_LOSSES, LossInputError, torch_loss


def test_config_and_cli_offer_exactly_the_registry():
    assert LossName.__args__ == losses.NAMES and TaskLoss.model_fields["loss"].annotation == LossName
    assert Train.model_fields["loss"].description.startswith(
        "cross_entropy on logits; nll on log-probabilities; bce on probabilities (a sigmoid output); bce_with_logits; "
        "mse; smooth_l1 with beta (default 1); or a loss per output")
    explain = parser()._subparsers._group_actions[0].choices["explain"]
    assert next(a for a in explain._actions if a.dest == "loss").choices == losses.NAMES
    assert TORCH_LOSSES.keys() == losses.LOSSES.keys()


@pytest.mark.parametrize("name", losses.NAMES)
def test_each_torch_loss_equals_torchs(name):
    g = torch.Generator().manual_seed(0)
    kind = losses.LOSSES[name]
    if kind.target is losses.Target.CLASS:
        out, y = torch.randn(6, 4, generator=g), torch.randint(0, 4, (6,), generator=g)
    elif kind.target is losses.Target.BINARY:
        out, y = torch.rand(6, 1, generator=g), torch.randint(0, 2, (6,), generator=g)
    else:
        out, y = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
    expected = getattr(F, kind.function)(out, y.float().view_as(out) if kind.target is losses.Target.BINARY else y)
    assert torch.equal(TORCH_LOSSES[name].compute(out, y), expected)


@pytest.mark.parametrize("beta", [1.0, 0.05, 3.0])
def test_smooth_l1_with_beta_equals_torchs_and_huber_by_hand(beta):
    g = torch.Generator().manual_seed(1)
    out, y = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    loss = torch_loss(losses.LOSSES["smooth_l1"], beta).compute(out, y)
    assert torch.equal(loss, F.smooth_l1_loss(out, y, beta=beta))
    d = (out - y).abs()  # the formula the registry states, written out
    assert torch.allclose(loss, torch.where(d < beta, 0.5 * d ** 2 / beta, d - 0.5 * beta).mean())
    assert not torch.equal(loss, F.smooth_l1_loss(out, y, beta=beta * 2))  # beta reaches torch


def test_a_probability_loss_refuses_logits():
    with pytest.raises(LossInputError, match=r"loss 'bce' takes probabilities in \[0, 1\].*bce_with_logits"):
        TORCH_LOSSES["bce"].compute(torch.tensor([[2.0], [-1.0]]), torch.tensor([1, 0]))


def test_the_registry_imports_no_torch():
    code = "import sys; import nncompile.runtime.losses; assert 'torch' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
