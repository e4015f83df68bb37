"""The training config: a YAML file validated by pydantic, every error located.

    run:    {name: digits, seed: 0, checkpoint_every: 50}
    data:   {dataset: digits, batch_size: 64, val_split: 0.1, test_split: 0.2}
    train:  {epochs: 30, optimizer: adam, lr: 0.002, schedule: cosine, warmup_epochs: 1}
    stages: [...]                     # optional: greedy layer-wise pre-training, fine-tuning

Every field is documented in docs/training.md. `--set train.lr=0.01` overrides a value (a
dotted path; list items by index: `stages.0.epochs=2`); a bad value is reported at its
place on the command line. Relative paths (data, decoders) are relative to the config file.
This module imports no torch: a config is checked before anything heavy is loaded.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Strict, Tag, ValidationError

from ..compiler.diagnostics import Diagnostic, Span, SpecError, did_you_mean
from ..compiler.expand import UsageError
from ..compiler.source import SourceCache, YList, YMap, load_file, load_text, span_at
from . import losses

COMMAND_LINE = "<command line>"  # the pseudo-file --set values are located in

# Every number is bounded: it ends in a C integer (seeds, sizes) or in arithmetic that must stay finite
# (Section forbids inf and NaN). Whole numbers are strict: 2.0 and true are not counts.
def _whole(low: int, high: int):
    return Annotated[int, Strict(), Field(ge=low, le=high)]


Seed = _whole(0, 2**32 - 1)  # numpy's SeedSequence takes no negative seed
Count = _whole(0, 2**31 - 1)
PositiveInt = _whole(1, 2**31 - 1)
Threads, Workers = _whole(1, 1024), _whole(0, 1024)
Side = _whole(1, 16_384)  # an image's height or width, in pixels
Samples = _whole(1, 10_000_000)
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]
# a learning rate or a decay factor: torch steps float32 weights with it, so it must be a float32
Rate = Annotated[float, Field(gt=0, le=3.4e38)]
Metric = Literal["accuracy", "top5", "mean_iou", "pixel_accuracy", "box_iou"]
LossName = Literal[losses.NAMES]


def _path_text(text: str) -> str:
    if not text or not text.isprintable():  # the path is printed: in the run's first line, in errors
        raise ValueError("a path is not empty and has no NUL or other control characters")
    return text


def _run_name(text: str) -> str:
    """One folder name, so a run writes only inside run.dir, never over a path it was handed."""
    if text in ("", ".", "..") or {"/", "\\"} & set(text) or not text.isprintable():
        raise ValueError("a run name is one folder name: not empty, not '.' or '..', without '/', '\\', "
                         "NUL or other control characters")
    if len(text.encode("utf-8", "surrogatepass")) > 255:
        raise ValueError("a run name is one folder name, at most 255 bytes long")
    return text


PathText = Annotated[str, AfterValidator(_path_text)]


def _device(text: str) -> str:
    if not re.fullmatch(r"auto|cpu|cuda(:\d{1,4})?", text):
        raise ValueError("a device is auto, cpu, cuda or cuda:N (N the GPU's index)")
    return text


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Run(Section):
    """Where and how a run happens."""

    name: Annotated[str, AfterValidator(_run_name)] | None = Field(
        None, description="the run folder's name under `dir` (one folder name); default: the spec's name")
    dir: PathText = Field("runs", description="the folder runs are kept in (relative to the working directory)")
    seed: Seed = Field(0, description="seeds initialisation, shuffling, splits, augmentation and dropout")
    device: Annotated[str, AfterValidator(_device)] = Field("auto", description="auto: CUDA if present, else CPU")
    bf16: bool = Field(True, description="bfloat16 autocast (on CUDA only)")
    channels_last: bool = Field(False, description="NHWC memory layout for 4-D inputs (faster convs on GPU)")
    compile: bool = Field(False, description="torch.compile the model")
    threads: Threads | None = Field(None, description="CPU threads per process (default: torch's); small "
                                                        "models train fastest on 1, above all on a busy machine")
    checkpoint_every: Count = Field(0, description="also checkpoint every this many steps (0: per epoch only)")


class Data(Section):
    """The dataset and how it is split and batched."""

    dataset: Literal["xor", "npz", "image_folder", "digits", "shapes", "one_shape"]
    path: PathText | None = Field(None, description="npz: the .npz file; image_folder: the folder of class folders")
    size: Samples | None = Field(None, description="xor: samples per epoch (the 4 points repeated); "
                                                   "shapes, one_shape: images generated (default 2000)")
    image_size: tuple[Side, Side] | None = Field(
        None, description="image_folder: resize to H×W (default: the spec input's); shapes, one_shape: H×W "
                          "(default 32×32)")
    mean: list[float] | None = Field(None, description="image_folder: per-channel mean subtracted after scaling "
                                                       "to [0, 1]")
    std: list[Annotated[float, Field(gt=0)]] | None = Field(None, description="image_folder: per-channel std "
                                                                              "divided by")
    augment: bool = Field(False, description="image_folder: random horizontal flips and ±10% shifts while training")
    batch_size: PositiveInt = 32
    val_split: Fraction = Field(0.0, description="fraction held out to validate each epoch and pick best.pt")
    test_split: Fraction = Field(0.0, description="fraction held out until the end, then scored with best.pt")
    workers: Workers = Field(0, description="DataLoader worker processes")


class TaskLoss(Section):
    """One output's part of a multi-task objective."""

    loss: LossName = Field(description=losses.HELP)
    weight: Annotated[float, Field(gt=0, le=3.4e38)] = Field(1.0, description="its factor in the total loss")
    beta: Annotated[float, Field(gt=0, le=3.4e38)] | None = Field(
        None, description="smooth_l1: the distance where the loss turns from quadratic to linear (default 1)")


