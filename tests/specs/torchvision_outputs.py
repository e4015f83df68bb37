"""The one comparison of a lowered spec with its reference module (torchvision's, or one
written by hand from the paper) given the same weights: the reference's tensors made
telling, its state_dict loaded strictly into ours, then every eval output equal to the
reference's, and the reference's outputs for two samples unlike, so the check can fail."""

from __future__ import annotations

import torch
from torch import nn


def close(ours: torch.Tensor, theirs: torch.Tensor, rel: float) -> bool:
    return ours.shape == theirs.shape and float((ours - theirs).abs().max()) <= rel * float(theirs.abs().max())


def randomise_batchnorm(model: nn.Module, generator: torch.Generator, size=(64, 64)) -> None:
    """torchvision's BN init (scale 1, shift 0, mean 0, variance 1) leaves eval outputs
    hardly depending on the input, which would hide wrong wiring; made-up statistics make
    deep nets blow up. So: running statistics measured on random images, random affine values."""
    batchnorms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if not batchnorms:  # VGG, AlexNet
        return
    for m in batchnorms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: one batch's statistics
    with torch.no_grad():
        model.train()(torch.randn(2, 3, *size, generator=generator))
        for m in batchnorms:
            m.momentum = 0.1
            m.weight.uniform_(0.5, 1.5, generator=generator)
            m.bias.normal_(0, 0.2, generator=generator)


def redraw_zero_parameters(model: nn.Module, generator: torch.Generator) -> None:
    """The parameters that start at zero drawn from N(0, 0.02): ViT's head and class token
    (every output would be 0 otherwise), Swin's biases. Asked for by test_transformers.py's
    networks only, as before; the classic and modern CNNs' checks run on torchvision's own
    zeros (their biases), the batch norms randomised."""
    with torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.normal_(0, 0.02, generator=generator)


def _listed(outputs) -> list[torch.Tensor]:
    """A module's outputs as a list: torchvision's segmentation dict {"out", "aux"}, our tuple."""
    if isinstance(outputs, dict):
        return list(outputs.values())
    return list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]


def assert_gives_its_outputs(theirs: nn.Module, ours: nn.Module, size: tuple[int, int], *, seed: int = 0,
                             redraw_zeros: bool = False, rel: float = 1e-5) -> None:
    """`theirs` prepared (its zero parameters redrawn if asked, its batch norms randomised at
    `size`), its state_dict loaded strictly into `ours`, then on two random images of `size`
    every output of ours within `rel` of theirs (of its largest magnitude), and theirs differing
    between the two images by more than 1%."""
    generator = torch.Generator().manual_seed(seed)
    if redraw_zeros:
        redraw_zero_parameters(theirs, generator)
    randomise_batchnorm(theirs, generator, size)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, *size, generator=generator)
    with torch.no_grad():
        expected, got = _listed(theirs.eval()(x)), _listed(ours.eval()(x))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert close(g, e, rel), (f"differs by {float((g - e).abs().max()):.3g} of {float(e.abs().max()):.3g}"
                                  if g.shape == e.shape else f"{tuple(g.shape)} vs {tuple(e.shape)}")
        assert not close(e[0], e[1], rel=1e-2)  # the two images' outputs differ: the check can fail
