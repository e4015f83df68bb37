"""Metrics against independent computations (scikit-learn's)."""

import torch
from sklearn.metrics import accuracy_score, jaccard_score, top_k_accuracy_score

from nncompile.runtime.metrics import LOSSES, Meter, check_metrics


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
    assert "needs class predictions" in check_metrics("mse", ["accuracy"], 1)
    assert "top5 needs scores for 5 or more classes" in check_metrics("cross_entropy", ["top5"], 3)
    assert check_metrics("cross_entropy", ["accuracy", "top5"], 10) is None