def _loss_tag(value: Any) -> str:
    return "name" if isinstance(value, str) else "mapping"


# a name, or a mapping; one precise error for a bad value, not one per alternative
OutputLoss = Annotated[Union[Annotated[LossName, Tag("name")], Annotated[TaskLoss, Tag("mapping")]],
                       Discriminator(_loss_tag)]
Loss = Annotated[Union[Annotated[LossName, Tag("name")], Annotated[dict[str, OutputLoss], Tag("mapping")]],
                 Discriminator(_loss_tag)]


class Train(Section):
    """The objective and the optimiser (stages may change epochs and lr)."""

    epochs: PositiveInt = 10
    loss: Loss = Field("cross_entropy", description=f"{losses.HELP}; or a loss per output of the spec, by name: "
                                                    "{output: loss} or {output: {loss:, weight:, beta:}}")
    optimizer: Literal["sgd", "adam", "adamw"] = "adam"
    lr: Rate = 1e-3
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd only")
    weight_decay: Annotated[float, Field(ge=0, le=3.4e38)] = 0.0
    schedule: Literal["constant", "step", "cosine"] = "constant"
    step_size: PositiveInt = Field(10, description="step: epochs between drops of the lr by `gamma`")
    gamma: float = Field(0.1, gt=0, le=1)
    warmup_epochs: float = Field(0.0, ge=0, description="linear warm-up from 0 over this many epochs")
    metrics: list[Metric] = Field(["accuracy"], description="besides the loss; the first picks best.pt")


class Reconstruct(Section):
    """Autoencoder pre-training: rebuild a layer's input from its output through a decoder."""

    reconstruct: str = Field(description="a layer or block instance of the spec")
    decoder: PathText | None = Field(None, description="a decoder spec (its input: the layer's output, its output: "
                                                  "the layer's input); default: one linear map")


def _objective_tag(value: Any) -> str:
    return "name" if isinstance(value, str) else "mapping"


# one precise error for a bad objective, not one per alternative
Objective = Annotated[Union[Annotated[Literal["supervised"], Tag("name")], Annotated[Reconstruct, Tag("mapping")]],
                      Discriminator(_objective_tag)]


class Stage(Section):
    """One phase of a staged run."""

    name: str | None = None
    epochs: PositiveInt | None = Field(None, description="default: train.epochs")
    lr: Rate | None = Field(None, description="default: train.lr")
    train: list[str] | None = Field(None, description="layers or block instances to train; default: all")
    freeze: list[str] = Field([], description="layers or block instances to keep fixed")
    objective: Objective = "supervised"


class TrainConfig(Section):
    """An `nncompile train` config."""

    run: Run = Run()
    data: Data
    train: Train = Train()
    stages: list[Stage] | None = Field(None, min_length=1, description="default: one supervised stage")

    def resolved_stages(self) -> list[Stage]:
        """The stages with their defaults filled in."""
        stages = self.stages or [Stage(name="train")]
        return [s.model_copy(update={"name": s.name or f"stage{i + 1}", "epochs": s.epochs or self.train.epochs,
                                     "lr": s.lr or self.train.lr}) for i, s in enumerate(stages)]


