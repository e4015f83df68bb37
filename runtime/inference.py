"""Serving an exported model with onnxruntime: a session that picks its execution provider,
and the input/output handling behind `nncompile predict`.

The provider is CUDA when onnxruntime-gpu is installed (`pip install nncompile[gpu]`) and
sees a GPU, else the CPU; `provider="cpu"` or `"cuda"` forces one, and a forced provider
that is not available is an error rather than a silent fallback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..compiler import symbolic

PROVIDERS = {"cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


class ProviderUnavailable(RuntimeError):
    """A forced execution provider that this onnxruntime cannot use.

    >>> InferenceSession("model.onnx", provider="cuda")   # with the CPU-only onnxruntime
    ProviderUnavailable: provider 'cuda' (CUDAExecutionProvider) is not available ..."""


def choose_providers(provider: str | None = None, available: list[str] | None = None) -> list[str]:
    """onnxruntime's provider list: the forced one, or CUDA-then-CPU when CUDA is there."""
    import onnxruntime as ort

    available = ort.get_available_providers() if available is None else available
    if provider is None:
        return [PROVIDERS["cuda"], PROVIDERS["cpu"]] if PROVIDERS["cuda"] in available else [PROVIDERS["cpu"]]
    wanted = PROVIDERS.get(provider.lower(), provider)
    if wanted not in available:
        hint = " (install onnxruntime-gpu: pip install nncompile[gpu])" if wanted == PROVIDERS["cuda"] else ""
        raise ProviderUnavailable(f"provider '{provider}' ({wanted}) is not available{hint}; "
                                  f"this onnxruntime has {', '.join(available)}")
    return [wanted]


class ModelError(ValueError):
    """A model file onnxruntime cannot load: not ONNX at all, or a graph it cannot run."""


def _first_line(error: Exception) -> str:
    """onnxruntime's message without its `[ONNXRuntimeError] : 2 : INVALID_ARGUMENT :` prefix."""
    text = str(error).strip()
    text = text.split("failed:", 1)[-1] if "failed:" in text else text.rsplit(" : ", 1)[-1]
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def _load_failure(model, error: Exception) -> str:
    name = model if isinstance(model, str) else "the model"
    reason = _first_line(error)
    if type(error).__name__ == "InvalidProtobuf" or "No graph was found" in reason:
        return f"not an ONNX model: {name} (onnxruntime cannot parse it: {reason})"
    return f"onnxruntime cannot load {name}: {reason}"


class InferenceSession:
    """An onnxruntime session over a model file, serialized bytes or a ModelProto."""

    def __init__(self, model, provider: str | None = None):
        import onnxruntime as ort

        if hasattr(model, "SerializeToString"):
            model = model.SerializeToString()
        elif isinstance(model, Path):
            model = str(model)
        providers = choose_providers(provider)
        try:
            self.session = ort.InferenceSession(model, providers=providers)
        except Exception as e:  # onnxruntime's error classes (InvalidProtobuf, Fail, …) share no base
            raise ModelError(_load_failure(model, e)) from None
        if provider is not None and self.session.get_providers()[0] != providers[0]:
            # onnxruntime falls back to the CPU with only a log line when CUDA fails to start
            raise ProviderUnavailable(f"provider '{provider}' failed to start (no usable GPU?)")
        self.inputs = self.session.get_inputs()
        self.outputs = self.session.get_outputs()

    @property
    def provider(self) -> str:
        return self.session.get_providers()[0]

    def run(self, feeds: Mapping[str, np.ndarray] | np.ndarray | list) -> dict[str, np.ndarray]:
        """Outputs by name; `feeds` by input name, or in input order (one array for one input)."""
        if isinstance(feeds, np.ndarray):
            feeds = [feeds]
        if not isinstance(feeds, Mapping):
            feeds = dict(zip((i.name for i in self.inputs), feeds))
        names = [o.name for o in self.outputs]
        try:
            return dict(zip(names, self.session.run(names, dict(feeds))))
        except Exception as e:  # onnxruntime's own classes: an input of another type, a failing op
            raise ModelError(f"onnxruntime cannot run the model: {_first_line(e)}") from None

    def run_batched(self, feeds: Mapping[str, np.ndarray], batch_size: int) -> dict[str, np.ndarray]:
        """run() over slices of at most `batch_size` samples, outputs joined along the batch."""
        total = len(next(iter(feeds.values())))
        parts = [self.run({k: v[i:i + batch_size] for k, v in feeds.items()}) for i in range(0, total, batch_size)]
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


