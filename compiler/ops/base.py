"""The op contract and registry.

An op is a class registered where it is defined (`@register`). It owns everything the
compiler knows about it: its attribute model (typed, with defaults; the docstring is its
documentation), its shape rule, its parameters and buffers, its MAC count, its
receptive-field step, its diagram label, and its torch and ONNX lowerings. Passes and
backends are generic walkers that ask the registry; nothing outside ops/ branches on an
op's name.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Annotated, Any, Callable, ClassVar, NamedTuple

from ..records import BeforeValidator, ConfigDict, Field, Record

from .. import symbolic
from ..ir import Coverage, Dim, TensorType

REGISTRY: dict[str, "Op"] = {}


def register(cls: type["Op"]) -> type["Op"]:
    if cls.name in REGISTRY:
        raise RuntimeError(f"op '{cls.name}' registered twice")
    REGISTRY[cls.name] = cls()
    return cls


class ShapeError(Exception):
    """An op's inputs or attributes do not fit; the pass adds the layer's location.

    `attr` names the attribute to point at (else the layer's name is pointed at)."""

    def __init__(self, message: str, *, attr: str | None = None, notes: list[str] | None = None):
        super().__init__(message)
        self.message, self.attr, self.notes = message, attr, notes or []


class InferLog:
    """What an op's shape rule explains while it runs: arithmetic lines and notes."""

    __slots__ = ("input_names", "strict", "producer_shape", "arithmetic", "notes")  # one per layer

    def __init__(self, input_names: list[str], strict: bool = False, producer_shape: tuple | None = None):
        self.input_names = input_names
        self.strict = strict
        self.producer_shape = producer_shape  # per-sample shape that fed the first input
        self.arithmetic: list[str] = []
        self.notes: list[str] = []


# --- attribute types ---------------------------------------------------------------

def _pair(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, list):
        return tuple(value)
    return value


MAX_SIZE = 2**40  # any size or count: keeps every product of sizes exact and printable
PositiveInt = Annotated[int, Field(ge=1, le=MAX_SIZE)]
NonNegativeInt = Annotated[int, Field(ge=0, le=MAX_SIZE)]
# a pair is written as one number for both axes (kernel: 3) or as [height, width]; the schema
# offers both, as the validator takes both
Pair = Annotated[tuple[PositiveInt, PositiveInt],
                 BeforeValidator(_pair, json_schema_input_type=PositiveInt | tuple[PositiveInt, PositiveInt])]
NonNegativePair = Annotated[tuple[NonNegativeInt, NonNegativeInt],
                            BeforeValidator(_pair, json_schema_input_type=NonNegativeInt | tuple[NonNegativeInt,
                                                                                                 NonNegativeInt])]


class Attrs(Record):
    """Base of every op's attributes: strict types, no unknown keys, immutable."""

    # a record's validator is compiled on first use, so `build` pays only for the ops a spec uses
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class NoAttrs(Attrs):
    pass


# --- torch lowering, as data ------------------------------------------------------

class TorchModule(NamedTuple):
    """Lowered to a submodule, `nn.Conv2d(3, 64, kernel_size=(3, 3))`: its class and its
    arguments as plain Python values. A class without `nn.` is a helper of
    backends/torch_helpers.py (emitted into standalone source with the model);
    `named` passes the layer's qualified name as `layer=` (for its error messages); `call`
    is how forward calls it where that is not `module(inputs…)`: a template over `{m}`, the
    submodule, and the inputs `{0}`, `{1}`, … (nn.MultiheadAttention returns a pair)."""

    cls: str
    args: tuple = ()
    kwargs: dict = MappingProxyType({})  # (read only: one empty mapping for every module given none)
    named: bool = False
    call: str | None = None


class TorchExpr(NamedTuple):
    """Lowered to an expression over the inputs' variables: `torch.cat([{0}, {1}], dim=1)`
    (`{i}` is input i; `torch`, `nn` and `F` = torch.nn.functional are in scope)."""

    template: str


class TorchParameter(NamedTuple):
    """Lowered to an nn.Parameter of `shape` registered at the layer's own name (zeros until
    initialised), used through `template`: `{p}` is the parameter, `{0}` … the inputs."""

    shape: tuple[int, ...]
    template: str = "{p}"


def inputs_joined(inputs: list, separator: str) -> str:
    """'{0} + {1} + {2}' for three inputs and separator ' + '."""
    return separator.join(f"{{{i}}}" for i in range(len(inputs)))


# --- the contract ------------------------------------------------------------------

class Op:
    name: ClassVar[str]
    family: ClassVar[str]  # groups ops for colours and docs: conv, pool, norm, activation, ...
    Attrs: ClassVar[type[Attrs]] = NoAttrs
    arity: ClassVar[tuple[int, int | None]] = (1, 1)  # (min, max) inputs; None: any number
    integer_inputs: ClassVar[tuple[int, ...]] = ()  # inputs that may hold integers (switches); others are float
    params_are: ClassVar[tuple[str, ...]] = ()  # names of its parameters, in torch's order
    # the parameter that is the layer itself, its state_dict key the layer's name (ops/parameter.py)
    self_param: ClassVar[str | None] = None
    # PyTorch's own initial value of each parameter and buffer, for backends without torch
    # (backends/weights.py): "fan_in_uniform" (nn.Linear's and nn.Conv's U(±1/√fan_in)),
    # "ones" or "zeros", a constant (nn.PReLU's 0.25), or a function of the attributes giving
    # the values of a constant buffer (Swin's relative_position_index)
    default_init: ClassVar[dict[str, str | float | Callable[[Any], Any]]] = {}
    # How the slides write this op's backward step, for `nncompile explain`: the gradient of
    # the input ("x") and of each parameter, in terms of the input x, the output y and
    # δ = ∂L/∂y; empty: explain writes the vector-Jacobian product Jᵀδ. An elementwise op
    # also names its derivative ("σ'(x) = σ(x)(1 − σ(x))"), whose values explain computes.
    chain_rule: ClassVar[dict[str, str]] = {}
    derivative: ClassVar[str | None] = None
    # In-place activations (backends/torch_inplace.py): its torch module takes inplace=True
    # and its backward reads only its output, so it may overwrite its input (relu, relu6)
    overwrites_input: ClassVar[bool] = False

    @property
    def doc(self) -> str:
        return (self.__doc__ or "").strip()

    def infer(self, a: Any, inputs: list[TensorType], log: InferLog) -> TensorType:
        """The output type; raise ShapeError when the inputs do not fit."""
        raise NotImplementedError

    def outputs(self, a: Any) -> int:
        """How many outputs the layer has. A layer `parts` with several is expanded into one
        node per output, `parts.0`, `parts.1`, …, each this op with its attribute `index`
        set to k (ops/index.py's chunk and split)."""
        return 1

    def output_overwritable(self, inputs: int) -> bool:
        """Whether a following activation may overwrite this op's output, given its number of
        inputs: the output is a fresh tensor (no view or alias of an input) that its own
        backward never reads (a conv keeps its input and weight, a norm its input and
        statistics). backends/torch_inplace.py."""
        return False

    def param_shapes(self, a: Any, inputs: list[TensorType], out: TensorType) -> dict[str, tuple[int, ...]]:
        return {}

    def buffer_shapes(self, a: Any, inputs: list[TensorType], out: TensorType) -> dict[str, tuple[int, ...]]:
        return {}

    def macs(self, a: Any, inputs: list[TensorType], out: TensorType) -> int | None:
        """Multiply-accumulates per sample of convolutions and matrix products (0 for other
        ops, as torchvision counts); None when a symbolic size leaves it unknown."""
        return 0

    def receptive(self, a: Any, inputs: list[TensorType]
                  ) -> tuple[tuple[int, int], tuple[float, float]] | Coverage | None:
        """This op's step of the receptive-field recursion.

        (kernel, stride) per spatial axis for a sliding window (an upsampling op's stride is
        a fraction), GLOBAL when every output sees the whole input, None when each output
        sees exactly its input position (elementwise ops)."""
        return None

    def sample_input(self, a: Any, index: int, shapes: list[tuple[int, ...]], rng) -> Any:
        """Values for a graph input this op reads as its input `index`, where random normal
        ones are not valid (boxes must lie in the image): a NumPy array, drawn from the NumPy
        Generator `rng`, given the concrete shapes of all the op's inputs; None: any values
        (verify's random inputs and the op harness's)."""
        return None

    def label(self, a: Any) -> str:
        """Key attributes in a few characters, for diagrams: `conv 3×3/2, 64`."""
        return self.name

    def torch(self, a: Any, inputs: list[TensorType], out: TensorType) -> TorchModule | TorchExpr:
        """The PyTorch lowering. A module's parameters must be named as in param_shapes."""
        raise NotImplementedError(f"op '{self.name}' has no torch lowering")

    def onnx(self, a: Any, inputs: list[str], types: list[TensorType], out: TensorType, emit) -> str:
        """The ONNX lowering: makes nodes through `emit` (backends/onnx.py's LayerEmitter:
        `emit("Relu", x)` adds a node and names its output, `emit.param("weight")` and
        `emit.const("axes", [2, 3])` name initializers) and returns the name of the value
        that is the layer's output. `inputs` are the names of the layer's input values."""
        raise NotImplementedError(f"op '{self.name}' has no ONNX lowering")


# --- shared arithmetic ---------------------------------------------------------------

def dims_text(shape) -> str:
    return " × ".join(str(d) for d in shape)


def window_output(n: Dim, kernel: int, stride: int, pad: int, dilation: int, ceil: bool,
                  log: InferLog, axis: str, what: str = "kernel", pad_right: int | None = None) -> Dim:
    """(N − F + 2P)/S + 1 for one spatial axis, with dilation and floor/ceil, explained.

    PyTorch's rule for ceil mode is followed: the last window must start inside the
    input or its left padding. pad_right allows asymmetric ('same') padding."""
    pad_right = pad if pad_right is None else pad_right
    span = dilation * (kernel - 1) + 1  # the kernel's extent with dilation
    f = f"{span}" if dilation == 1 else f"{span} [{kernel} dilated ×{dilation}]"
    pads = f"2·{pad}" if pad == pad_right else f"{pad}+{pad_right}"
    if isinstance(n, str):
        if stride == 1 and span - 1 == pad + pad_right:
            return n
        # ceil mode rounds up, but drops a last window that would start in the right padding:
        # together ⌊(n + pads − F + min(S − 1, F − P − 1))/S⌋ + 1, still affine in n
        up = min(stride - 1, span - pad - 1) if ceil else 0
        out = symbolic.window(n, span, stride, pad + pad_right + up)
        if out is None:
            raise ShapeError(f"the {axis} size {n} is symbolic in a form this window cannot follow; "
                             "give the input a concrete size", attr="kernel")
        log.arithmetic.append(f"{axis}: ({n} − {f} + {pads})/{stride} + 1 = {out}" + (" (ceil)" if ceil else ""))
        return out
    padded = n + pad + pad_right
    overhang = stride - 1 if ceil else 0  # in ceil mode the last window may hang over the end
    if span > padded + overhang:
        raise ShapeError(f"{what} extent {span} is larger than the padded input {axis} "
                         f"{padded} ({n} + {pads})", attr="kernel")
    exact, rem = divmod(padded - span, stride)
    out = exact + 1
    text = f"({n} − {f} + {pads})/{stride} + 1 = "
    if rem == 0:
        log.arithmetic.append(f"{axis}: {text}{out}")
        return out
    if ceil:
        out += 1
        if (out - 1) * stride >= n + pad:
            out -= 1
    rounded = f"{(padded - span) / stride + 1:.4g} → {out} ({'ceil' if ceil else 'floor'})"
    log.arithmetic.append(f"{axis}: {text}{rounded}")
    message = (f"the {what} does not fit the {axis} axis exactly: {text}{(padded - span) / stride + 1:.4g}; "
               f"{rem} input row(s) are {'padded in' if ceil else 'dropped'}")
    if log.strict:
        raise ShapeError(message + " (--strict)", attr="stride")
    log.notes.append(message)
    return out


def expect_rank(inputs: list[TensorType], rank: int, layout: str) -> TensorType:
    x = inputs[0]
    if x.rank != rank:
        raise ShapeError(f"expects a rank-{rank} input ({layout}), got {x} (rank {x.rank})")
    return x


def check_declared(a: Any, attr: str, actual: Dim, source_text: str) -> int:
    """An optional in_channels/in_features: inferred when omitted, an error when wrong."""
    if not isinstance(actual, int):
        raise ShapeError(f"{attr} cannot be inferred: the input's size there is symbolic ({actual})")
    declared = getattr(a, attr)
    if declared is not None and declared != actual:
        raise ShapeError(f"{attr} is {declared:,} but the input {source_text}", attr=attr,
                         notes=[f"{declared:,} ≠ {actual:,}; omit {attr} to have it inferred"])
    return actual
