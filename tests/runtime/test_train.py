"""The training loop: schedules, stages, refusals, checkpoints' contents."""

import math

import pytest
import torch

from nncompile.runtime.checkpoint import MODEL_KEY
from nncompile.runtime.config import Train
from nncompile.runtime.train import schedule


@pytest.fixture
def train(tmp_path, cli, in_repo):
    """train(spec, config_text, *args) -> CliResult; runs land in tmp_path/runs."""

    def run(spec, text: str, *args):
        config = tmp_path / "train.yaml"
        config.write_text(f"run: {{dir: {tmp_path / 'runs'}, name: t, threads: 1}}\n" + text)
        return cli("train", spec, "--config", config, "--no-progress", *args)

    return run


def test_schedules_follow_their_formulas():
    steps, epochs = 10, 6
    cosine = schedule(Train(schedule="cosine"), steps, epochs)
    assert [cosine(s) for s in (0, 30, 60)] == [1.0, pytest.approx(0.5), pytest.approx(0.0)]
    step = schedule(Train(schedule="step", step_size=2, gamma=0.5), steps, epochs)
    assert [step(s) for s in (0, 19, 20, 45)] == [1.0, 1.0, 0.5, 0.25]
    warm = schedule(Train(schedule="cosine", warmup_epochs=1), steps, epochs)
    assert warm(4) == pytest.approx(0.5 * 0.5 * (1 + math.cos(math.pi * 4 / 60)))


def test_xor_learns_and_checkpoints_load_weights_only(train, tmp_path):
    result = train("specs/xor.yaml", "data: {dataset: xor, size: 256, batch_size: 4}\n"
                   "train: {epochs: 12, loss: bce, lr: 0.05}\n")
    assert result.code == 0, result.err
    assert "accuracy 1.0000" in result.out.splitlines()[-1]
    state = torch.load(tmp_path / "runs/t/best.pt", weights_only=True)
    assert set(state[MODEL_KEY]) == {"hidden.weight", "hidden.bias", "out.weight", "out.bias"}
    folder = tmp_path / "runs/t"
    assert {p.name for p in folder.iterdir()} >= {"config.yaml", "metrics.csv", "metrics.png", "last.pt", "spec"}
    assert (folder / "spec/xor.yaml").read_text() == open("specs/xor.yaml").read()
    assert len((folder / "metrics.csv").read_text().splitlines()) == 13


def test_best_checkpoint_exports_to_onnx_with_its_weights(train, tmp_path, cli):
    import onnxruntime

    from nncompile.compiler import to_torch

    assert train("specs/xor.yaml", "data: {dataset: xor, size: 64}\ntrain: {epochs: 2, loss: bce}\n").code == 0
    best = tmp_path / "runs/t/best.pt"
    result = cli("export", "specs/xor.yaml", "--weights", best, "-o", tmp_path / "xor.onnx")
    assert result.code == 0, result.err
    model = to_torch("specs/xor.yaml")
    model.load_state_dict(torch.load(best, weights_only=True)[MODEL_KEY])
    points = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    session = onnxruntime.InferenceSession(str(tmp_path / "xor.onnx"))
    (exported,) = session.run(None, {session.get_inputs()[0].name: points.numpy()})
    assert torch.allclose(torch.from_numpy(exported), model(points).detach(), atol=1e-6)


def test_a_checkpoint_of_another_spec_is_refused_naming_both_hashes(train, tmp_path):
    data = "data: {dataset: digits, batch_size: 256}\ntrain: {epochs: 1}\n"
    assert train("specs/digits_cnn.yaml", data).code == 0
    result = train("specs/digits_cnn.yaml", data, "--set", "num_classes=12", "--resume")
    assert result.code == 2
    old = torch.load(tmp_path / "runs/t/last.pt", weights_only=True)["spec_hash"]
    assert "trained from a different spec" in result.err and old[:16] in result.err


def test_training_through_a_step_is_a_located_error(train, write_spec):
    spec = write_spec("""
        name: stepnet
        inputs: {x: [N, 2]}
        layers:
          - unit: {op: linear, out_features: 1}
          - fire: step
    """)
    result = train(spec, "data: {dataset: xor}\ntrain: {loss: bce}\n")
    assert result.code == 1 and "Traceback" not in result.err
    assert f"{spec}:5:5: error: cannot train 'stepnet': layer 'fire' uses step" in result.err


def test_a_stage_with_nothing_to_train_is_refused(train):
    result = train("specs/perceptron_and.yaml", "data: {dataset: xor}\ntrain: {loss: bce}\n")
    assert result.code == 1 and "stage 'train' trains no parameter of 'perceptron_and'" in result.err


def test_unknown_stage_layers_are_located(train):
    result = train("specs/digits_cnn.yaml", "data: {dataset: digits}\nstages:\n  - {train: [layer1, layr2]}\n")
    assert result.code == 1
    assert "train.yaml:4:22: error: stage 'stage1': no layer or block instance 'layr2'" in result.err


def test_a_decoder_of_the_wrong_shape_is_located(train, write_spec):
    decoder = write_spec("name: dec\ninputs: {code: [N, 32, 4, 4]}\nlayers: [{f: flatten}]\n", "dec.yaml")
    result = train("specs/digits_cnn.yaml", "data: {dataset: digits}\n"
                   f"stages:\n  - objective: {{reconstruct: layer1, decoder: {decoder}}}\n")
    assert result.code == 1
    assert "decoder 'dec' maps N×32×4×4 to N×512; reconstructing 'layer1' needs N×32×4×4 to N×1×8×8" in result.err


