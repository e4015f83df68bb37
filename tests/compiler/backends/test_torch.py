"""to_torch: every shipped spec lowers to a module whose shapes, parameters, buffers and
frozen layers are the static analysis's, and which trains a step on CPU."""

from __future__ import annotations

import sys

import pytest
import torch

from nncompile.compiler import SpecError, build, to_torch
from torch_parity import (ROOT, SPECS, check_layer_shapes, check_static_counts, every_layer, example_inputs,
                          specs_by_size)


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_parameters_and_buffers_match_the_static_counts(path):
    graph = build(path)
    check_static_counts(graph, to_torch(graph, seed=0))


@pytest.mark.parametrize("path", specs_by_size())
def test_every_layer_has_its_static_shape_and_a_training_step_runs(path):
    graph = build(path)
    model = every_layer(graph, seed=0)
    sizes, inputs = example_inputs(graph)
    outputs = model(*inputs)
    check_layer_shapes(graph, outputs, sizes)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        return  # nothing to train (a frozen, hand-set network)
    optimiser = torch.optim.SGD(trainable, lr=1e-3)
    final = [outputs[list(graph.nodes).index(name) - len(graph.inputs)] for name in graph.outputs.values()]
    sum(t.float().mean() for t in final).backward()
    optimiser.step()
    assert all(p.grad is not None for p in trainable)


def test_forward_takes_inputs_in_order_and_returns_a_tuple_for_several_outputs(write_spec):
    path = write_spec("""
        name: two
        inputs: {a: [N, 3], b: [N, 5]}
        layers:
          - fa: {op: linear, in: a, out_features: 2}
          - fb: {op: linear, in: b, out_features: 4}
        outputs: [fb, fa]
        """)
    model = to_torch(path, seed=0)
    fb, fa = model(torch.zeros(2, 3), torch.zeros(2, 5))
    assert fb.shape == (2, 4) and fa.shape == (2, 2)


def test_state_dict_keys_follow_the_qualified_layer_names():
    keys = set(to_torch(ROOT / "specs/ccp.yaml", seed=0).state_dict())
    assert {"layer1.conv1.weight", "layer1.conv1.bias", "layer3.conv2.weight", "fc.weight", "fc.bias"} <= keys


def test_repeated_blocks_and_odd_names_make_nested_containers(write_spec):
    path = write_spec("""
        name: stack
        inputs: {x: [N, 4]}
        blocks:
          unit:
            layers:
              - lambda: {op: linear, out_features: 4}
              - act: relu
        layers:
          - stage: {block: unit, repeat: 3}
        outputs: [stage]
        """)
    graph = build(path)
    model = to_torch(graph, seed=0)
    assert "stage.2.lambda.weight" in model.state_dict()
    assert model(torch.ones(2, 4)).shape == (2, 4)


def test_a_layer_named_like_a_module_attribute_is_a_spec_error(write_spec):
    path = write_spec("""
        name: clash
        inputs: {x: [N, 4]}
        layers:
          - forward: {op: linear, out_features: 2}
        outputs: [forward]
        """)
    with pytest.raises(SpecError, match="'forward' cannot name a torch submodule"):
        to_torch(path)


def test_seed_makes_initialisation_deterministic_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b = (to_torch(ROOT / "specs/ccp.yaml", seed=7).state_dict() for _ in range(2))
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = to_torch(ROOT / "specs/ccp.yaml", seed=8).state_dict()
    assert not torch.equal(a["fc.weight"], c["fc.weight"])