class Loaded:
    """A validated config with the YAML it came from (to locate later errors) and its folder."""

    def __init__(self, config: TrainConfig, root: YMap, path: Path, sources: SourceCache):
        self.config, self.root, self.path, self.sources = config, root, path, sources

    def span(self, *path, of_key: bool = False) -> Span | None:
        return span_at(self.root, path, of_key=of_key)

    def is_set(self, *path) -> bool:
        """Whether the config file (or a --set) gives the value at `path`."""
        node = self.root
        for key in path:
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                return False
        return True

    def resolve(self, relative: str) -> Path:
        return (self.path.parent / relative) if not Path(relative).is_absolute() else Path(relative)

    def error(self, message: str, *path, notes=(), code="bad-config", key: bool = False) -> SpecError:
        """A SpecError located at the config value at `path` (its key if `key`; unlocated without one)."""
        error = SpecError(Diagnostic(message, self.span(*path, of_key=key) if path else None, notes=list(notes),
                                     code=code))
        error.sources = self.sources
        return error


def load(path: str | Path, overrides: dict[str, str] | None = None) -> Loaded:
    """Read, override and validate a config; raises SpecError with located diagnostics."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no such config file: {path}")
    sources = SourceCache()
    root, text = load_file(path, str(path))
    sources.add(str(path), text)
    if not isinstance(root, YMap):
        raise _located([Diagnostic("a training config is a mapping (run:, data:, train:, stages:)",
                                   getattr(root, "span", None), code="bad-config")], sources)
    if overrides:
        # each --set is a line of the pseudo-file, written as the user typed it
        sources.add(COMMAND_LINE, "\n".join(f"--set {k}={v}" for k, v in overrides.items()))
        for line, (key, value) in enumerate(overrides.items(), 1):
            at = len("--set ") + 1
            try:
                _override(root, key, value, key_span=Span(COMMAND_LINE, line, at, len(key)),
                          value_span=Span(COMMAND_LINE, line, at + len(key) + 1, max(1, len(value))))
            except SpecError as e:
                raise _located(e.diagnostics, sources) from None
    try:
        config = TrainConfig.model_validate(root)
    except ValidationError as e:
        raise _located([_diagnostic(error, root) for error in e.errors(include_url=False)], sources) from None
    return Loaded(config, root, path, sources)


def _located(diagnostics: list[Diagnostic], sources: SourceCache) -> SpecError:
    error = SpecError(diagnostics)
    error.sources = sources
    return error


def _diagnostic(error: dict, root: YMap) -> Diagnostic:
    """One pydantic error in the user's words: the key as written (`train.metrics[0]`), at its place."""
    path = _yaml_path(root, error["loc"])
    kind, value = error["type"], error.get("input")
    if kind == "extra_forbidden":
        near = did_you_mean(_dotted(path), [_dotted([*path[:-1], name]) for name in _fields_near(root, path)])
        return Diagnostic(f"unknown key '{_dotted(path)}'{near}", span_at(root, tuple(path), of_key=True),
                          code="unknown-key")
    if kind == "missing":
        where = f" in {_dotted(path)}" if path else ""
        return Diagnostic(f"missing required key '{error['loc'][-1]}'{where}", span_at(root, tuple(path)),
                          code="missing-key")
    message = str(error["ctx"]["error"]) if kind == "value_error" else error["msg"][0].lower() + error["msg"][1:]
    if kind in _BOUNDS:  # pydantic writes 3.4e38 out in 39 digits
        key, words = _BOUNDS[kind]
        message = f"input should be {words} {_number(error['ctx'][key])}"
    return Diagnostic(f"{_dotted(path) or 'the config'}: {message}, got {_shown(value)}", span_at(root, tuple(path)),
                      code="bad-config")


_BOUNDS = {"greater_than": ("gt", "greater than"), "greater_than_equal": ("ge", "greater than or equal to"),
           "less_than": ("lt", "less than"), "less_than_equal": ("le", "less than or equal to")}


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _yaml_path(root: Any, loc: tuple) -> list:
    """The keys and indices of pydantic's loc that exist in the YAML (union tags are skipped)."""
    node, path = root, []
    for part in loc:
        if isinstance(node, (YMap, YList)):
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                continue
            path.append(part)
    return path