def test_a_later_stage_that_cannot_run_is_refused_before_any_folder_or_training(train, tmp_path):
    result = train("specs/digits_cnn.yaml", "data: {dataset: digits, batch_size: 512}\n"
                   "stages:\n  - {epochs: 1}\n  - objective: {reconstruct: layer1, decoder: missing.yaml}\n")
    assert result.code == 1 and result.out == ""
    assert f"{tmp_path / 'train.yaml'}:5:47: error: no such decoder spec: {tmp_path / 'missing.yaml'}" in result.err
    assert not (tmp_path / "runs").exists()


def test_pretraining_trains_only_its_layers(train, tmp_path):
    """A reconstruct stage moves its layer (and decoder) only; fine-tuning then moves all."""
    from nncompile.compiler import to_torch

    initial = to_torch("specs/digits_cnn.yaml", seed=0).state_dict()
    result = train("specs/digits_cnn.yaml", "data: {dataset: digits, batch_size: 128}\n"
                   "stages:\n  - {train: [layer2], epochs: 1, objective: {reconstruct: layer2}}\n")
    assert result.code == 0, result.err
    assert "objective: reconstruct layer2" in result.out
    trained = torch.load(tmp_path / "runs/t/last.pt", weights_only=True)[MODEL_KEY]
    changed = {k for k in initial if not torch.equal(initial[k], trained[k])}
    assert changed == {"layer2.conv1.weight", "layer2.conv1.bias", "layer2.conv2.weight", "layer2.conv2.bias"}


@pytest.fixture
def line_fit(tmp_path, write_spec):
    """A 1→1 linear map fitted by mse with plain SGD: a large lr makes it diverge within steps."""
    import numpy as np

    np.savez(tmp_path / "line.npz", x=np.full((8, 1), 3, np.float32), y=np.full((8, 1), -5, np.float32))
    spec = write_spec("name: line\ninputs: {x: [N, 1]}\nlayers: [{fc: {op: linear, out_features: 1}}]\n")
    config = tmp_path / "train.yaml"
    config.write_text(f"run: {{dir: {tmp_path / 'runs'}, name: t, threads: 1, checkpoint_every: 1}}\n"
                      "data: {dataset: npz, path: line.npz, batch_size: 4}\n"
                      "train: {epochs: 2, loss: mse, metrics: [], optimizer: sgd, momentum: 0, lr: 0.01}\n")
    return spec, config


def finite_weights(path) -> bool:
    return all(t.isfinite().all() for t in torch.load(path, weights_only=True)[MODEL_KEY].values())


def test_a_non_finite_loss_stops_the_run_at_its_step_and_keeps_the_good_checkpoints(line_fit, run_nncompile, cli,
                                                                                   tmp_path):
    spec, config = line_fit
    assert cli("train", spec, "--config", config, "--no-progress").code == 0
    folder = tmp_path / "runs/t"
    result = run_nncompile("train", spec, "--config", config, "--no-progress", "--exist-ok", "--set", "train.lr=1e10")
    assert result.code == 1 and "Traceback" not in result.err
    assert ("<command line>:1:16: error: training stopped at stage 'train', epoch 2, step 1: the loss is inf "
            "[non-finite]") in result.err
    assert "note: the learning rate is 1e+10 (train.lr): try a lower one" in result.err
    assert "[train] epoch 1/2" in result.out and "epoch 2/2" not in result.out
    last = torch.load(folder / "last.pt", weights_only=True)
    assert (last["epoch"], last["step"]) == (1, 0)  # the end of epoch 1, just before the step that broke
    assert finite_weights(folder / "last.pt") and finite_weights(folder / "best.pt")


def test_weights_that_overflow_are_never_checkpointed(line_fit, cli, tmp_path):
    spec, config = line_fit
    assert cli("train", spec, "--config", config, "--no-progress").code == 0
    folder = tmp_path / "runs/t"
    before = {name: (folder / name).read_bytes() for name in ("last.pt", "best.pt")}
    result = cli("train", spec, "--config", config, "--no-progress", "--exist-ok", "--set", "train.lr=3e38")
    assert result.code == 1
    assert "training stopped at stage 'train', epoch 1, step 1: the weights are no longer finite" in result.err
    assert {name: (folder / name).read_bytes() for name in before} == before


def test_the_finite_check_costs_one_fused_reduction_a_step(line_fit, cli, monkeypatch):
    """No per-parameter sync: the gradients are reduced by one get_total_norm call per step."""
    from nncompile.runtime import train as train_module

    calls = []
    real = train_module.get_total_norm
    monkeypatch.setattr(train_module, "get_total_norm", lambda tensors, *a: calls.append(a) or real(tensors, *a))
    spec, config = line_fit
    assert cli("train", spec, "--config", config, "--no-progress", "--set", "run.checkpoint_every=0").code == 0
    steps, saves = 2 * 2, 2
    assert len(calls) == steps + saves


def test_a_stage_that_diverges_is_located_at_its_own_lr(line_fit, cli):
    spec, config = line_fit
    config.write_text(config.read_text() + "stages: [{epochs: 1, lr: 0.001}, {lr: 1e10}]\n")
    result = cli("train", spec, "--config", config, "--no-progress")
    assert result.code == 1
    assert f"{config}:4:39: error: training stopped at stage 'stage2', epoch 2, step 1: the loss is inf" in result.err
    assert "note: the learning rate is 1e+10 (stages[1].lr): try a lower one\n" in result.err
