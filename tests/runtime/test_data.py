"""Datasets: what they yield, how they are split and shuffled, and the errors for data that
does not fit the spec (before any training starts)."""

import numpy as np
import pytest
import torch

from nncompile.runtime.data import EpochSampler, OneShape, Shapes, digits, xor


def test_digits_are_sklearns_images_scaled():
    from sklearn.datasets import load_digits

    data = digits()
    x, y = data[5]
    assert len(data) == 1797 and x.shape == (1, 8, 8) and x.max() <= 1.0
    assert torch.equal(x[0] * 16, torch.tensor(load_digits().images[5], dtype=torch.float32))
    assert int(y) == load_digits().target[5]


def test_xor_repeats_the_four_points():
    data = xor(10)
    assert len(data) == 10
    assert [int(data[i][1]) for i in range(4)] == [int(a) ^ int(b) for a, b in data.x[:4].long().tolist()]


def test_shapes_are_reproducible_and_masks_match_colours():
    data = Shapes(8, 32, 32, seed=3)
    (x1, m1), (x2, m2) = data[4], Shapes(8, 32, 32, seed=3)[4]
    assert torch.equal(x1, x2) and torch.equal(m1, m2)
    assert x1.shape == (3, 32, 32) and m1.shape == (32, 32) and m1.dtype == torch.int64
    assert not torch.equal(data[5][1], m1)
    for kind in m1.unique().tolist():  # each class's pixels carry its colour family
        if kind:
            mean = x1[:, m1 == kind].mean(1)
            assert mean.argmax().item() == kind - 1, (kind, mean)


def test_sampler_shares_partition_a_seeded_shuffle():
    shares = [list(EpochSampler(10, seed=1, rank=r, world=3)) for r in range(3)]
    assert all(len(s) == 4 for s in shares)  # padded so every process takes as many steps
    assert set(sum(shares, [])) == set(range(10))
    one = EpochSampler(10, seed=1)
    first = list(one)
    assert list(one) == first and sorted(first) == list(range(10))
    one.set_epoch(1)
    assert list(one) != first
    one.load_state_dict(one.state_at(0, 4))  # resume epoch 0 after 4 samples
    assert list(one) == first[4:] and len(one) == 6


@pytest.fixture
def train_xor(tmp_path, cli, in_repo):
    def run(data: str, *extra, spec="specs/xor.yaml"):
        config = tmp_path / "train.yaml"
        config.write_text(f"run: {{dir: {tmp_path / 'runs'}}}\ndata: {data}\ntrain: {{epochs: 1, loss: bce}}\n")
        return cli("train", spec, "--config", config, "--no-progress", *extra)

    return run


def test_missing_npz_is_located(train_xor, tmp_path):
    result = train_xor("{dataset: npz, path: nothing.npz}")
    assert result.code == 1 and "train.yaml:2:28: error: no such .npz file" in result.err


def test_npz_without_arrays_lists_what_it_holds(train_xor, tmp_path):
    np.savez(tmp_path / "d.npz", inputs=np.zeros((4, 2)))
    result = train_xor("{dataset: npz, path: d.npz}")
    assert result.code == 1 and "has no array 'x' or 'y'" in result.err and "it holds: inputs" in result.err


def test_samples_of_the_wrong_shape_are_refused(train_xor, tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3), np.float32), y=np.zeros(4, np.int64))
    result = train_xor("{dataset: npz, path: d.npz}")
    assert result.code == 1
    assert "gives samples of shape 3 but the spec's input 'x' takes N×2 (one sample: 2)" in result.err
    assert "specs/xor.yaml:6:3" in result.err  # the note points at the spec's input


def test_labels_out_of_range_are_refused(train_xor, tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2), np.float32), y=np.array([0, 1, 2, 1]))
    result = train_xor("{dataset: npz, path: d.npz}")
    assert result.code == 1 and "has labels 0…2, outside 0…1" in result.err


def test_image_folder(tmp_path, write_spec, cli):
    from PIL import Image

    for label, colour in (("dark", 30), ("light", 220)):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (12, 10), colour + i).save(tmp_path / "images" / label / f"{i}.png")
    spec = write_spec("""
        name: tiny
        inputs: {image: [N, 1, 8, 8]}
        layers:
          - flat: flatten
          - fc: {op: linear, out_features: 2}
    """)
    config = tmp_path / "train.yaml"
    config.write_text(f"run: {{dir: {tmp_path / 'runs'}}}\n"
                      "data: {dataset: image_folder, path: images, augment: true, batch_size: 4}\n"
                      "train: {epochs: 3, lr: 0.1}\n")
    result = cli("train", spec, "--config", config, "--no-progress")
    assert result.code == 0, result.err
    from nncompile.runtime.data import ImageFolder

    data = ImageFolder(tmp_path / "images", (8, 8), 1, None, None, augment=False, seed=0)
    x, y = data[7]
    assert data.classes == ["dark", "light"] and x.shape == (1, 8, 8) and int(y) == 1
    assert abs(float(x.mean()) - 221 / 255) < 1e-3