def _dotted(path: list) -> str:
    """['train', 'metrics', 0] -> 'train.metrics[0]'"""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _override(root: YMap, dotted: str, text: str, *, key_span: Span, value_span: Span) -> None:
    """Sets root[a][b]... = the YAML value of text, remembering the spans as its place."""
    value = _parsed(text, value_span)
    *parents, last = dotted.split(".")
    node: Any = root
    for i, part in enumerate(parents):
        key = _key(node, part, dotted)
        if isinstance(node, YMap) and key not in node:
            index = (parents + [last])[i + 1]
            if index.isdigit():
                raise UsageError(f"--set {dotted}: the config has no list '{'.'.join(parents[:i + 1])}' "
                                 f"to set item {index} of")
            child = YMap()
            child.span, child.key_spans, child.value_spans = key_span, {}, {}
            node[key], node.key_spans[key], node.value_spans[key] = child, key_span, key_span
        node = node[key]
    key = _key(node, last, dotted)
    node[key] = value
    if isinstance(node, YMap):
        node.key_spans[key], node.value_spans[key] = key_span, value_span
    else:
        node.value_spans[key] = value_span


def _parsed(text: str, at: Span) -> Any:
    """The YAML value of a --set value (the text itself if it is not YAML), read as a config
    file is (so a bomb or a cycle is refused), each part located where it stands on the
    command line."""
    if not text.strip():
        return ""
    try:
        value = load_text(text, COMMAND_LINE)
    except SpecError as e:
        if all(d.code == "yaml-syntax" for d in e.diagnostics):
            return text  # a name with a colon, say
        for d in e.diagnostics:
            d.span = _moved(d.span, at)
        raise
    _relocate(value, at, set())
    return value


def _moved(span: Span | None, at: Span) -> Span:
    """A span in a --set value's own text, moved to where the value stands (at)."""
    return at if span is None or span.line != 1 else at._replace(col=at.col + span.col - 1, width=span.width)


def _relocate(value: Any, at: Span, seen: set[int]) -> None:
    if not isinstance(value, (YMap, YList)) or id(value) in seen:
        return  # a scalar, or a node an alias shares (moved once)
    seen.add(id(value))
    value.span = _moved(value.span, at)
    if isinstance(value, YMap):
        value.key_spans = {k: _moved(span, at) for k, span in value.key_spans.items()}
        value.value_spans = {k: _moved(span, at) for k, span in value.value_spans.items()}
    else:
        value.value_spans = [_moved(span, at) for span in value.value_spans]
    for child in value.values() if isinstance(value, YMap) else value:
        _relocate(child, at, seen)


def _key(node: Any, part: str, dotted: str):
    if isinstance(node, YList):
        if not part.isdigit() or int(part) >= len(node):
            raise UsageError(f"--set {dotted}: '{part}' is not an index of a list of {len(node)}")
        return int(part)
    if not isinstance(node, YMap):
        raise UsageError(f"--set {dotted}: '{part}' is inside a value that is not a mapping")
    return part


def _fields_near(root: Any, path: list) -> list[str]:
    """The keys of the config model that holds path[-1] (for 'did you mean')."""
    model: Any = TrainConfig
    for part in path[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        model = next((a for a in _members(annotation) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return []
    return list(model.model_fields)


def _members(annotation) -> list:
    """The classes inside Optional[...], list[...], Union[...]."""
    args = getattr(annotation, "__args__", None)
    return [annotation] if not args else [m for a in args for m in _members(a)]


def require(module: str, package: str, needed_by: str):
    """Imports an optional dependency of training, or says which package to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(f"{needed_by} needs {package}, which is not installed: "
                         "pip install 'nncompile[train]'") from None


def is_config_key(name: str) -> bool:
    """`--set train.lr=…` sets the config; `--set num_classes=…` (no dot) a spec parameter."""
    return "." in name  # a spec parameter's name has no dot


def process_batch(loaded: Loaded, world: int) -> int:
    """data.batch_size is the global batch, split evenly among the processes: a run on N
    processes steps as one process with that batch would, so the lr needs no scaling."""
    batch_size = loaded.config.data.batch_size
    if batch_size % world:
        raise loaded.error(f"data.batch_size {batch_size} is the global batch, split among {world} processes: "
                           f"make it a multiple of {world}", "data", "batch_size", code="batch-split")
    return batch_size // world