# --- inputs ------------------------------------------------------------------------------

def load_input(paths: list[str | Path], shape: list, normalize: str | None = None, name: str = "input") -> np.ndarray:
    """A batch for the input `name` of `shape` (onnxruntime's: ints, or names/None where
    symbolic) from .npy files (each a batch, or one sample without the batch axis) or images
    (one sample each), joined along the batch axis. Anything else is a ValueError naming
    the file: a missing file or a directory, an array that is not numbers or not of the
    input's shape, no samples, NaN or infinite values."""
    parts = []
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is a directory, not an input file" if path.is_dir()
                                    else f"no such input file: {path}")
        array = load_image(path, shape, normalize) if path.suffix.lower() in IMAGE_SUFFIXES else _load_array(path)
        if array.ndim == len(shape) - 1 and array.ndim > 0:
            array = array[None]
        wanted = "×".join(map(str, shape))
        declared = [symbolic.parse(d) if isinstance(d, str) else d for d in shape[1:]]  # 16·h: a multiple of 16
        if array.ndim != len(shape) or not symbolic.admits(declared, array.shape[1:]):
            held = "a single number (a 0-d array)" if array.ndim == 0 else f"a {'×'.join(map(str, array.shape))} array"
            raise ValueError(f"{path} holds {held}; the model's input '{name}' takes {wanted}")
        if len(array) == 0:
            raise ValueError(f"{path} holds no samples (a {'×'.join(map(str, array.shape))} array); "
                             f"the model's input '{name}' takes {wanted}")
        with np.errstate(over="ignore"):  # a float64 beyond float32's range becomes inf, refused next
            parts.append(array.astype(np.float32, copy=False))
        if not np.isfinite(parts[-1]).all():
            bad = int((~np.isfinite(parts[-1])).sum())
            raise ValueError(f"{path} holds {bad:,} NaN or infinite value{'s' * (bad != 1)}; the model's outputs "
                             "would be meaningless")
    return np.concatenate(parts)


def _load_array(path: Path) -> np.ndarray:
    """A .npy file's array of numbers (booleans, integers or floats); never unpickles."""
    try:
        # mapped, not read: a header claiming more than the file holds is refused here, before
        # numpy allocates what it claims (a 40-byte file can claim 745 GiB)
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path} is not a .npy array ({e})") from None
    if not isinstance(array, np.ndarray):  # an .npz archive
        array.close()
        raise ValueError(f"{path} is an .npz archive: give each input as a .npy array")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{path} holds {array.dtype} values; the model takes numbers (float32)")
    return array


def load_image(path: Path, shape: list, normalize: str | None = None) -> np.ndarray:
    """C×H×W in [0, 1] (ImageNet-normalised if asked), resized to the model's H×W when
    fixed; grey or RGB to match the model's channels."""
    try:
        from PIL import Image
    except ModuleNotFoundError:
        raise ValueError(f"reading images ({path}) needs Pillow: pip install 'nncompile[train]'") from None
    if len(shape) != 4:
        raise ValueError(f"an image needs an N×C×H×W input; the model takes {'×'.join(map(str, shape))}")
    channels, height, width = shape[1:]
    try:
        image = Image.open(path).convert("L" if channels == 1 else "RGB")
    except (OSError, Image.DecompressionBombError) as e:  # not an image, or a truncated one
        raise ValueError(f"cannot read the image {path}: {e}") from None
    if isinstance(height, int) and isinstance(width, int) and image.size != (width, height):
        image = image.resize((width, height), Image.BILINEAR)
    array = np.asarray(image, dtype=np.float32) / 255.0
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    if normalize == "imagenet":
        if array.shape[0] != 3:
            raise ValueError("ImageNet normalisation needs 3 channels")
        array = (array - np.array(IMAGENET_MEAN, np.float32)[:, None, None]) / np.array(IMAGENET_STD, np.float32)[:, None, None]
    return array