def test_an_empty_image_folder_is_refused(tmp_path, write_spec, cli):
    (tmp_path / "images" / "a").mkdir(parents=True)
    spec = write_spec("name: t\ninputs: {image: [N, 3, 8, 8]}\nlayers: [{f: flatten}]\n")
    config = tmp_path / "train.yaml"
    config.write_text("data: {dataset: image_folder, path: images}\ntrain: {loss: mse, metrics: []}\n")
    result = cli("train", spec, "--config", config)
    assert result.code == 1 and "has no images in class sub-folders" in result.err


def test_an_unreadable_image_is_named_before_training(tmp_path, write_spec, cli):
    (tmp_path / "images" / "a").mkdir(parents=True)
    (tmp_path / "images/a/broken.png").write_bytes(b"not a png")
    spec = write_spec("name: t\ninputs: {image: [N, 3, 8, 8]}\nlayers: [{f: flatten}]\n")
    config = tmp_path / "train.yaml"
    config.write_text("data: {dataset: image_folder, path: images}\ntrain: {loss: mse, metrics: []}\n")
    result = cli("train", spec, "--config", config)
    assert result.code == 1 and "Traceback" not in result.err
    assert f"{config}:1:37: error: cannot read {tmp_path / 'images/a/broken.png'} as an image" in result.err


@pytest.mark.parametrize("x, message", [
    (np.array([[0, 1], [np.nan, 1], [1, np.inf], [1, 1]], np.float32),
     "x holds NaN or infinite values, in 2 sample(s) (the first: sample 1)"),
    (np.array(["a", "b", "c", "d"]), "x is a 1-d array of <U1; x and y are arrays of numbers"),
    (np.array(1.0), "x is a 0-d array of float64"),
])
def test_npz_arrays_that_are_not_finite_numbers_are_located(train_xor, tmp_path, x, message):
    np.savez(tmp_path / "d.npz", x=x, y=np.zeros(4, np.int64))
    result = train_xor("{dataset: npz, path: d.npz}")
    assert result.code == 1 and f"train.yaml:2:28: error: {tmp_path / 'd.npz'}: {message}" in result.err


def test_bce_on_an_output_that_is_not_a_probability_is_located(train_xor, write_spec, tmp_path):
    spec = write_spec("name: lin\ninputs: {x: [N, 2]}\nlayers: [{fc: {op: linear, out_features: 1}}]\n")
    result = train_xor("{dataset: xor}", spec=spec)
    assert result.code == 1
    assert f"{tmp_path / 'train.yaml'}:3:26: error: loss 'bce' takes probabilities in [0, 1], but the spec's output " \
           "ranges over" in result.err and "use loss bce_with_logits [bad-loss]" in result.err


@pytest.mark.parametrize("side, fits", [(24, False), (32, True)])
def test_samples_must_be_the_multiple_the_input_declares(tmp_path, write_spec, cli, side, fits):
    spec = write_spec("""
        name: multiple
        inputs: {image: [N, 1, 16*h, 16*w]}
        layers:
          - pool: {op: maxpool2d, kernel: 16}
          - flat: global_avgpool
          - fc: {op: linear, out_features: 2}
    """)
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 1, side, 48), np.float32), y=np.array([0, 1, 0, 1]))
    config = tmp_path / "train.yaml"
    config.write_text(f"run: {{dir: {tmp_path / 'runs'}}}\ndata: {{dataset: npz, path: {tmp_path / 'd.npz'}}}\n"
                      "train: {epochs: 1}\n")
    result = cli("train", spec, "--config", config, "--no-progress")
    assert result.code == (0 if fits else 1), result.err
    if not fits:
        assert f"gives samples of shape 1×{side}×48 but the spec's input 'image' takes N×1×16·h×16·w" in result.err


def test_one_shape_boxes_hold_the_shape_and_nothing_else():
    data = OneShape(60, 32, 32, seed=4)
    assert torch.equal(data[7][0], OneShape(60, 32, 32, seed=4)[7][0]) and not torch.equal(data[7][0], data[8][0])
    labels = []
    for x, target in (data[i] for i in range(len(data))):
        labels.append(int(target["class"]))
        box = target["box"]
        assert box.dtype == torch.float32 and target["class"].dtype == torch.int64
        x1, y1, x2, y2 = (box * 32).round().long().tolist()  # pixel edges: the boxes are whole pixels
        assert torch.allclose(box * 32, torch.tensor([x1, y1, x2, y2]).float()) and 0 <= x1 < x2 <= 32
        assert 0 <= y1 < y2 <= 32 and x2 - x1 >= 4
        far = (x - 0.5).abs()  # the shape's colour is far from the background's grey in some channel
        channel = far[:, y1:y2, x1:x2].mean((1, 2)).argmax()
        inside, shape = far[channel, y1:y2, x1:x2], far[channel] > 0.25
        assert inside.mean() > 0.15  # a circle fills π/4 of its box, a triangle half
        outside = torch.ones(32, 32, dtype=torch.bool)
        outside[y1:y2, x1:x2] = False
        assert far[channel][outside].mean() < 0.1 if outside.any() else True  # grey noise: E|N(0, 0.1)| = 0.08
        # each edge of the box touches the shape
        assert shape[y1, x1:x2].any() and shape[y2 - 1, x1:x2].any()
        assert shape[y1:y2, x1].any() and shape[y1:y2, x2 - 1].any()
    assert set(labels) == {0, 1, 2}
