"""`nncompile explain`: the printed values and gradients against torch autograd on a module
written by hand, against finite differences, and against the slides' closed forms."""

import json
import math
import re

import pytest
import torch
import torch.nn.functional as F

from nncompile.compiler import build, to_torch
from nncompile.runtime import explain as ex

EXERCISE = "examples/specs/softmax_exercise.yaml"
X = [0.1, 0.15, 0.2]
W = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]


def printed(text: str, label: str):
    """The value printed after `label … = ` on its line, parsed back into numbers."""
    line = next(line for line in text.splitlines() if label in line)
    return json.loads(line.rsplit(" = ", 1)[1])


def exercise_by_hand():
    """The exercise in plain torch, no nncompile: Linear 3→2, softmax, mean squared error
    against the one-hot vector of class 1."""
    fc = torch.nn.Linear(3, 2).double()
    with torch.no_grad():
        fc.weight.copy_(torch.tensor(W)), fc.bias.zero_()
    z = fc(torch.tensor([X], dtype=torch.float64))
    z.retain_grad()
    s = z.softmax(-1)
    s.retain_grad()
    loss = F.mse_loss(s, torch.tensor([[0.0, 1.0]], dtype=torch.float64))
    loss.backward()
    return fc, z, s, loss


def test_exercise_prints_every_intermediate_and_dL_dw1(cli, in_repo):
    result = cli("explain", EXERCISE, "--input", "0.1,0.15,0.2", "--target", "1", "--loss", "mse")
    assert result.code == 0, result.err
    fc, z, s, loss = exercise_by_hand()
    out = result.out
    close = lambda a, b: torch.allclose(torch.tensor(a, dtype=torch.float64), b.detach().reshape(torch.tensor(a).shape),
                                        atol=1e-6, rtol=0)
    assert close(_forward(out, "fc"), z)
    assert close(_forward(out, "softmax"), s)
    assert abs(float(re.search(r"L = ([\d.]+)", out).group(1)) - loss.item()) < 1e-6
    assert close(printed(out, "∂L/∂softmax = ∂L/∂ŷ"), s.grad)
    assert close(printed(out, "∂L/∂fc = Jᵀ δ"), z.grad)
    assert close(printed(out, "∂L/∂fc.weight = δ xᵀ"), fc.weight.grad)
    assert close(printed(out, "∂L/∂fc.bias = δ"), fc.bias.grad)
    w1 = printed(out, "∂L/∂fc.weight = δ xᵀ")[0][0]
    assert abs(w1 - fc.weight.grad[0, 0].item()) < 1e-6

    # the slides' closed forms: ∂L/∂s = (s − y) (mse over two outputs is ½‖s − y‖²),
    # δ = s ⊙ (g − s·g), ∂L/∂w1 = δ₀ x₁
    sv = [math.exp(0.1), math.exp(0.235)]
    sv = [v / sum(sv) for v in sv]
    g = [sv[0] - 0, sv[1] - 1]
    delta0 = sv[0] * (g[0] - (sv[0] * g[0] + sv[1] * g[1]))
    assert abs(w1 - delta0 * X[0]) < 1e-6


def _forward(text: str, name: str):
    line = next(line for line in text.splitlines() if line.split()[:1] == [name] and "[" in line)
    return json.loads(line[line.index("["):])


def test_exercise_matches_finite_differences(cli, in_repo):
    result = cli("explain", EXERCISE, "--input", "0.1,0.15,0.2", "--target", "1", "--json")
    gradient = json.loads(result.out)["parameters"]["fc.weight"]["gradient"]
    x, y = torch.tensor([X], dtype=torch.float64), torch.tensor([[0.0, 1.0]], dtype=torch.float64)

    def loss(w):
        return F.mse_loss((x @ w.T).softmax(-1), y).item()

    eps = 1e-6
    for i in range(2):
        for j in range(3):
            up, down = torch.tensor(W, dtype=torch.float64), torch.tensor(W, dtype=torch.float64)
            up[i, j] += eps
            down[i, j] -= eps
            assert abs(gradient[i][j] - (loss(up) - loss(down)) / (2 * eps)) < 1e-4


def _explained(path, params=None, text="1,0", target="1", loss="mse"):
    graph = build(path, params)
    model = ex.prepare(graph, to_torch(graph, seed=0))
    inputs = ex.parse_input(graph, text) if text else ex.random_inputs(graph, 1, 0)
    return graph, model, inputs, ex.explain(graph, model, inputs, target, loss)


@pytest.mark.parametrize("path, params, loss", [("specs/xor.yaml", None, "bce"),
                                                ("examples/specs/deep_residual.yaml", {"depth": 2, "width": 3}, "mse"),
                                                ("examples/specs/deep_sigmoid.yaml", {"depth": 2, "width": 3}, "mse")])