# --- outputs -------------------------------------------------------------------------------

def top_k(logits: np.ndarray, k: int, labels: list[str] | None = None) -> list[list[dict]]:
    """Per sample, the k best classes of an N×classes output with their softmax probability."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    best = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return [[{"class": int(c), **({"label": labels[c]} if labels and c < len(labels) else {}),
              "score": float(row[c]), "probability": float(p[c])} for c in classes]
            for row, p, classes in zip(logits, probs, best)]


# ops that squash each value on its own (a box's sigmoid): what they make are values, not class scores
VALUE_OPS = {"Sigmoid", "HardSigmoid", "Tanh", "Clip"}


def class_outputs(model: str | Path, outputs: dict[str, np.ndarray]) -> set[str]:
    """The 2-D outputs that are class scores, by the op computing each; without the onnx
    package (predict needs only onnxruntime), every 2-D output."""
    two_d = {name for name, y in outputs.items() if y.ndim == 2}
    try:
        import onnx
    except ImportError:
        return two_d
    graph = onnx.load(str(model), load_external_data=False).graph
    made_by = {out: node.op_type for node in graph.node for out in node.output}
    return {name for name in two_d if made_by.get(name) not in VALUE_OPS}


def predictions_json(model, provider: str, outputs: dict[str, np.ndarray], k: int,
                     labels: list[str] | None = None, classes: set[str] | None = None) -> tuple[str, int]:
    """`predict`'s JSON, and how many output values were NaN or ±inf: per output its shape,
    and the top k classes per sample of a class output (`classes`; default: every N×classes
    output), else the values. NaN and ±inf
    are written as null: strict JSON has neither, and a parser that meets a bare NaN rejects
    the whole file."""
    result = {"model": str(model), "provider": provider, "outputs": {
        name: {"shape": list(y.shape), **({"top_k": top_k(y, k, labels)} if name in (classes if classes is not None else outputs)
                                       and y.ndim == 2 else {"values": y.tolist()})}
        for name, y in outputs.items()}}
    non_finite = sum(int((~np.isfinite(y)).sum()) for y in outputs.values())
    return json.dumps(finite_or_null(result), indent=2, allow_nan=False) + "\n", non_finite


def check_output_format(path: Path | None, outputs: list[str]) -> None:
    """A ValueError for `-o FILE.npy` of a model with several outputs: a .npy holds one array."""
    if path is not None and path.suffix.lower() == ".npy" and len(outputs) > 1:
        raise ValueError(f"the model has {len(outputs)} outputs ({', '.join(outputs)}) and a .npy file holds one "
                         f"array: write {path.with_suffix('.npz')} (an array per output, by its name) or "
                         f"{path.with_suffix('.json')}")


def write_predictions(path: Path, outputs: dict[str, np.ndarray], text: str | None = None) -> None:
    """Atomically: `text` (the JSON), else the one output as .npy, or every output as .npz,
    each array named as its output (numpy.load(path)["box"])."""
    from ..compiler.atomic import atomic_path, write_text

    if text is not None:
        write_text(path, text)
        return
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        if path.suffix.lower() == ".npy":
            (array,) = outputs.values()
            np.save(f, array)
        else:
            _savez(f, outputs)


def _savez(file, arrays: dict[str, np.ndarray]) -> None:
    """numpy.savez's archive (NAME.npy members, stored), without its keyword arguments: an
    output may be named `file` or `allow_pickle`."""
    import zipfile

    with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def finite_or_null(value):
    """`value` (dicts, lists, numbers) with NaN and ±inf as None: strict JSON has no NaN."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_null(v) for v in value]
    return value


def read_labels(path: str | Path, classes: int) -> list[str]:
    """Class names, one a line (trailing blank lines ignored), at least one per class."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is a directory, not a labels file" if path.is_dir()
                                else f"no such labels file: {path}")
    try:
        labels = path.read_text(encoding="utf-8").rstrip("\n").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text: give class names, one a line") from None
    if len(labels) < classes:
        raise ValueError(f"{path} names {len(labels)} classes, the model's output has {classes}: "
                         "give one name a line, for every class")
    return labels
