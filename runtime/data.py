"""Datasets, splits and the checks that run before any training step.

Every dataset yields (input, target) pairs: a float tensor shaped like one sample of the
spec's input, and a class index (an int64 scalar), a per-pixel class mask (int64 H×W), a
float tensor (for mse, smooth_l1), or a dict of these by name, one per output of a multi-task
spec (one_shape: class and box). Anything random (shuffling, splits, augmentation, generated images)
is a function of the run's seed and the sample's index (and epoch), never of a worker's RNG,
so a resumed run sees exactly the data an uninterrupted one would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, Subset

from ..compiler import symbolic
from ..compiler.diagnostics import Diagnostic, SpecError
from ..compiler.ir import Graph
from .config import Loaded, require
from .losses import LOSSES, Target
from .tasks import Task, tasks

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


class ArrayDataset(Dataset):
    """Samples held in memory as two tensors."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]

    def targets(self) -> torch.Tensor:
        return self.y


def xor(size: int | None) -> ArrayDataset:
    """The four XOR points, repeated to `size` samples (default 4)."""
    points = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    labels = torch.tensor([0, 1, 1, 0])
    repeat = math.ceil((size or 4) / 4)
    return ArrayDataset(points.repeat(repeat, 1)[:size or 4], labels.repeat(repeat)[:size or 4])


def digits() -> ArrayDataset:
    """scikit-learn's bundled 8×8 handwritten digits (1,797 images, 10 classes), scaled to [0, 1]."""
    bunch = require("sklearn.datasets", "scikit-learn", "dataset 'digits'").load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # N×1×8×8
    return ArrayDataset(x, torch.tensor(bunch.target, dtype=torch.int64))


def npz(loaded: Loaded) -> ArrayDataset:
    """Arrays `x` (samples) and `y` (targets) from an .npz file."""
    path = _path(loaded)
    if not path.is_file():
        raise loaded.error(f"no such .npz file: {path}", "data", "path")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [k for k in ("x", "y") if k not in arrays]
            if missing:
                raise loaded.error(f"{path} has no array {' or '.join(repr(k) for k in missing)}", "data", "path",
                                   notes=[f"it holds: {', '.join(arrays.files) or 'nothing'}",
                                          "an .npz for training holds `x` (samples) and `y` (targets)"])
            x, y = arrays["x"], arrays["y"]
    except (OSError, ValueError) as e:
        raise loaded.error(f"cannot read {path} as .npz: {e}", "data", "path") from None
    for name, array in (("x", x), ("y", y)):
        if array.ndim == 0 or array.dtype.kind not in "biuf":
            raise loaded.error(f"{path}: {name} is a {array.ndim}-d array of {array.dtype}; x and y are arrays of "
                               "numbers, one sample (target) a row", "data", "path")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            bad = np.flatnonzero(~np.isfinite(array.reshape(len(array), -1)).all(1))
            raise loaded.error(f"{path}: {name} holds NaN or infinite values, in {len(bad):,} sample(s) "
                               f"(the first: sample {bad[0]})", "data", "path")
    if len(x) != len(y):
        raise loaded.error(f"{path}: x has {len(x)} samples but y has {len(y)}", "data", "path")
    y = torch.from_numpy(y)
    return ArrayDataset(torch.from_numpy(x).float(), y if y.is_floating_point() else y.long())


def draw_shape(rng: np.random.Generator, kind: int, yy: np.ndarray, xx: np.ndarray, sizes: tuple[float, float]):
    """The pixels inside one shape of `kind` (1 circle, 2 square, 3 triangle) of radius
    sizes[0]…sizes[1] × the image's shorter side, placed at random wholly inside the image."""
    h, w = yy.shape
    r = rng.uniform(*sizes) * min(h, w)
    cy, cx = rng.uniform(r, h - r), rng.uniform(r, w - r)
    if kind == 1:
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    if kind == 2:
        return (abs(yy - cy) <= r * 0.8) & (abs(xx - cx) <= r * 0.8)
    return (yy >= cy - r) & (yy <= cy + r) & (abs(xx - cx) <= (yy - (cy - r)) / 2)  # apex up: inside both edges