def test_init_schemes(write_spec):
    path = write_spec("""
        name: inits
        inputs: {x: [N, 400], y: [N, 3]}
        layers:
          - constant: {op: linear, out_features: 300, init: {weight: 0.5, bias: zeros}}
          - normal: {op: linear, out_features: 300, init: {weight: {scheme: normal, mean: 3, std: 0.01}, bias: ones}}
          - uniform: {op: linear, out_features: 300, init: {scheme: uniform, low: 2, high: 4}}
          - kaiming: {op: linear, out_features: 300, init: kaiming}
          - xavier: {op: linear, out_features: 300, init: {scheme: xavier, gain: 2}}
          - literal: {op: linear, in: y, out_features: 2, init: {weight: [[1, 1, 1], [2, 2, 2]], bias: [5, 6]}}
        outputs: [xavier, literal]
        """)
    m = to_torch(path, seed=0)
    assert torch.all(m.constant.weight == 0.5) and torch.all(m.constant.bias == 0)
    assert abs(m.normal.weight.mean().item() - 3) < 1e-3 and abs(m.normal.weight.std().item() - 0.01) < 1e-3
    assert torch.all(m.normal.bias == 1)
    assert 2 <= m.uniform.weight.min() and m.uniform.weight.max() <= 4
    assert abs(m.kaiming.weight.std().item() - (2 / 300) ** 0.5) < 0.005  # He: sqrt(2 / fan_in)
    bound = 2 * (6 / (300 + 300)) ** 0.5  # Glorot uniform with gain 2
    assert m.xavier.weight.abs().max() <= bound and m.xavier.weight.abs().max() > 0.9 * bound
    assert m.literal.weight[1, 0] == 2 and m.literal.bias.tolist() == [5, 6]


def test_an_init_torch_cannot_apply_is_a_spec_error(write_spec):
    path = write_spec("""
        name: bad
        inputs: {x: [N, 4]}
        layers:
          - fc: {op: linear, out_features: 2, init: {bias: kaiming}}
        outputs: [fc]
        """)
    with pytest.raises(SpecError, match="layer 'fc' .*cannot initialise bias"):
        to_torch(path)


def test_shared_weights_are_one_parameter_counted_once(write_spec):
    path = write_spec("""
        name: siamese
        inputs: {a: [N, 3, 8, 8], b: [N, 3, 8, 8]}
        layers:
          - left: {op: conv2d, in: a, out_channels: 4, kernel: 3}
          - right: {op: conv2d, in: b, out_channels: 4, kernel: 3, share: left}
          - join: {op: add, in: [left, right]}
        outputs: [join]
        """)
    graph = build(path)
    model = to_torch(graph, seed=0)
    assert model.right.weight is model.left.weight and model.right.bias is model.left.bias
    check_static_counts(graph, model)


def test_a_layer_may_share_the_weights_of_a_later_layer(write_spec):
    path = write_spec("""
        name: tied
        inputs: {x: [N, 4]}
        layers:
          - first: {op: linear, out_features: 4, share: last}
          - act: relu
          - last: {op: linear, out_features: 4}
        outputs: [last]
        """)
    graph = build(path)
    model = to_torch(graph, seed=0)
    assert model.first.weight is model.last.weight and model.first.bias is model.last.bias
    x = torch.randn(2, 4)
    layer = torch.nn.functional.linear
    assert torch.equal(model(x), layer(torch.relu(layer(x, model.last.weight, model.last.bias)), model.last.weight,
                                       model.last.bias))
    check_static_counts(graph, model)


def test_frozen_layers_do_not_train(write_spec):
    path = write_spec("""
        name: frozen
        inputs: {x: [N, 4]}
        layers:
          - base: {op: linear, out_features: 4, trainable: false}
          - head: {op: linear, out_features: 1}
        outputs: [head]
        """)
    model = to_torch(path, seed=0)
    model(torch.ones(3, 4)).sum().backward()
    assert model.base.weight.grad is None and model.head.weight.grad is not None


STEP_SPEC = """
    name: perceptron
    inputs: {{x: [N, 2]}}
    layers:
      - fc: {{op: linear, out_features: 1, trainable: {trainable}}}
      - fire: {{op: step, threshold: 0.5}}
    outputs: [fire]
    """