def test_every_gradient_is_autograd_on_the_module_and_finite_differences(in_repo, path, params, loss):
    graph, model, inputs, e = _explained(path, params, text=None, loss=loss)
    x = next(iter(inputs.values()))

    # autograd through the module's own forward, node outputs caught by hooks
    caught = {}

    def keep(name):
        def hook(module, args, out):
            out.retain_grad()
            caught[name] = out
            return out.clone()  # for the next layer: an in-place relu would overwrite the one caught
        return hook

    handles = [model.get_submodule(n.name).register_forward_hook(keep(n.name))
               for n in graph.nodes.values() if not n.is_input and n.params]
    model.zero_grad()
    out = model(x)
    assert torch.equal(out, e.values[e.output])  # the node-by-node run is the module's forward
    ex.loss_value(loss, out, e.target).backward()
    for h in handles:
        h.remove()
    for name, value in caught.items():
        assert torch.allclose(e.grads[name], value.grad, atol=1e-12)
    for name, g in e.param_grads.items():
        assert torch.allclose(g, model.get_parameter(name).grad, atol=1e-12)

    # central differences of the module's loss, every parameter entry
    eps = 1e-6
    with torch.no_grad():
        for name, g in e.param_grads.items():
            p = model.get_parameter(name)
            for index in range(p.numel()):
                flat = p.view(-1)
                flat[index] += eps
                up = ex.loss_value(loss, model(x), e.target).item()
                flat[index] -= 2 * eps
                down = ex.loss_value(loss, model(x), e.target).item()
                flat[index] += eps
                assert abs(g.view(-1)[index].item() - (up - down) / (2 * eps)) < 1e-4, (name, index)


def test_gradients_reaching_a_node_from_its_consumers_add_up(in_repo):
    graph, _, _, e = _explained("examples/specs/deep_residual.yaml", {"depth": 2, "width": 3}, text=None)
    for name in graph.nodes:
        shares = [g for (a, b), g in e.edge_grads.items() if a == name]
        if shares:
            assert torch.allclose(sum(shares), e.grads[name], atol=1e-12), name
    text = ex.render(e)
    assert "δ = ∂L/∂stem = (from stack.0.fc) + (from stack.0.add)" in text
    assert "∂L/∂stem, from stack.0.add, = δ, to every input" in text


def test_an_input_used_twice_receives_both_shares(in_repo, write_spec):
    spec = write_spec("""
        name: square
        inputs: {x: [N, 2]}
        layers:
          - fc: {op: linear, out_features: 2}
          - sq: {op: multiply, in: [fc, fc]}
          - both: {op: concat, in: [sq, fc, sq]}
        outputs: [both]
    """)
    graph, _, _, e = _explained(spec, text="1,2", target="0.5,1,0,2,0.5,1")
    z, delta = e.values["fc"], e.grads["sq"]
    assert torch.allclose(e.edge_grads[("fc", "sq")], 2 * z * delta, atol=1e-12)  # ∂(z²)/∂z = 2z
    assert torch.allclose(e.edge_grads[("sq", "both")], e.grads["both"][:, :2] + e.grads["both"][:, 4:], atol=1e-12)
    assert torch.allclose(e.edge_grads[("fc", "sq")] + e.edge_grads[("fc", "both")], e.grads["fc"], atol=1e-12)


def test_a_free_parameter_gets_the_gradient_autograd_gives_it(in_repo, write_spec):
    spec = write_spec("""
        name: scaled
        inputs: {x: [N, 3]}
        layers:
          - scale: {op: parameter, shape: [1, 3], init: {scheme: normal, std: 1.0}}
          - mul: {op: multiply, in: [x, scale]}
          - out: {op: linear, out_features: 1}
        outputs: [out]
    """)
    graph, model, inputs, e = _explained(spec, text="1,2,3", target="0.5")
    model.zero_grad()
    ex.loss_value("mse", model(next(iter(inputs.values()))), e.target).backward()
    assert model.scale.grad.abs().sum() > 0
    assert torch.allclose(e.param_grads["scale"], model.scale.grad, atol=1e-12)
    assert "∂L/∂scale = [[" in ex.render(e)


def test_unpooling_passes_the_gradient_back_through_the_switches_alone(in_repo, write_spec):
    spec = write_spec("""
        name: unpool
        inputs: {x: [N, 1, 4, 4]}
        layers:
          - pool: {op: maxpool2d, kernel: 2, return_indices: true}
          - up: {op: max_unpool2d, in: [pool.0, pool.1], kernel: 2}
          - flat: flatten
          - out: {op: linear, out_features: 1}
        outputs: [out]
    """)
    graph, model, inputs, e = _explained(spec, text=",".join(str(v) for v in range(16)), target="1")
    x = next(iter(inputs.values())).detach().requires_grad_(True)
    ex.loss_value("mse", model(x), e.target).backward()
    assert torch.allclose(e.grads["x"], x.grad, atol=1e-12)  # autograd's, through pool.0 only
    assert ("pool.1", "up") not in e.edge_grads and not e.grads["pool.1"].any()  # integers carry none


