"""Two ways a block adapts to its caller: `inline: true` adds its layers to the caller's scope
(ResNet's conv1 at the top of resnet50, under backbone.body in a detector), and a `$param`
choosing a layer's op or block (the norm layer, as torchvision's norm_layer)."""

import pytest
import torch

from nncompile.compiler import SpecError, build, to_torch

BODY = """
    name: inline
    inputs: {x: [N, 3, 16, 16]}
    blocks:
      unit:
        layers:
          - act: relu
      body:
        params: {norm: batchnorm2d, kind: unit}
        layers:
          - conv1: {op: conv2d, out_channels: 4, kernel: 3, padding: 1, bias: false}
          - bn1: $norm
          - bn2: {op: $norm, eps: 0.001}
          - stage: {block: $kind}
    layers:
      - body: {block: body, inline: true, norm: frozen_batchnorm2d}
      - named: {block: body, in: x}
      - pool: {op: global_avgpool, in: body}
      - pool2: {op: global_avgpool, in: named}
    outputs: [pool, pool2]
    """


def test_an_inline_blocks_layers_join_the_callers_scope(write_spec):
    graph = build(write_spec(BODY))
    assert [n for n in graph.nodes if n != "x"] == [
        "conv1", "bn1", "bn2", "stage.act",  # inline: no `body.` in front
        "named.conv1", "named.bn1", "named.bn2", "named.stage.act", "pool", "pool2"]
    assert graph.nodes["pool"].inputs == ["stage.act"]  # the call's name reads its output
    assert [graph.nodes[n].op for n in ("bn1", "bn2", "named.bn1")] == \
        ["frozen_batchnorm2d", "frozen_batchnorm2d", "batchnorm2d"]  # op chosen by the param
    assert graph.nodes["bn2"].attrs.eps == 0.001
    model = to_torch(graph)
    assert list(model.state_dict())[:5] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                                            "bn1.running_var"]
    assert isinstance(model.get_submodule("named.bn1"), torch.nn.BatchNorm2d)


def test_inline_layers_named_as_the_callers_are_located_at_the_call(write_spec):
    path = write_spec(BODY.replace("      - named: {block: body, in: x}",
                                   "      - named: {block: body, in: x}\n      - conv1: {op: relu, in: x}"))
    with pytest.raises(SpecError) as error:
        build(path)
    (diagnostic,) = error.value.diagnostics
    assert diagnostic.code == "duplicate-name" and (diagnostic.span.line, diagnostic.span.col) == (15, 5)
    assert diagnostic.message == "layer 'body': the inline block's layer 'conv1' takes a name already used"
    assert diagnostic.notes[1].endswith("spec.yaml:17:5")  # the caller's conv1


def test_two_inline_calls_of_one_block_clash(write_spec):
    path = write_spec(BODY.replace("      - named: {block: body, in: x}", "      - again: {block: body, inline: true}")
                      .replace("in: named}", "in: again}"))
    with pytest.raises(SpecError) as error:
        build(path)
    found = error.value.diagnostics
    assert {d.code for d in found} == {"duplicate-name"} and {d.span.line for d in found} == {16}
    assert len(found) == 4  # conv1, bn1, bn2 and stage, each once, at the second call


def test_a_param_naming_no_op_is_located_at_the_op(write_spec):
    path = write_spec(BODY.replace("norm: frozen_batchnorm2d}", "norm: frozen_bn}"))
    with pytest.raises(SpecError) as error:
        build(path)
    messages = {(d.code, d.span.line, d.span.col, d.message) for d in error.value.diagnostics}
    assert messages == {("unknown-op", 11, 14, "layer 'bn1': unknown op 'frozen_bn'"),
                        ("unknown-op", 12, 19, "layer 'bn2': unknown op 'frozen_bn'")}


def test_a_list_param_is_indexed(write_spec):
    graph = build(write_spec("""
        inputs: {x: [N, 4]}
        blocks:
          mlp:
            params: {widths: list}
            layers:
              - fc1: {op: linear, out_features: "${widths[0]}"}
              - fc2: {op: linear, out_features: "${widths[-1]}", repeat: "${widths[1]}"}
        layers:
          - mlp: {block: mlp, widths: [8, 2, 3]}
        """))
    assert graph.nodes["mlp.fc1"].type.shape == ("N", 8) and graph.nodes["mlp.fc2.1"].type.shape == ("N", 3)
    with pytest.raises(SpecError, match=r"'widths\[3\]': a list of 3 items has no item 3"):
        build(write_spec("""
            inputs: {x: [N, 4]}
            blocks:
              mlp:
                params: {widths: list}
                layers:
                  - fc1: {op: linear, out_features: "${widths[3]}"}
            layers:
              - mlp: {block: mlp, widths: [8, 2, 3]}
            """))