def _fill(image: np.ndarray, inside: np.ndarray, colour: np.ndarray, rng: np.random.Generator) -> None:
    image[:, inside] = colour[:, None] + rng.normal(0, 0.05, (3, int(inside.sum()))).astype(np.float32)


class _Generated(Dataset):
    """`size` images of height × width, image i generated from (seed, i) when it is asked for."""

    def __init__(self, size: int, height: int, width: int, seed: int):
        self.size, self.height, self.width, self.seed = size, height, width, seed

    def __len__(self):
        return self.size

    def _canvas(self, i):
        """Image i's generator, its noisy grey background (3×H×W) and its pixel grid (yy, xx)."""
        rng = np.random.default_rng((self.seed, i))
        image = rng.normal(0.5, 0.1, (3, self.height, self.width)).astype(np.float32)
        return rng, image, *np.mgrid[0:self.height, 0:self.width]


class Shapes(_Generated):
    """Synthetic segmentation: 1–3 filled circles, squares and triangles on a noisy grey
    background; the mask holds 0 (background), 1 (circle), 2 (square), 3 (triangle). Each
    kind has a colour family (reddish, greenish, bluish, jittered), so a small FCN learns the
    set in a minute on a CPU; outlines and overlaps are the hard part. Image i is generated
    from (seed, i) when it is asked for."""

    classes = ("background", "circle", "square", "triangle")
    colours = np.array([[0.0, 0.0, 0.0], [0.85, 0.3, 0.3], [0.3, 0.85, 0.3], [0.3, 0.3, 0.85]], dtype=np.float32)

    def __getitem__(self, i):
        rng, image, yy, xx = self._canvas(i)
        mask = np.zeros((self.height, self.width), dtype=np.int64)
        for _ in range(rng.integers(1, 4)):
            kind = int(rng.integers(1, 4))
            inside = draw_shape(rng, kind, yy, xx, (0.12, 0.25))
            _fill(image, inside, self.colours[kind] + rng.uniform(-0.15, 0.15, 3).astype(np.float32), rng)
            mask[inside] = kind
        return torch.from_numpy(image), torch.from_numpy(mask)

    def label_range(self) -> tuple[int, int]:
        return 0, len(self.classes) - 1


class OneShape(_Generated):
    """Classification + localization: one filled circle, square or triangle per image, of any
    colour (so the class is told by the outline, not the hue) and a size of 0.15–0.4 of the
    image, on the noisy grey background of `Shapes`. Targets by name: `class` (0 circle,
    1 square, 2 triangle) and `box`, the shape's pixels' bounding box (x1, y1, x2, y2) as
    fractions of the width and height (a pixel's right and bottom edges included).
    Image i is generated from (seed, i) when it is asked for."""

    classes = ("circle", "square", "triangle")

    def __getitem__(self, i):
        rng, image, yy, xx = self._canvas(i)
        h, w = self.height, self.width
        label = int(rng.integers(0, len(self.classes)))
        inside = draw_shape(rng, label + 1, yy, xx, (0.15, 0.4))
        colour = rng.uniform(0, 1, 3).astype(np.float32)
        channel = rng.integers(0, 3)  # one channel far from the background's grey, so every shape stands out
        colour[channel] = rng.choice([rng.uniform(0, 0.15), rng.uniform(0.85, 1)])
        _fill(image, inside, colour, rng)
        rows, cols = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
        box = np.array([cols[0] / w, rows[0] / h, (cols[-1] + 1) / w, (rows[-1] + 1) / h], dtype=np.float32)
        return torch.from_numpy(image), {"class": torch.tensor(label), "box": torch.from_numpy(box)}

    def label_range(self, target: str = "class") -> tuple[int, int]:
        return 0, len(self.classes) - 1