def test_step_descends_and_leaves_frozen_layers(cli, in_repo):
    result = cli("explain", EXERCISE, "--input", "0.1,0.15,0.2", "--target", "1", "--step", "0.5", "--json")
    data = json.loads(result.out)
    before, after = data["parameters"]["fc.weight"], data["step"]["parameters"]["fc.weight"]
    expected = torch.tensor(before["value"]) - 0.5 * torch.tensor(before["gradient"])
    assert torch.allclose(torch.tensor(after), expected, atol=1e-12)
    assert data["step"]["loss_after"] < data["loss"]
    fc, *_ = exercise_by_hand()
    with torch.no_grad():
        fc.weight -= 0.5 * fc.weight.grad
        fc.bias -= 0.5 * fc.bias.grad
        by_hand = F.mse_loss(fc(torch.tensor([X], dtype=torch.float64)).softmax(-1),
                             torch.tensor([[0.0, 1.0]], dtype=torch.float64))
    assert abs(data["step"]["loss_after"] - by_hand.item()) < 1e-12

    frozen = cli("explain", "specs/xor_handset.yaml", "--input", "1,0", "--target", "0", "--step", "1")
    assert frozen.code == 0 and "(frozen in the spec: unchanged)" in frozen.out
    assert "∂L/∂hidden.weight = δ xᵀ" in frozen.out  # a frozen layer's gradient is still shown


def test_draw_puts_values_on_layers_and_gradients_on_edges(cli, in_repo, tmp_path):
    dot = tmp_path / "xor.dot"
    result = cli("explain", "specs/xor.yaml", "--input", "1,0", "--target", "1", "--draw", dot)
    assert result.code == 0, result.err
    text = dot.read_text()
    e = _explained("specs/xor.yaml")[3]
    assert f"value {ex.fmt(e.values['out_act'][0], 4)}" in text
    assert f"← ∂L/∂hidden_act {ex.fmt(e.edge_grads[('hidden_act', 'out')][0], 4)}" in text


def test_refusals(cli, in_repo, write_spec):
    step = cli("explain", "specs/perceptron_and.yaml", "--input", "1,1", "--target", "1")
    assert step.code == 2 and "layer 'fire' uses step" in step.err
    assert cli("explain", EXERCISE, "--input", "0.1,0.2").code == 2
    assert "one class index in 0 … 1" in cli("explain", EXERCISE, "--target", "2", "--loss", "cross_entropy").err
    assert "the output has 2 per sample" in cli("explain", EXERCISE, "--target", "0.5,0.5,0").err
    two = write_spec("""
        name: two
        inputs: {a: [N, 2], b: [N, 2]}
        layers:
          - sum: {op: add, in: [a, b]}
        outputs: [sum]
    """)
    assert "leave --input out" in cli("explain", two, "--input", "1,2").err
    assert cli("explain", two).code == 0  # random inputs
    aside = write_spec("""
        name: aside
        inputs: {x: [N, 2]}
        layers:
          - fc: {op: linear, out_features: 1}
          - gate: {op: step, in: x}   # unused: no gradient has to pass through it
        outputs: [fc]
    """, "aside.yaml")
    assert cli("explain", aside, "--input", "1,2", "--target", "0").code == 0


def test_cross_entropy_on_logits(cli, in_repo, write_spec):
    spec = write_spec("""
        name: logits
        inputs: {x: [N, 3]}
        layers:
          - fc: {op: linear, out_features: 4}
        outputs: [fc]
    """)
    data = json.loads(cli("explain", spec, "--input", "1,2,3", "--target", "2", "--loss", "cross_entropy",
                          "--json").out)
    z = torch.tensor(data["forward"]["fc"])
    expected = z.softmax(-1) - F.one_hot(torch.tensor([2]), 4)  # ∂L/∂z = softmax(z) − onehot(y)
    assert torch.allclose(torch.tensor(data["gradients"]["fc"]), expected, atol=1e-12)


def test_weights_from_a_checkpoint(cli, in_repo, tmp_path):
    checkpoint = tmp_path / "xor.pt"
    torch.save(to_torch("specs/xor.yaml", seed=5).state_dict(), checkpoint)
    loaded = json.loads(cli("explain", "specs/xor.yaml", "--input", "1,0", "--target", "1", "--weights", checkpoint,
                             "--json").out)
    seeded = json.loads(cli("explain", "specs/xor.yaml", "--input", "1,0", "--target", "1", "--seed", "5", "--json").out)
    assert loaded["parameters"] == seeded["parameters"] and loaded["forward"] == seeded["forward"]
    assert "do not fit" in cli("explain", EXERCISE, "--weights", checkpoint).err


def test_sample_inputs_take_an_admissible_size_of_a_declared_multiple(write_spec):
    from nncompile.runtime.backprop import sample_shape

    graph = build(write_spec("""
        inputs: {image: [N, 3, 64*h, W]}
        layers:
          - pool: {op: maxpool2d, kernel: [64, 1]}
        """))
    assert sample_shape(graph, "image", batch=2) == (2, 3, 64, 32)  # h = 1, W at the default 32
    assert to_torch(graph)(torch.zeros(sample_shape(graph, "image"))).shape == (1, 3, 1, 32)  # a side of 32 would not fit the window
