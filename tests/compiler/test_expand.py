"""Expansion of a spec into the flat IR: params, blocks, repeats, imports, references."""

import importlib

import pytest

from nncompile.compiler import SpecError, UsageError, analyse, build

expand_module = importlib.import_module("nncompile.compiler.expand")  # the package's `expand` is the function

RESIDUAL_LIB = """
    blocks:
      basic:
        params: {channels: int, stride: 1, project: false}
        layers:
          - conv1: {op: conv2d, out_channels: $channels, kernel: 3, stride: $stride, padding: 1, bias: false}
          - relu1: relu
          - conv2: {op: conv2d, out_channels: $channels, kernel: 3, padding: 1, bias: false}
          - shortcut: {op: conv2d, in: input, out_channels: $channels, kernel: 1, stride: $stride,
                       bias: false, when: $project}
          - add: {op: add, in: [conv2, shortcut]}
    """


def codes(graph):
    return [d.code for d in graph.errors]


def test_params_defaults_and_set(write_spec):
    path = write_spec("""
        params: {width: 8, classes: 10}
        inputs: {x: [N, 4]}
        layers:
          - hidden: {op: linear, out_features: "${2 * width}"}
          - out: {op: linear, out_features: $classes}
        """)
    graph = build(path)
    assert graph.nodes["hidden"].type.shape == ("N", 16) and graph.nodes["out"].type.shape == ("N", 10)
    graph = build(path, {"width": "3", "classes": "5"})  # --set width=3 --set classes=5
    assert graph.nodes["hidden"].type.shape == ("N", 6) and graph.nodes["out"].type.shape == ("N", 5)
    assert graph.params == {"width": 3, "classes": 5}


@pytest.mark.parametrize("overrides, fragment", [
    ({"widht": "3"}, "no parameter 'widht' (did you mean 'width'?)"),
    ({"width": "wide"}, "expected int"),
])
def test_bad_set_is_a_usage_error(write_spec, overrides, fragment):
    path = write_spec("""
        params: {width: 8}
        inputs: {x: [N, 4]}
        layers:
          - fc: {op: linear, out_features: $width}
        """)
    with pytest.raises(UsageError) as caught:
        build(path, overrides)
    assert fragment in str(caught.value)


def test_blocks_repeat_and_index(write_spec):
    write_spec(RESIDUAL_LIB, "lib/resnet.yaml")
    path = write_spec("""
        import: {res: lib/resnet.yaml}
        inputs: {image: [N, 16, 32, 32]}
        layers:
          - stage: {block: res.basic, repeat: 3, channels: 32, stride: "${2 if i == 0 else 1}", project: "${i == 0}"}
        """)
    graph = build(path)
    names = list(graph.nodes)
    assert "stage.0.shortcut" in names and "stage.1.shortcut" not in names  # when: false elsewhere
    assert graph.nodes["stage.0.conv1"].type.shape == ("N", 32, 16, 16)
    assert graph.nodes["stage.2.conv1"].inputs == ["stage.1.add"]
    assert graph.nodes["stage.1.add"].inputs == ["stage.1.conv2", "stage.0.add"]  # passthrough of input
    assert graph.nodes["stage.0.conv1"].scope[0].block == "res.basic"
    # 3×3 32←16 + 3×3 32←32 + 1×1 32←16 for the first; two 3×3 32←32 for each other
    assert graph.totals.params == (9 * 32 * 16 + 9 * 32 * 32 + 32 * 16) + 2 * (2 * 9 * 32 * 32)


def test_dotted_reference_into_a_block_and_forward_reference(write_spec):
    path = write_spec("""
        inputs: {x: [N, 4]}
        blocks:
          mlp:
            layers:
              - fc1: {op: linear, out_features: 8}
              - act: relu
              - fc2: {op: linear, out_features: 8}
        layers:
          - body: {block: mlp}
          - join: {op: concat, in: [body.act, tail]}   # `tail` is defined below
          - tail: {op: linear, out_features: 3, in: body}
        outputs: [join]
        """)
    graph = build(path)
    assert graph.nodes["join"].inputs == ["body.act", "tail"]
    assert graph.nodes["tail"].inputs == ["body.fc2"]  # a block instance stands for its output
    assert graph.nodes["join"].type.shape == ("N", 11)


