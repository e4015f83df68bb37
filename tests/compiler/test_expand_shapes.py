"""Blocks that read their inputs' shapes (`${input.channels * expand}`): the upstream layers
are typed on demand by the analysis pass's own rules, errors stay single and located."""

import json
import textwrap
from pathlib import Path

import pytest

from nncompile.compiler import SpecError, analyse, build
from nncompile.compiler.expand import expand

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference" / "torchvision_state_dicts.json"

MOBILENET_V2 = """
    name: mobilenet_v2
    import: {lib: mobilenet.yaml}
    inputs:
      image: [N, 3, 224, 224]
    layers:
      - stem: {block: lib.conv_bn, channels: 32, kernel: 3, stride: 2}
      - stage1: {block: lib.depthwise_separable, out: 16}
      - stage2: {block: lib.inverted_residual, repeat: 2, out: 24, expand: 6, stride: "${2 if i == 0 else 1}"}
      - stage3: {block: lib.inverted_residual, repeat: 3, out: 32, expand: 6, stride: "${2 if i == 0 else 1}"}
      - stage4: {block: lib.inverted_residual, repeat: 4, out: 64, expand: 6, stride: "${2 if i == 0 else 1}"}
      - stage5: {block: lib.inverted_residual, repeat: 3, out: 96, expand: 6}
      - stage6: {block: lib.inverted_residual, repeat: 3, out: 160, expand: 6, stride: "${2 if i == 0 else 1}"}
      - stage7: {block: lib.inverted_residual, out: 320, expand: 6}
      - head: {block: lib.conv_bn, channels: 1280}
      - pool: {op: adaptive_avgpool2d, output_size: 1}
      - flatten: flatten
      - dropout: {op: dropout, p: 0.2}
      - classifier: {op: linear, out_features: 1000}
    """

