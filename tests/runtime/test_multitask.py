"""Multi-task objectives: a loss per output, matched to the dataset's targets by name, refused
with located errors when the names or the kinds do not fit; figures per task, resumable."""

import csv
import json

import pytest
import torch

from nncompile.runtime.metrics import box_iou

SPEC = "specs/localize_shapes.yaml"
TASKS = "{class: cross_entropy, box: {loss: smooth_l1, weight: 5}}"


@pytest.fixture
def train(tmp_path, cli, in_repo):
    """train(loss, *args, metrics=…, data=…) -> (CliResult, config path); a small one_shape run in tmp_path/runs."""

    def run(loss: str = TASKS, *args, metrics="[accuracy, box_iou]", data="dataset: one_shape, size: 96", spec=SPEC):
        config = tmp_path / "train.yaml"
        config.write_text(f"run: {{dir: {tmp_path / 'runs'}, name: t, threads: 1}}\n"
                          f"data: {{{data}, batch_size: 16, val_split: 0.25}}\n"
                          f"train:\n  epochs: 2\n  loss: {loss}\n  metrics: {metrics}\n")
        return cli("train", spec, "--config", config, "--no-progress", *args), config

    return run


def test_each_task_has_its_figures_in_the_csv_the_summary_and_the_test(train, tmp_path):
    result, _ = train(data="dataset: one_shape, size: 96, test_split: 0.25")
    assert result.code == 0, result.err
    rows = list(csv.DictReader(open(tmp_path / "runs/t/metrics.csv")))
    assert list(rows[0])[4:14] == [f"{split}_{figure}" for split in ("train", "val") for figure in (
        "loss", "class.loss", "class.accuracy", "box.loss", "box.box_iou")]
    for row in rows:  # the total is the weighted sum of the tasks' losses, each averaged over the samples
        for split in ("train", "val"):
            total = float(row[f"{split}_class.loss"]) + 5 * float(row[f"{split}_box.loss"])
            assert float(row[f"{split}_loss"]) == pytest.approx(total, rel=1e-5)
            assert 0 <= float(row[f"{split}_box.box_iou"]) <= 1
    assert "class.accuracy" in result.out and "box.box_iou" in result.out
    # the plot has a panel each for the loss, the accuracy and the box IoU: 3 × 5 inches at 80 dpi
    png = (tmp_path / "runs/t/metrics.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 3 * 5 * 80
    test = json.loads((tmp_path / "runs/t/test.json").read_text())
    assert set(test) == {"loss", "class.loss", "class.accuracy", "box.loss", "box.box_iou"}
    # the test figures are best.pt's, recomputed here from the weights and the held-out images
    from nncompile.compiler import build, to_torch
    from nncompile.runtime import config as config_module, data

    model = to_torch(build(SPEC))
    model.load_state_dict(torch.load(tmp_path / "runs/t/best.pt", weights_only=True)["model"])
    model.eval()
    splits = data.load(config_module.load(tmp_path / "train.yaml"), build(SPEC))
    x = torch.stack([splits.test[i][0] for i in range(len(splits.test))])
    boxes = torch.stack([splits.test[i][1]["box"] for i in range(len(splits.test))])
    with torch.no_grad():
        _, predicted = model(x)
    assert test["box.box_iou"] == pytest.approx(box_iou(predicted, boxes).mean().item(), rel=1e-5)


@pytest.mark.parametrize("stop_at", ["epoch end", "mid-epoch"])
def test_a_resumed_multitask_run_records_the_uninterrupted_figures(train, tmp_path, interrupted_after_checkpoint, stop_at):
    """Each task's meter is part of the checkpoint: stopped after epoch 1 (or 2 steps into epoch 2) and
    resumed, the run ends with the weights and the metrics.csv of a run never stopped."""
    assert train(TASKS, "--set", "run.checkpoint_every=2")[0].code == 0
    with interrupted_after_checkpoint(stop_at):
        assert train(TASKS, "--set", "run.checkpoint_every=2", "--set", "run.name=cut")[0].code == 130
    resumed = train(TASKS, "--set", "run.checkpoint_every=2", "--set", "run.name=cut", "--resume")[0]
    assert resumed.code == 0, resumed.err
    tables = [[{k: v for k, v in row.items() if k not in ("samples_per_s", "seconds")}
               for row in csv.DictReader(open(tmp_path / "runs" / name / "metrics.csv"))] for name in ("t", "cut")]
    assert tables[0] == tables[1] and len(tables[0]) == 2 and "val_box.box_iou" in tables[0][0]
    weights = [torch.load(tmp_path / "runs" / name / "last.pt", weights_only=True)["model"] for name in ("t", "cut")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.mark.parametrize("loss, metrics, message, at", [
    ("{class: cross_entropy, boxes: smooth_l1}", "[accuracy]",
     "'localize_shapes' has no output 'boxes' (did you mean 'box'?); its outputs: class, box [unknown-output]",
     "boxes"),
    ("{class: cross_entropy}", "[accuracy]",
     "output 'box' of 'localize_shapes' has no loss: train.loss names a loss for every output (class, box) "
     "[unknown-output]", "{class: cross_entropy}"),
    ("{class: cross_entropy, box: {loss: mse, beta: 2}}", "[accuracy]",
     "beta is smooth_l1's; loss 'mse' takes none [bad-config]", "2"),
    ("{class: smooth_l1, box: smooth_l1}", "[accuracy]",
     "metric 'accuracy' fits no output's task: class: metric 'accuracy' needs class predictions", "accuracy"),
    ("{class: cross_entropy, box: smooth_l1}", "[accuracy, top5]",
     "metric 'top5' fits no output's task: class: top5 needs scores for 5 or more classes; the output has 3",
     "top5"),
    ("{class: smooth_l1, box: smooth_l1}", "[]",
     "loss 'smooth_l1' compares values; dataset 'one_shape' gives class indices for output 'class' [data-labels]",
     "smooth_l1"),
    ("{class: cross_entropy, box: cross_entropy}", "[]",
     "dataset 'one_shape' gives targets of shape 4; with loss 'cross_entropy' the spec's output N×4 needs a scalar "
     "[data-shape]", "one_shape"),
    ("cross_entropy", "[accuracy]",
     "dataset 'one_shape' gives a target per output (class, box): give train.loss a loss for each", "cross_entropy"),
])
def test_a_task_that_does_not_fit_is_a_located_error(train, loss, metrics, message, at):
    spec = "specs/shapes_fcn.yaml" if loss == "cross_entropy" else SPEC  # one output: a single loss is taken
    result, config = train(loss, metrics=metrics, spec=spec)
    assert result.code == 1 and "Traceback" not in result.err, result.err
    first = result.err.splitlines()[0]
    assert message in first, first
    line, col = (int(n) for n in first.split(": error")[0].split(":")[-2:])
    text = config.read_text().splitlines()[line - 1]
    assert text[col - 1:].startswith(at), (text, col)
    assert not (config.parent / "runs").exists()  # refused before any folder


def test_a_two_output_spec_with_one_loss_is_refused_at_its_output_through_the_cli(run_nncompile, in_repo):
    result = run_nncompile("train", SPEC, "--config", "examples/xor.yaml")
    assert result.code == 1 and "Traceback" not in result.err
    line = next(i for i, text in enumerate(open(SPEC), 1) if text.startswith("  - box:"))
    assert result.err.startswith(f"{SPEC}:{line}:5: error: 'localize_shapes' has 2 outputs (class, box) but "
                                 "train.loss is one loss, 'bce' [train-io]")
    assert "note: train.loss is set at examples/xor.yaml:10:9; give a loss per output, by name" in result.err


def test_a_lone_task_trains_an_unnamed_target_with_its_weight(train, tmp_path):
    """One output, a mapping of one loss: the dataset's one target is that task's, and the loss
    figure is the weighted one (an lr too small to move the weights makes both runs alike)."""
    figures = []
    for name, loss in (("plain", "cross_entropy"), ("weighted", "{fuse0: {loss: cross_entropy, weight: 2}}")):
        result, _ = train(loss, "--set", f"run.name={name}", "--set", "train.lr=1e-30", metrics="[mean_iou]",
                          data="dataset: shapes, size: 64", spec="specs/shapes_fcn.yaml")
        assert result.code == 0, result.err
        figures.append(next(csv.DictReader(open(tmp_path / "runs" / name / "metrics.csv"))))
    plain, weighted = figures
    assert list(plain) == list(weighted)  # no task prefix for a lone output
    assert float(weighted["val_loss"]) == pytest.approx(2 * float(plain["val_loss"]), rel=1e-6)
    assert weighted["val_mean_iou"] == plain["val_mean_iou"]
