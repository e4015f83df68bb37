"""Metrics against independent computations (scikit-learn's)."""

import torch
from sklearn.metrics import accuracy_score, jaccard_score, top_k_accuracy_score

from nncompile.runtime.metrics import LOSSES, Meter, box_iou
from nncompile.runtime.tasks import metric_problem


def test_accuracy_and_top5_match_sklearn():
    g = torch.Generator().manual_seed(0)
    scores, labels = torch.randn(50, 8, generator=g), torch.randint(0, 8, (50,), generator=g)
    meter = Meter(LOSSES["cross_entropy"], ["accuracy", "top5"], 8)
    for part in range(0, 50, 16):  # sums over batches equal the whole
        meter.update(scores[part:part + 16], labels[part:part + 16], 1.0)
    results = meter.results()
    assert abs(results["accuracy"] - accuracy_score(labels, scores.argmax(1))) < 1e-12
    assert abs(results["top5"] - top_k_accuracy_score(labels, scores, k=5, labels=range(8))) < 1e-12
    assert results["loss"] == 1.0


def test_mean_iou_and_pixel_accuracy_match_sklearn():
    g = torch.Generator().manual_seed(1)
    scores, masks = torch.randn(3, 4, 6, 5, generator=g), torch.randint(0, 3, (3, 6, 5), generator=g)
    meter = Meter(LOSSES["cross_entropy"], ["mean_iou", "pixel_accuracy"], 4)
    meter.update(scores, masks, 0.5)
    predicted = scores.argmax(1).flatten()
    present = sorted(set(masks.flatten().tolist()) | set(predicted.tolist()))
    results = meter.results()
    assert abs(results["mean_iou"] - jaccard_score(masks.flatten(), predicted, average="macro", labels=present)) < 1e-12
    assert abs(results["pixel_accuracy"] - accuracy_score(masks.flatten(), predicted)) < 1e-12


def test_binary_predictions_threshold_probabilities_or_logits():
    out = torch.tensor([[0.2], [0.7], [0.5]])
    assert LOSSES["bce"].predict(out).tolist() == [0, 1, 1]
    assert LOSSES["bce_with_logits"].predict(out - 0.6).tolist() == [0, 1, 0]


def test_metrics_that_cannot_be_measured_are_named():
    assert "needs class predictions" in metric_problem("accuracy", "mse", 1, (1,))
    assert "top5 needs scores for 5 or more classes" in metric_problem("top5", "cross_entropy", 3, (3,))
    assert metric_problem("top5", "cross_entropy", 10, (10,)) is None
    assert "an N×4 output" in metric_problem("box_iou", "cross_entropy", 4, (4,))
    assert "this one is N×5 with loss 'smooth_l1'" in metric_problem("box_iou", "smooth_l1", 5, (5,))
    assert metric_problem("box_iou", "smooth_l1", 4, (4,)) is None


def _box_iou_as_torchvision_writes_it(boxes1, boxes2):
    """torchvision.ops.box_iou's pure-Python formula (torchvision/ops/boxes.py: _box_inter_union),
    every pair N×M; boxes are well formed (x1 ≤ x2, y1 ≤ y2) there."""
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    lt = torch.max(boxes1[:, None, :2], boxes2[:, :2])
    rb = torch.min(boxes1[:, None, 2:], boxes2[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(2)
    return inter / (area1[:, None] + area2 - inter)


def _random_boxes(n, generator):
    corners = torch.rand(n, 2, 2, generator=generator)
    return torch.cat([corners.min(1).values, corners.max(1).values], 1)  # x1, y1, x2, y2


def test_box_iou_is_torchvisions_on_each_pair_and_hand_cases():
    g = torch.Generator().manual_seed(2)
    predicted = _random_boxes(200, g)
    near = predicted[:100] + 0.05 * torch.randn(100, 4, generator=g)  # half near the prediction, half anywhere
    target = torch.cat([torch.cat([near[:, :2].minimum(near[:, 2:]), near[:, :2].maximum(near[:, 2:])], 1),
                        _random_boxes(100, g)])
    expected = _box_iou_as_torchvision_writes_it(predicted, target).diagonal()
    assert torch.allclose(box_iou(predicted, target), expected, atol=1e-6)
    assert (expected == 0).any() and (expected > 0.5).any()  # disjoint and overlapping pairs both occur
    hand = box_iou(torch.tensor([[0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 1, 1], [3, 3, 1, 1.0]]),
                   torch.tensor([[0, 0, 2, 2], [1, 1, 3, 3], [2, 2, 4, 4], [0, 0, 2, 2], [0, 0, 2, 2.0]]))
    # the same box; a corner's square (1 of 4 + 4 − 1); touching; inside; inverted (covers nothing)
    assert torch.allclose(hand, torch.tensor([1.0, 1 / 7, 0.0, 0.25, 0.0]))


def test_the_meter_averages_box_iou_over_samples_across_batches():
    g = torch.Generator().manual_seed(3)
    predicted, target = _random_boxes(50, g), _random_boxes(50, g)
    meter = Meter(LOSSES["smooth_l1"], ["box_iou"], 4)
    for part in range(0, 50, 16):
        meter.update(predicted[part:part + 16], target[part:part + 16], 0.25)
    results = meter.results()
    assert abs(results["box_iou"] - box_iou(predicted, target).double().mean().item()) < 1e-6
    assert results["loss"] == 0.25


def test_a_meter_resumes_from_a_checkpoint_written_before_box_iou():
    meter = Meter(LOSSES["cross_entropy"], ["accuracy"], 3)
    meter.load_state_dict({"sums": torch.tensor([2.0, 4, 3, 0, 4], dtype=torch.float64),
                           "confusion": torch.zeros(3, 3, dtype=torch.float64)})
    meter.update(torch.tensor([[0.0, 1, 0], [1, 0, 0]]), torch.tensor([1, 2]), 1.0)
    assert meter.results() == {"loss": 4 / 6, "accuracy": 4 / 6}