# torchvision's MobileNetV2 table: expansion t, width c, repeats n, first stride s
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def torchvision_param_shapes() -> list[tuple[int, ...]]:
    """The parameter shapes torchvision's MobileNetV2 builds, in its state_dict's order,
    written from its constructor's loop (an independent count, not our spec)."""
    def conv_bn(cin, cout, kernel, groups=1):
        return [(cout, cin // groups, kernel, kernel), (cout,), (cout,)]

    shapes, width = conv_bn(3, 32, 3), 32
    for t, c, n, _ in SETTINGS:
        for _ in range(n):
            hidden = width * t
            shapes += (conv_bn(width, hidden, 1) if t != 1 else []) + conv_bn(hidden, hidden, 3, groups=hidden)
            shapes += [(c, hidden, 1, 1), (c,), (c,)]
            width = c
    return shapes + conv_bn(width, 1280, 1) + [(1000, 1280), (1000,)]


@pytest.fixture
def mobilenet(write_spec):
    write_spec((ROOT / "specs" / "lib" / "mobilenet.yaml").read_text(), "mobilenet.yaml")
    return build(write_spec(MOBILENET_V2))


def test_mobilenet_v2_from_one_inverted_residual_has_torchvision_s_parameters(mobilenet):
    assert mobilenet.totals.params == 3_504_872
    ours = [shape for node in mobilenet.nodes.values() for shape in node.params.values()]
    assert ours == torchvision_param_shapes()
    assert round(mobilenet.totals.macs / 1e9, 3) == 0.301  # torchvision's published GMACs
    assert mobilenet.nodes["stage3.0.conv.0.0"].attrs.out_channels == 24 * 6  # from its input, 24 wide
    assert "stage3.1.residual" in mobilenet.nodes and "stage3.0.residual" not in mobilenet.nodes


@pytest.mark.skipif(not REFERENCE.exists(), reason="the reference state_dicts live beside the repository")
def test_mobilenet_v2_shapes_match_torchvision_s_state_dict(mobilenet):
    reference = json.loads(REFERENCE.read_text())["models"]["mobilenet_v2"]["state_dict"]
    expected = [tuple(shape) for _, shape, kind in reference if kind == "param"]
    assert [s for node in mobilenet.nodes.values() for s in node.params.values()] == expected


BLOCKS = """
    blocks:
      widen:
        params: {factor: 2}
        layers:
          - conv: {op: conv2d, out_channels: "${input.channels * factor}", kernel: 1}
      pool_all:
        layers:
          - pool: {op: avgpool2d, kernel: "${input.height}"}
      merge:
        inputs: [main, skip]
        layers:
          - fit: {op: conv2d, in: skip, out_channels: "${main.channels}", kernel: 1}
          - add: {op: add, in: [main, fit]}
    """


def with_blocks(layers: str) -> str:
    return textwrap.dedent(BLOCKS) + textwrap.dedent(layers)


def test_channels_height_and_multiple_inputs(write_spec):
    graph = build(write_spec(with_blocks("""
        inputs: {x: [N, 3, 8, 8]}
        layers:
          - a: {block: widen, factor: 4}
          - b: {block: widen}
          - side: {op: conv2d, in: x, out_channels: 5, kernel: 1}
          - m: {block: merge, in: [b, side]}
          - p: {block: pool_all}
        """)))
    assert graph.nodes["b.conv"].type.shape == ("N", 24, 8, 8)
    assert graph.nodes["m.fit"].params["weight"] == (24, 5, 1, 1)
    assert graph.nodes["p.pool"].type.shape == ("N", 24, 1, 1)


def test_a_block_that_reads_no_shape_infers_nothing_while_expanding(write_spec):
    graph, _ = expand(write_spec(with_blocks("""
        inputs: {x: [N, 3, 8, 8]}
        layers:
          - a: {op: conv2d, out_channels: 4, kernel: 1}
          - m: {block: merge, in: [a, x]}
        """)))
    assert graph.nodes["a"].type is not None  # read as main.channels
    assert graph.nodes["m.fit"].type is None and graph.nodes["m.add"].type is None  # the analysis pass's


def test_symbolic_sizes_stay_symbolic_and_arithmetic_on_them_is_located(write_spec):
    path = write_spec(with_blocks("""
        inputs: {x: [N, 3, H, W]}
        layers:
          - a: {block: widen}
          - p: {block: pool_all}
        """))
    graph = analyse(path)
    assert graph.nodes["a.conv"].type.shape == ("N", 6, "H", "W")
    [error] = graph.errors
    assert (error.code, error.span.line) == ("bad-attribute", 8)
    assert "'H'" in error.message


def test_a_shape_that_an_upstream_error_left_unknown_gives_no_second_error(write_spec):
    graph = analyse(write_spec(with_blocks("""
        inputs: {x: [N, 3, 8, 8]}
        layers:
          - bad: {op: conv2d, out_channels: 4, kernel: 9}
          - a: {block: widen}
          - b: {block: widen}
          - fc: {op: linear, out_features: 3}
        """)))
    assert [e.code for e in graph.errors] == ["kernel-too-large"]
    assert "a.conv" not in graph.nodes and graph.nodes["fc"].type is None


def test_a_forward_reference_into_a_shape_reading_block_is_a_clear_error(write_spec):
    graph = analyse(write_spec(with_blocks("""
        inputs: {x: [N, 3, 8, 8]}
        layers:
          - a: {block: widen, in: later}
          - later: {op: conv2d, in: x, out_channels: 4, kernel: 1}
        """)))
    [error] = graph.errors
    assert error.code == "bad-expression" and error.span.line == 5  # the expression that reads the shape
    assert error.message == ("input.channels: the block 'a' reads the shape of 'later', which depends on a layer "
                             "defined after it; a block's input must come before the block: reorder the layers")


@pytest.mark.parametrize("expression, message", [
    ("${input.chanels}", "input has no field 'chanels' (did you mean 'channels'?)"),
    ("${input.shape[7]}", "a shape of 4 dims has no dim 7"),
    ("${input.channels.real}", "not allowed"),
])
def test_bad_field_reads_are_located(write_spec, expression, message):
    graph = analyse(write_spec(f"""
        blocks:
          b:
            layers:
              - conv: {{op: conv2d, out_channels: "{expression}", kernel: 1}}
        inputs: {{x: [N, 3, 8, 8]}}
        layers:
          - a: {{block: b}}
        """))
    [error] = graph.errors
    assert error.code == "bad-expression" and (error.span.line, error.span.col) == (4, 42)
    assert message in error.message


def test_height_of_a_flat_input_names_the_rank(write_spec):
    graph = analyse(write_spec("""
        blocks:
          b:
            layers:
              - fc: {op: linear, out_features: "${input.height}"}
        inputs: {x: [N, 16]}
        layers:
          - a: {block: b}
        """))
    assert graph.errors[0].message == "input.height: input is N×16 (rank 2); height needs rank 4 (N, C, H, W)"


def test_through_the_cli_one_located_error_and_no_traceback(write_spec, run_nncompile):
    path = write_spec("""
        blocks:
          half:
            layers:
              - pool: {op: avgpool2d, kernel: "${input.height // 2}"}
        inputs: {x: [N, 3, H, W]}
        layers:
          - a: {block: half}
        """)
    result = run_nncompile("check", path, cwd=path.parent)
    assert result.code == 1 and "Traceback" not in result.err
    assert result.err.startswith("spec.yaml:4:39: error: 'input.height // 2': the size H is symbolic, and "
                                 "arithmetic needs a number: give the spec's input a concrete size [bad-expression]")


@pytest.mark.parametrize("name, projected", [
    ("resnet18", ["layer2.0", "layer3.0", "layer4.0"]),  # layer1: 64 in, 64 out, stride 1
    ("resnet50", ["layer1.0", "layer2.0", "layer3.0", "layer4.0"]),
    ("fcn_resnet50", ["backbone.layer1.0", "backbone.layer2.0", "backbone.layer3.0", "backbone.layer4.0"])])
def test_resnet_blocks_decide_their_projection_from_their_input(name, projected):
    """specs/lib/resnet.yaml projects the shortcut where its input's width or the stride
    changes (no spec says `project:`): in the first block of a stage, as torchvision does."""
    graph = build(ROOT / "specs" / f"{name}.yaml")
    assert "project:" not in (ROOT / "specs" / f"{name}.yaml").read_text()
    assert sorted({n.split(".downsample.")[0] for n in graph.nodes if ".downsample." in n}) == projected