class ImageFolder(Dataset):
    """A folder with a sub-folder of images per class (classes in sorted order), read with
    Pillow, resized, scaled to [0, 1], normalised, and (if augment) flipped and shifted at
    random from (seed, epoch, index)."""

    def __init__(self, root: Path, size: tuple[int, int], channels: int, mean, std, augment: bool, seed: int):
        self.classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        self.files = [(f, label) for label, name in enumerate(self.classes)
                      for f in sorted((root / name).iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
        self.size, self.mode = size, "L" if channels == 1 else "RGB"
        self.mean = torch.tensor(mean or [0.0] * channels).view(-1, 1, 1)
        self.std = torch.tensor(std or [1.0] * channels).view(-1, 1, 1)
        self.augment, self.seed, self.epoch = augment, seed, 0

    def __len__(self):
        return len(self.files)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i):
        from PIL import Image  # importable: _image_folder checked

        path, label = self.files[i]
        with Image.open(path) as image:
            image = image.convert(self.mode).resize((self.size[1], self.size[0]), Image.BILINEAR)
            array = np.asarray(image, dtype=np.float32) / 255.0
        x = torch.from_numpy(array.reshape(self.size[0], self.size[1], -1)).permute(2, 0, 1)
        if self.augment:
            x = self._augment(x, np.random.default_rng((self.seed, self.epoch, i)))
        return (x - self.mean) / self.std, torch.tensor(label)

    @staticmethod
    def _augment(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        if rng.random() < 0.5:
            x = x.flip(-1)
        dy, dx = (int(rng.integers(-(s // 10), s // 10 + 1)) for s in x.shape[-2:])
        return torch.roll(x, (dy, dx), dims=(-2, -1))

    def targets(self) -> torch.Tensor:
        return torch.tensor([label for _, label in self.files])


def _path(loaded: Loaded) -> Path:
    if loaded.config.data.path is None:
        raise loaded.error(f"dataset '{loaded.config.data.dataset}' needs `path:`", "data", "dataset")
    return loaded.resolve(loaded.config.data.path)


def _image_folder(loaded: Loaded, graph: Graph, augment: bool) -> ImageFolder:
    image = require("PIL.Image", "Pillow", "dataset 'image_folder'")
    data, root = loaded.config.data, _path(loaded)
    if not root.is_dir():
        raise loaded.error(f"no such folder: {root}", "data", "path")
    shape = _input_type(graph).shape
    if len(shape) != 4:
        raise loaded.error(f"image folders feed N×C×H×W inputs; the spec's input is {_input_type(graph)}",
                           "data", "dataset")
    size = data.image_size or shape[2:]
    if not all(isinstance(d, int) for d in size):
        raise loaded.error(f"the spec's input {_input_type(graph)} leaves the image size open: set data.image_size",
                           "data", "dataset")
    channels = shape[1] if isinstance(shape[1], int) else 3
    if channels not in (1, 3):
        raise loaded.error(f"image folders give 1 (grey) or 3 (RGB) channels; the spec's input has {channels}",
                           "data", "dataset")
    for name, values in (("mean", data.mean), ("std", data.std)):
        if values is not None and len(values) != channels:
            raise loaded.error(f"data.{name} has {len(values)} values for {channels} channels", "data", name)
    dataset = ImageFolder(root, size, channels, data.mean, data.std, augment, loaded.config.run.seed)
    if not dataset.files:
        raise loaded.error(f"{root} has no images in class sub-folders", "data", "path",
                           notes=["expected <path>/<class>/<image> with suffixes " + ", ".join(sorted(IMAGE_SUFFIXES))])
    for file, _ in dataset.files:  # the headers only: cheap, and a bad file is named before training starts
        try:
            image.open(file).close()
        except (OSError, ValueError, image.DecompressionBombError) as e:
            raise loaded.error(f"cannot read {file} as an image: {e}", "data", "path") from None
    return dataset


@dataclass
class Splits:
    train: Dataset
    val: Dataset | None
    test: Dataset | None

    def set_epoch(self, epoch: int) -> None:
        """Augmentation draws depend on the epoch."""
        base = self.train.dataset if isinstance(self.train, Subset) else self.train
        if hasattr(base, "set_epoch"):
            base.set_epoch(epoch)


def load(loaded: Loaded, graph: Graph) -> Splits:
    """The dataset of the config, split and checked against the spec (SpecError if it does
    not fit) before any training starts."""
    data, seed = loaded.config.data, loaded.config.run.seed
    kind = data.dataset
    augmented = None
    if kind == "xor":
        dataset = xor(data.size)
    elif kind == "digits":
        dataset = digits()
    elif kind == "npz":
        dataset = npz(loaded)
    elif kind in ("shapes", "one_shape"):
        height, width = data.image_size or (32, 32)
        dataset = (Shapes if kind == "shapes" else OneShape)(data.size or 2000, height, width, seed)
    else:
        dataset = _image_folder(loaded, graph, augment=False)
        augmented = _image_folder(loaded, graph, augment=True) if data.augment else None
    check(dataset, graph, loaded)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed)).tolist()
    n_test, n_val = int(len(dataset) * data.test_split), int(len(dataset) * data.val_split)
    if len(dataset) - n_test - n_val < 1:
        raise loaded.error(f"{len(dataset)} samples leave none to train on after the splits", "data", "val_split")
    test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    return Splits(Subset(augmented or dataset, train), Subset(dataset, val) if val else None,
                  Subset(dataset, test) if test else None)


def _input_type(graph: Graph):
    return graph.nodes[graph.inputs[0]].type


def _fits(shape: tuple, declared: tuple) -> bool:
    """A sample's shape against a spec type's per-sample dims (a symbol fits any size, 16·h a
    multiple of 16)."""
    return len(shape) == len(declared) and symbolic.admits(declared, shape)


def check(dataset: Dataset, graph: Graph, loaded: Loaded) -> None:
    """Refuses, before training, data that does not fit the spec and the loss."""
    spec_span = graph.nodes[graph.inputs[0]].span if graph.inputs else None
    if len(graph.inputs) != 1:
        error = SpecError(Diagnostic(f"training needs a spec with one input; '{graph.name}' has {len(graph.inputs)}",
                                     spec_span, code="train-io"))
        error.sources = graph.sources
        raise error
    found = tasks(loaded, graph)
    if len(dataset) == 0:
        raise loaded.error("the dataset is empty", "data", "dataset")
    x, y = dataset[0]
    x_type, kind = _input_type(graph), loaded.config.data.dataset
    where = [f"the spec's input '{graph.inputs[0]}' is declared at {spec_span}"] if spec_span else []
    if not _fits(tuple(x.shape), x_type.shape[1:]):
        raise loaded.error(f"dataset '{kind}' gives samples of shape {_dims(x.shape)} but the spec's input "
                           f"'{graph.inputs[0]}' takes {x_type} (one sample: {_dims(x_type.shape[1:])})",
                           "data", "dataset", notes=where, code="data-shape")
    if isinstance(y, dict) and isinstance(loaded.config.train.loss, str):
        raise loaded.error(f"dataset '{kind}' gives a target per output ({', '.join(y)}): give train.loss a loss for "
                           "each, by output name, e.g. {" + ", ".join(f"{name}: …" for name in y) + "}",
                           "train", "loss", code="train-io")
    if not isinstance(y, dict) and len(found) > 1:
        raise loaded.error(f"dataset '{kind}' gives one target, unnamed; the {len(found)} tasks of train.loss need "
                           "one each, named as the spec's outputs", "data", "dataset", code="unknown-output")
    for task in found:
        if isinstance(y, dict) and task.output not in y:
            raise loaded.error(f"dataset '{kind}' has no target for output '{task.output}': its targets are "
                               f"{', '.join(y)} (targets are matched to the spec's outputs by name)",
                               *task.where, key=len(task.where) > 2, code="unknown-output")
        named = task.output if isinstance(y, dict) else None
        _check_target(dataset, y[named] if named else y, named, task, graph, loaded)


def _check_target(dataset: Dataset, y: torch.Tensor, named: str | None, task: Task, graph: Graph,
                  loaded: Loaded) -> None:
    """One task's target (the dataset's target `named`, or its only one) against its output and loss."""
    kind, loss, per_sample = loaded.config.data.dataset, task.loss, task.per_sample
    out_type = graph.nodes[graph.outputs[task.output]].type
    target = LOSSES[loss].target
    if target is Target.VALUES:
        if named and not y.is_floating_point():  # (an unnamed integer target is read as values, as ever)
            raise loaded.error(f"loss '{loss}' compares values; dataset '{kind}' gives class indices for output "
                               f"'{task.output}'", *task.where, code="data-labels")
        if not _fits(tuple(y.shape), per_sample):
            raise loaded.error(f"dataset '{kind}' gives targets of shape {_dims(y.shape)}; loss '{loss}' compares "
                               f"them with the spec's output, {_dims(per_sample)} per sample", "data", "dataset",
                               code="data-shape")
        return
    classes, expected = (per_sample[0], per_sample[1:]) if per_sample else (1, ())
    if not _fits(tuple(y.shape), expected):
        raise loaded.error(f"dataset '{kind}' gives targets of shape {_dims(y.shape)}; with loss '{loss}' the "
                           f"spec's output {out_type} needs {_dims(expected)}", "data", "dataset", code="data-shape")
    if y.is_floating_point():
        raise loaded.error(f"loss '{loss}' needs class indices as targets; dataset '{kind}' gives floats",
                           *task.where, code="data-labels")
    if target is Target.BINARY and classes != 1:
        raise loaded.error(f"loss '{loss}' needs one output value per sample; the spec's output is {out_type}",
                           *task.where, code="data-shape")
    limit, meaning = (2, "one probability") if target is Target.BINARY else (classes, f"{classes} classes")
    low, high = label_range(dataset, named)
    if isinstance(limit, int) and (low < 0 or high >= limit):
        raise loaded.error(f"dataset '{kind}' has labels {low}…{high}, outside 0…{limit - 1} (the spec's output "
                           f"{out_type} holds {meaning})", "data", "dataset", code="data-labels")


def label_range(dataset: Dataset, target: str | None = None) -> tuple[int, int]:
    """The lowest and highest class of the dataset's targets (of the named target, for a
    dataset with several)."""
    if hasattr(dataset, "label_range"):
        return dataset.label_range(target) if target else dataset.label_range()
    targets = dataset.targets()
    return int(targets.min()), int(targets.max())


def _dims(shape) -> str:
    return "×".join(str(d) for d in shape) or "a scalar"


class EpochSampler(Sampler):
    """This process's share of a fresh shuffle each epoch (DistributedSampler's scheme),
    drawn from a generator seeded by (seed, epoch) whose state goes into checkpoints, and
    able to start part-way through an epoch when a run resumes."""

    def __init__(self, size: int, seed: int, shuffle: bool = True, rank: int = 0, world: int = 1):
        self.size, self.seed, self.shuffle, self.rank, self.world = size, seed, shuffle, rank, world
        self.per_rank = math.ceil(size / world)
        self.generator = torch.Generator()
        self.skip = 0
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.load_state_dict(self.state_at(epoch, 0))

    def state_at(self, epoch: int, skip: int) -> dict:
        """The state to start `epoch` after its first `skip` samples (what a checkpoint keeps)."""
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return {"generator": generator.get_state(), "skip": skip}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.skip = state["skip"]

    def __iter__(self):
        state = self.generator.get_state()  # iterating twice gives the same order
        order = torch.randperm(self.size, generator=self.generator).tolist() if self.shuffle else list(range(self.size))
        self.generator.set_state(state)
        order += order[:self.per_rank * self.world - self.size]  # every rank takes as many steps
        return iter(order[self.rank::self.world][self.skip:])

    def __len__(self):
        return self.per_rank - self.skip