def test_cycle_is_named(write_spec):
    path = write_spec("""
        inputs: {x: [N, 4]}
        layers:
          - a: {op: add, in: [x, c]}
          - b: relu
          - c: relu
        outputs: [c]
        """)
    graph = analyse(path)
    assert codes(graph) == ["cycle"]
    assert "a → b → c → a" in graph.errors[0].message


def test_share_counts_once(write_spec):
    path = write_spec("""
        inputs: {x: [N, 4]}
        layers:
          - fc1: {op: linear, out_features: 4}
          - fc2: {op: linear, out_features: 4, share: fc1}
        """)
    graph = build(path)
    assert graph.nodes["fc2"].share == "fc1"
    assert graph.totals.params == 4 * 4 + 4


def test_inline_fixed_weights(write_spec):
    """The slides' hand-set XOR: NAND and OR hidden units, AND output."""
    path = write_spec("""
        inputs: {x: [N, 2]}
        layers:
          - hidden: {op: linear, out_features: 2, trainable: false,
                     init: {weight: [[-20, -20], [20, 20]], bias: [30, -10]}}
          - h: sigmoid
          - out: {op: linear, out_features: 1, trainable: false, init: {weight: [[20, 20]], bias: [-30]}}
          - y: sigmoid
        """)
    graph = build(path)
    assert graph.nodes["hidden"].init["weight"] == [[-20, -20], [20, 20]]
    assert (graph.totals.params, graph.totals.trainable_params) == (9, 0)


def test_imports_are_relative_and_confined(write_spec, tmp_path):
    write_spec(RESIDUAL_LIB, "outside/resnet.yaml")
    path = write_spec("""
        import: {res: ../outside/resnet.yaml}
        inputs: {image: [N, 16, 8, 8]}
        layers:
          - b: {block: res.basic, channels: 16}
        """, "net/spec.yaml")
    graph = analyse(path)
    assert codes(graph) == ["import-outside"]
    allowed = analyse(path, allow_paths=[tmp_path / "outside"])
    assert not allowed.errors and "b.conv1" in allowed.nodes


def test_unused_layer_is_a_warning(write_spec):
    path = write_spec("""
        inputs: {x: [N, 4], unused_input: [N, 2]}
        layers:
          - a: {op: linear, out_features: 4}
          - side: {op: linear, out_features: 2, in: x}
          - b: {op: linear, out_features: 3, in: a}
        outputs: [b]
        """)
    graph = build(path)
    warned = sorted(d.message.split("'")[1] for d in graph.warnings if d.code == "unused")
    assert warned == ["side", "unused_input"]


def test_independent_errors_are_all_reported(write_spec):
    path = write_spec("""
        inputs: {x: [N, 3, 8, 8]}
        layers:
          - a: {op: conv3d, out_channels: 4, kernel: 3}
          - b: {op: conv2d, out_channels: 4, kernel: 3, strides: 2}
          - c: {op: add, in: [b, nowhere]}
        """)
    with pytest.raises(SpecError) as caught:
        build(path)
    assert [d.code for d in caught.value.diagnostics] == ["unknown-op", "unknown-key", "unknown-input"]


def test_a_repeated_calls_mistakes_are_reported_once(write_spec):
    path = write_spec("""
        inputs: {x: [N, 8]}
        blocks:
          b:
            params: {w: int, k: 1}
            layers:
              - fc: {op: linear, out_features: $w}
        layers:
          - s: {block: b, repeat: 3, w: 4, wdith: 3, k: "${nope}"}
        """)
    with pytest.raises(SpecError) as caught:
        build(path)
    assert [d.code for d in caught.value.diagnostics] == ["unknown-param", "bad-expression"]


def test_graph_size_is_bounded(write_spec, monkeypatch):
    monkeypatch.setattr(expand_module, "MAX_NODES", 50)
    path = write_spec("""
        inputs: {x: [N, 4]}
        blocks:
          pair:
            layers:
              - a: relu
              - b: relu
        layers:
          - deep: {block: pair, repeat: 100}
        """)
    with pytest.raises(SpecError) as caught:
        analyse(path)
    assert caught.value.diagnostics[-1].code == "too-large"


def test_ccp_spec(in_repo):
    graph = build("specs/ccp.yaml")
    assert graph.nodes["layer1.conv1"].param_count == 1_792
    assert graph.nodes["fc"].params["weight"] == (10, 6_272)
    assert graph.nodes["fc"].attrs.in_features is None  # inferred, not written



