"""floor-mismatch: sizes that a layer joins and that would agree for every multiple of some
k are reported as the floor that parted them, at the joining layer, naming the flooring
layer and the input shape to write; the k it names is checked against torch's own sizes."""

import re

import pytest
import torch
from torch import nn

from nncompile.compiler import analyse

UNET_SKIP = """
    inputs: {image: [N, 3, SIDE, SIDE]}
    layers:
      - stem: {op: conv2d, out_channels: 8, kernel: 3, padding: 1}
      - down1: {op: maxpool2d, kernel: 2}
      - down2: {op: maxpool2d, kernel: 2}
      - down3: {op: maxpool2d, kernel: 2}
      - down4: {op: maxpool2d, kernel: 2}
      - up: {op: conv_transpose2d, out_channels: 8, kernel: 2, stride: 2}
      - skip: {op: concat, in: [down3, up]}
    """
FPN_TOP_DOWN = """
    inputs: {image: [N, 3, SIDE, SIDE]}
    layers:
      - conv1: {op: conv2d, out_channels: 8, kernel: 7, stride: 2, padding: 3}
      - maxpool: {op: maxpool2d, kernel: 3, stride: 2, padding: 1}
      - layer2: {op: conv2d, out_channels: 8, kernel: 3, stride: 2, padding: 1}
      - layer3: {op: conv2d, out_channels: 8, kernel: 3, stride: 2, padding: 1}
      - layer4: {op: conv2d, out_channels: 8, kernel: 3, stride: 2, padding: 1}
      - top: {op: upsample, scale_factor: 2}
      - merge: {op: add, in: [top, layer3]}
    """


def _torch_sizes(spec: str, side: int) -> tuple[int, int]:
    """The joined maps' heights, as torch's own layers make them from a side×side image."""
    if spec is UNET_SKIP:
        down3 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), *(nn.MaxPool2d(2) for _ in range(3)))
        up = nn.Sequential(nn.MaxPool2d(2), nn.ConvTranspose2d(8, 8, 2, stride=2))
    else:
        down3 = nn.Sequential(nn.Conv2d(3, 8, 7, 2, 3), nn.MaxPool2d(3, 2, 1), nn.Conv2d(8, 8, 3, 2, 1),
                              nn.Conv2d(8, 8, 3, 2, 1))
        up = nn.Sequential(nn.Conv2d(8, 8, 3, 2, 1), nn.Upsample(scale_factor=2))
    with torch.no_grad():
        skip = down3(torch.zeros(1, 3, side, side))
        joined = skip.shape[2], up(skip).shape[2]
    return joined if spec is UNET_SKIP else joined[::-1]  # in the order the layer joins them


@pytest.mark.parametrize("spec, k, layer, line", [(UNET_SKIP, 16, "down4", 7), (FPN_TOP_DOWN, 32, "layer4", 7)],
                         ids=["unet-skip", "fpn-top-down"])
def test_the_floor_and_the_multiple_are_named_and_are_torchs(write_spec, spec, k, layer, line):
    graph = analyse(write_spec(spec.replace("SIDE", "H")))
    [error] = graph.errors
    assert error.code == "floor-mismatch" and error.span.line == 9  # the joining layer, the last
    assert f"the {graph.nodes[layer].op} {layer} (line {line}) floors" in error.message
    example = re.search(r"so they differ for some H \(H = (\d+): (\d+) vs (\d+)\) and agree for every multiple of "
                        rf"{k}$", error.message)
    assert f"declare H a multiple of {k}: write image as [N, 3, {k}*h, {k}*h] (h = H/{k})" in error.notes
    # torch: the joined sizes differ at the example, agree at every multiple of k, and k is the least such
    side, *sizes = map(int, example.groups())
    assert _torch_sizes(spec, side) == tuple(sizes) and sizes[0] != sizes[1]
    assert all(len(set(_torch_sizes(spec, k * u))) == 1 for u in range(1, 6))
    for smaller in (d for d in range(1, k) if k % d == 0):
        assert any(len(set(_torch_sizes(spec, smaller * u))) > 1 for u in range(max(1, k // smaller), 6 * k // smaller))
    assert analyse(write_spec(spec.replace("SIDE", f"{k}*h"))).errors == []


def test_a_multiple_too_small_asks_for_a_larger_one(write_spec):
    graph = analyse(write_spec(UNET_SKIP.replace("SIDE", "8*h")))
    [error] = graph.errors
    assert error.code == "floor-mismatch" and "h vs 2·⌊h/2⌋" in error.message
    assert "declare h a multiple of 2: write image as [N, 3, 16*h, 16*h]" in error.notes


def test_sizes_no_multiple_reconciles_stay_a_plain_mismatch(write_spec):
    graph = analyse(write_spec("""
        inputs: {x: [N, 8, H, W]}
        layers:
          - conv: {op: conv2d, out_channels: 8, kernel: 3}
          - add: {op: add, in: [conv, x]}
        """))
    assert [e.code for e in graph.errors] == ["shape-mismatch"]  # H−2 vs H: no floor to blame


def test_the_unets_skip_names_its_fourth_pool(in_repo):
    graph = analyse("specs/unet.yaml", {"height": "H", "width": "W"})
    [error] = graph.errors
    assert (error.code, error.span.line) == ("floor-mismatch", 49)  # up1's cat, in the block `up`
    assert "the maxpool2d down4.maxpool_conv.0 (line 36) floors ⌊H/8⌋ to ⌊H/16⌋" in error.message
    assert "declare H and W multiples of 16: write image as [N, 3, 16*h, 16*w] (h = H/16, w = W/16)" in error.notes


def test_concrete_sizes_name_the_rounding_on_one_side_only(in_repo):
    graph = analyse("specs/unet.yaml", {"height": 72, "width": 64})  # 72/8 = 9, which the fourth pool floors
    [error] = graph.errors
    assert error.code == "shape-mismatch" and "N×512×9×8, 'up1.up' N×512×8×8" in error.message
    assert error.notes[-1] == "down4.maxpool_conv.0 rounds: H: (9 − 2 + 2·0)/2 + 1 = 4.5 → 4 (floor)"
    with torch.no_grad():
        assert nn.MaxPool2d(2)(torch.zeros(1, 1, 9, 8)).shape[2:] == (4, 4)


def test_a_rounding_upstream_of_both_sides_is_not_blamed(write_spec):
    graph = analyse(write_spec("""
        inputs: {x: [N, 8, 9, 9]}
        layers:
          - pool: {op: maxpool2d, kernel: 2}
          - conv: {op: conv2d, out_channels: 8, kernel: 3}
          - add: {op: add, in: [conv, pool]}
        """))
    [error] = graph.errors
    assert not any("rounds" in note for note in error.notes)  # pool's floor feeds both: not the cause
