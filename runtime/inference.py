"""Serving an exported model with onnxruntime: a session that picks its execution provider,
and the input/output handling behind `nncompile predict`.

The provider is CUDA when onnxruntime-gpu is installed (`pip install nncompile[gpu]`) and
sees a GPU, else the CPU; `provider="cpu"` or `"cuda"` forces one, and a forced provider
that is not available is an error rather than a silent fallback.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

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


class InferenceSession:
    """An onnxruntime session over a model file, serialized bytes or a ModelProto."""

    def __init__(self, model, provider: str | None = None):
        import onnxruntime as ort

        if hasattr(model, "SerializeToString"):
            model = model.SerializeToString()
        elif isinstance(model, Path):
            model = str(model)
        providers = choose_providers(provider)
        self.session = ort.InferenceSession(model, providers=providers)
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
        return dict(zip(names, self.session.run(names, dict(feeds))))

    def run_batched(self, feeds: Mapping[str, np.ndarray], batch_size: int) -> dict[str, np.ndarray]:
        """run() over slices of at most `batch_size` samples, outputs joined along the batch."""
        total = len(next(iter(feeds.values())))
        parts = [self.run({k: v[i:i + batch_size] for k, v in feeds.items()}) for i in range(0, total, batch_size)]
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


# --- inputs ------------------------------------------------------------------------------

def load_input(paths: list[str | Path], shape: list, normalize: str | None = None) -> np.ndarray:
    """A batch for an input of `shape` (onnxruntime's: ints, or names/None where symbolic)
    from .npy files (each a batch, or one sample without the batch axis) or images (one
    sample each), joined along the batch axis."""
    parts = []
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"no such input file: {path}")
        array = load_image(path, shape, normalize) if path.suffix.lower() in IMAGE_SUFFIXES else np.load(path)
        if array.ndim == len(shape) - 1:
            array = array[None]
        if array.ndim != len(shape) or any(isinstance(d, int) and d != n for d, n in zip(shape[1:], array.shape[1:])):
            raise ValueError(f"{path} holds a {'×'.join(map(str, array.shape))} array; the model takes "
                             f"{'×'.join(map(str, shape))}")
        parts.append(array.astype(np.float32, copy=False))
    return np.concatenate(parts)


def load_image(path: Path, shape: list, normalize: str | None = None) -> np.ndarray:
    """C×H×W in [0, 1] (ImageNet-normalised if asked), resized to the model's H×W when
    fixed; grey or RGB to match the model's channels."""
    from PIL import Image

    if len(shape) != 4:
        raise ValueError(f"an image needs an N×C×H×W input; the model takes {'×'.join(map(str, shape))}")
    channels, height, width = shape[1:]
    image = Image.open(path).convert("L" if channels == 1 else "RGB")
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
