"""Free parameters: a layer that is a learnt tensor (ViT's class token and position
embedding, ConvNeXt's layer scale)."""

from __future__ import annotations

from .base import Attrs, Op, PositiveInt, ShapeError, TensorType, TorchParameter, register


class ParameterAttrs(Attrs):
    shape: list[PositiveInt]  # the tensor's whole shape, as torch's nn.Parameter's


@register
class Parameter(Op):
    """A learnt tensor of the given `shape`, which is the layer itself: its state_dict key
    is the layer's name (torchvision's `class_token`, `encoder.pos_embedding`,
    `features.1.0.layer_scale`). Without `in:` it reads nothing and its value is used as
    it is, broadcast by add and multiply (a layer scale [C, 1, 1] times N×C×H×W, a
    position embedding [1, 197, 768] plus N×197×768). With `in: x` it is expanded to x's
    batch, N × shape[1:] (shape[0] must be 1), as ViT expands its class token before the
    concat. Zeros unless `init:` says otherwise (`init: {scheme: normal, std: 0.02}`)."""

    name = "parameter"
    family = "parameter"
    Attrs = ParameterAttrs
    arity = (0, 1)
    params_are = ("weight",)
    self_param = "weight"
    default_init = {"weight": "zeros"}

    def infer(self, a, inputs, log):
        if not inputs:
            return TensorType(tuple(a.shape))
        if a.shape[0] != 1 or len(a.shape) < 2:
            raise ShapeError(f"shape {a.shape}: to be expanded to the batch of its input, the parameter's "
                             "first size must be 1 and it needs at least one more", attr="shape")
        return TensorType((inputs[0].shape[0], *a.shape[1:]))

    def param_shapes(self, a, inputs, out):
        return {"weight": tuple(a.shape)}

    def label(self, a):
        return f"parameter {'×'.join(map(str, a.shape))}"

    def torch(self, a, inputs, out):
        if not inputs:
            return TorchParameter(tuple(a.shape))
        return TorchParameter(tuple(a.shape), f"{{p}}.expand({{0}}.shape[0]{', -1' * (len(a.shape) - 1)})")

    def onnx(self, a, inputs, types, out, emit):
        value = emit.param("weight")
        if not inputs:
            return emit("Identity", value)
        batch = emit("Shape", inputs[0], start=0, end=1)
        return emit("Expand", value, emit("Concat", batch, emit.const("shape", list(a.shape[1:])), axis=0))