def test_step_runs_forward_but_refuses_backward_naming_the_layer(write_spec):
    model = to_torch(write_spec(STEP_SPEC.format(trainable="true")), seed=0)
    y = model(torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    assert set(y.flatten().tolist()) <= {0.0, 1.0}
    with pytest.raises(RuntimeError, match="layer 'fire' uses step, whose gradient is zero almost everywhere"):
        y.sum().backward()


def test_step_after_frozen_layers_needs_no_gradient(write_spec):
    model = to_torch(write_spec(STEP_SPEC.format(trainable="false")), seed=0)
    assert not model(torch.ones(1, 2)).requires_grad


XOR_TRUTH = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


def _xor_specs(tmp_path):
    inline = tmp_path / "xor_inline.yaml"
    inline.write_text("""
name: xor_inline
inputs: {x: [N, 2]}
layers:
  - hidden: {op: linear, out_features: 2, init: {weight: [[1, 1], [1, 1]], bias: [-0.5, -1.5]}}
  - fire: step
  - out: {op: linear, out_features: 1, init: {weight: [[1, -2]], bias: [-0.5]}}
  - decide: step
outputs: [decide]
""")
    shipped = ROOT / "specs/xor_handset.yaml"
    return [inline] + ([shipped] if shipped.exists() else [])


def test_xor_networks_compute_the_truth_table_without_training(tmp_path):
    for path in _xor_specs(tmp_path):
        with torch.no_grad():
            y = to_torch(path)(XOR_TRUTH).flatten()
        assert torch.equal(y.round(), torch.tensor([0.0, 1.0, 1.0, 0.0])), path


def test_a_network_over_the_memory_budget_is_refused_before_allocating(monkeypatch):
    graph = build(ROOT / "specs/ccp.yaml")
    monkeypatch.setattr(torch.nn.Linear, "__init__", lambda *a, **k: pytest.fail("allocated"))
    with pytest.raises(SpecError, match=r"needs .* over the budget of .*MiB") as error:
        to_torch(graph, max_param_bytes=100_000)
    notes = error.value.diagnostics[0].notes
    assert notes[0].startswith("largest layers: fc (62,730), layer1.conv2 (36,928)")


def test_build_does_not_import_torch():
    import subprocess

    code = ("import sys; from nncompile.compiler import build; build('specs/ccp.yaml'); "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


@pytest.mark.parametrize("backend", ["eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_torch_compile_fullgraph_on_ccp(backend):
    """fullgraph=True fails on any graph break; the eager backend checks that alone, fast."""
    torch._dynamo.reset()
    model = to_torch(ROOT / "specs/ccp.yaml", seed=0).eval()
    compiled = torch.compile(model, fullgraph=True, backend=backend)
    image = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(compiled(image), model(image))


def test_forward_lets_each_value_go_once_read_and_keeps_the_outputs(write_spec):
    """As torchvision's nn.Sequential: without autograd, a layer's output is freed by the time
    the layer after its last reader runs, not held by forward's locals to the end."""
    import weakref

    path = write_spec("""
        name: chain
        inputs: {x: [N, 3, 8, 8]}
        layers:
          - a: {op: conv2d, out_channels: 4, kernel: 3, padding: 1}
          - b: {op: conv2d, out_channels: 4, kernel: 1}
          - c: {op: conv2d, out_channels: 4, kernel: 1}
          - d: {op: conv2d, out_channels: 4, kernel: 1}
        outputs: [b, d]
        """)
    model = to_torch(path, seed=0)
    made, alive = {}, {}

    def note(name):
        def hook(module, args, out):
            made[name] = weakref.ref(out)
        return hook

    def look(module, args):
        alive.update({name: ref() is not None for name, ref in made.items()})

    for name in "abc":
        getattr(model, name).register_forward_hook(note(name))
    model.d.register_forward_pre_hook(look)
    with torch.no_grad():
        b, _ = model(torch.randn(1, 3, 8, 8))
    assert alive == {"a": False, "b": True, "c": True}  # c is d's input; b an output
    assert made["b"]() is b