def test_a_bare_unknown_op_is_suggested_only_another_spelling(write_spec):
    path = write_spec("""
        inputs: {x: [N, 4]}
        layers:
          - a: relu7
          - b: ReLU6
        """)
    with pytest.raises(SpecError) as caught:
        build(path)
    messages = [d.message for d in caught.value.diagnostics]
    assert messages == ["layer 'a': unknown op or block 'relu7'",
                        "layer 'b': unknown op or block 'ReLU6' (did you mean 'relu6'?)"]


def test_a_blocks_copies_share_each_layers_body_and_choice(write_spec, monkeypatch):
    """`relu1: relu` and `op: $norm` make a mapping for the layer; the walker makes it once per
    layer (and per op chosen), so that a block's copies validate it once, each choice its own."""
    from nncompile.compiler.expand import walk

    validated = []
    real = walk.validate_layer
    monkeypatch.setattr(walk, "validate_layer", lambda body, name: validated.append(name) or real(body, name))
    path = write_spec("""
        inputs: {x: [N, 8, 4, 4]}
        blocks:
          unit:
            params: {norm: batchnorm2d}
            layers:
              - bn: {op: $norm}
              - act: relu
        layers:
          - a: {block: unit, repeat: 3}
          - b: {block: unit, repeat: 2, norm: frozen_batchnorm2d}
        """)
    graph = analyse(path)
    assert sorted(validated) == ["a", "act", "b", "bn", "bn"]  # bn once per op chosen, act once
    assert [graph.nodes[f"{layer}.bn"].op for layer in ("a.0", "a.2", "b.0", "b.1")] == \
        ["batchnorm2d", "batchnorm2d", "frozen_batchnorm2d", "frozen_batchnorm2d"]
    assert graph.nodes["b.1.act"].op == "relu" and not graph.errors


def test_layers_of_equal_plain_bodies_are_validated_once(write_spec, monkeypatch):
    """A chain's `{op: linear, out_features: 8}` written 3 times: its body and its attributes are
    validated once; a body equal in Python but not in type (8.0, true) is validated on its own
    (and refused), and a zero float keeps its sign."""
    import math
    from nncompile.compiler.expand import walk

    layers, attributes = [], []
    real_layer, real_attrs = walk.validate_layer, walk.validate
    monkeypatch.setattr(walk, "validate_layer", lambda body, name: layers.append(name) or real_layer(body, name))
    monkeypatch.setattr(walk, "validate", lambda cls, values: attributes.append(cls) or real_attrs(cls, values))
    path = write_spec("""
        inputs: {x: [N, 8]}
        layers:
          - a: {op: linear, out_features: 8}
          - b: {op: linear, out_features: 8}
          - c: {op: linear, out_features: 8}
          - d: {op: linear, out_features: 8.0}
          - e: {op: linear, out_features: true}
          - f: {op: dropout, p: 0.0}
          - g: {op: dropout, p: -0.0}
        """)
    graph = analyse(path)
    assert layers == ["a", "d", "e", "f", "g"]
    assert [cls.__name__ for cls in attributes] == ["LinearAttrs"] * 3 + ["DropoutAttrs"] * 2  # a, d, e; f, g
    assert graph.nodes["a"].attrs is graph.nodes["c"].attrs
    assert [d.span.line for d in graph.errors] == [6, 7]  # d and e
    assert math.copysign(1, graph.nodes["f"].attrs.p) == 1 and math.copysign(1, graph.nodes["g"].attrs.p) == -1


def test_a_duplicate_name_is_reported_once_at_each_place(write_spec):
    """Aliases of one layer are one mistake (one span); a name written twice more is two."""
    path = write_spec("""
        inputs: {x: [N, 8]}
        layers:
          - &l {a: relu}
          - *l
          - *l
          - a: relu
          - x: relu
        """)
    found = [(d.message, tuple(d.span[1:3]), d.notes) for d in analyse(path).errors if d.code == "duplicate-name"]
    assert found == [("duplicate layer name 'a'", (3, 9), ["first defined at " + f"{path}:3:9"]),
                     ("duplicate layer name 'a'", (6, 5), ["first defined at " + f"{path}:3:9"]),
                     ("duplicate layer name 'x'", (7, 5), ["first defined at the inputs"])]
