"""Pixel, threshold-sweep, object and size-stratified segmentation metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fringenet.errors import InputError
from fringenet.evaluate.metrics import (
    PixelCounts,
    ThresholdSweep,
    best_threshold,
    object_detection,
    pixel_counts,
    segmentation_metrics,
    size_terciles,
    threshold_sweep,
)


def test_pixel_counts_hand_computed() -> None:
    labels = np.array([[1, 1, 0], [0, 0, 1]], dtype=bool)
    pred = np.array([[1, 0, 1], [0, 1, 1]], dtype=bool)
    valid = np.array([[1, 1, 1], [1, 0, 1]], dtype=bool)  # the FP at (1, 1) is invalid
    c = pixel_counts(pred, labels, valid)
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 1)
    assert c.precision == pytest.approx(2 / 3)
    assert c.recall == pytest.approx(2 / 3)
    assert c.f1 == pytest.approx(2 / 3)
    assert c.iou == pytest.approx(0.5)
    d = c.as_dict()
    assert set(d) == {"precision", "recall", "f1", "iou", "tp", "fp", "fn", "tn"}
    assert all(type(x) in (int, float) for x in d.values())


def test_zero_denominators_are_zero() -> None:
    empty = PixelCounts(tp=0, fp=0, fn=0, tn=10)
    assert (empty.precision, empty.recall, empty.f1, empty.iou) == (0.0, 0.0, 0.0, 0.0)
    only_fp = PixelCounts(tp=0, fp=5, fn=0, tn=5)
    assert only_fp.precision == 0.0 and only_fp.recall == 0.0 and only_fp.iou == 0.0


def test_pixel_counts_rejects_mismatched_shapes() -> None:
    with pytest.raises(InputError, match="shape"):
        pixel_counts(np.zeros((2, 4, 4), bool), np.zeros((2, 4, 5), bool), np.ones((2, 4, 4), bool))


def test_sweep_known_best_threshold_and_ge_rule() -> None:
    scores = np.array([[0.8, 0.9, 0.1, 0.5, 0.85, 0.99]])
    labels = np.array([[1, 1, 0, 0, 0, 0]], dtype=bool)
    valid = np.array([[1, 1, 1, 1, 1, 0]], dtype=bool)  # the 0.99 negative is invalid
    sweep = threshold_sweep(scores, labels, valid, thresholds=[0.95, 0.2, 0.6, 0.8, 0.86])
    assert np.allclose(sweep.thresholds, [0.2, 0.6, 0.8, 0.86, 0.95])
    # t=0.8 still predicts the 0.8 pixel (score >= t), so 0.6 and 0.8 tie at IoU 2/3
    assert np.allclose(sweep.iou, [0.5, 2 / 3, 2 / 3, 0.5, 0.0])
    assert np.allclose(sweep.precision, [0.5, 2 / 3, 2 / 3, 1.0, 0.0])
    assert np.allclose(sweep.recall, [1.0, 1.0, 1.0, 0.5, 0.0])
    assert best_threshold(sweep) == pytest.approx(0.6)  # tie -> smallest threshold


def test_sweep_matches_brute_force_and_default_thresholds() -> None:
    rng = np.random.default_rng(3)
    labels = rng.random((4, 32, 32)) < 0.2
    scores = np.clip(0.35 * labels + rng.random(labels.shape) * 0.65, 0, 1)
    valid = rng.random(labels.shape) < 0.9
    scores[0, 0, :5] = np.nan  # never predicted
    sweep = threshold_sweep(scores, labels, valid)
    assert sweep.thresholds.size == 199
    assert sweep.thresholds[0] == pytest.approx(0.005) and sweep.thresholds[-1] == pytest.approx(0.995)
    for k in (0, 57, 120, 198):
        t = sweep.thresholds[k]
        with np.errstate(invalid="ignore"):
            c = pixel_counts(scores >= t, labels, valid)
        assert sweep.iou[k] == pytest.approx(c.iou)
        assert sweep.precision[k] == pytest.approx(c.precision)
        assert sweep.recall[k] == pytest.approx(c.recall)
        assert sweep.f1[k] == pytest.approx(c.f1)


def test_sweep_uses_quantiles_for_unbounded_scores() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 3.0, (2, 16, 16))
    valid = np.ones(logits.shape, bool)
    sweep = threshold_sweep(logits, logits > 1.0, valid)
    assert sweep.thresholds.min() >= logits.min() and sweep.thresholds.max() <= logits.max()
    assert np.all(np.diff(sweep.thresholds) > 0)
    # labels are exactly "logit > 1", so the best threshold sits just above 1 with IoU ~ 1
    assert sweep.iou.max() > 0.95
    assert 0.5 < best_threshold(sweep) < 1.5


def test_best_threshold_is_smallest_on_ties() -> None:
    t = np.array([0.1, 0.2, 0.3, 0.4])
    sweep = ThresholdSweep(t, t, t, t, iou=np.array([0.2, 0.7, 0.7, 0.1]))
    assert best_threshold(sweep) == 0.2


def test_object_recall_by_coverage() -> None:
    labels = np.zeros((1, 40, 40), bool)
    pred = np.zeros_like(labels)
    labels[0, 2:12, 2:12] = True  # object A, 100 px
    labels[0, 20:30, 20:30] = True  # object B, 100 px
    pred[0, 2:5, 2:12] = True  # covers 30 % of A
    pred[0, 20, 20:30] = True  # covers 10 % of B
    pred[0, 35:38, 35:38] = True  # false alarm
    det = object_detection(pred, labels, np.ones_like(labels), min_coverage=0.25)
    assert det.object_areas.tolist() == [100, 100]
    assert det.object_found.tolist() == [True, False]
    assert det.recall == pytest.approx(0.5)
    assert (det.n_predicted, det.n_predicted_correct) == (3, 2)
    assert det.precision == pytest.approx(2 / 3)
    assert det.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert object_detection(pred, labels, np.ones_like(labels), min_coverage=0.1).recall == 1.0


def test_objects_are_8_connected_per_patch_and_valid_only() -> None:
    labels = np.zeros((2, 8, 8), bool)
    labels[:, 1, 1] = labels[:, 2, 2] = True  # diagonal neighbours: one object per patch
    valid = np.ones_like(labels)
    det = object_detection(np.zeros_like(labels), labels, valid)
    assert det.object_areas.tolist() == [2, 2]  # same place in two patches: two objects
    valid[1, 2, 2] = False
    det = object_detection(labels, labels, valid)
    assert det.object_areas.tolist() == [2, 1]
    assert det.recall == 1.0 and det.precision == 1.0


def test_size_terciles() -> None:
    assert size_terciles([9, 0, 6, 3]) == pytest.approx((3.0, 6.0))
    with pytest.raises(InputError):
        size_terciles([])


def test_segmentation_metrics_by_size() -> None:
    labels = np.zeros((4, 20, 20), bool)
    labels[0, :2, :2] = True  # 4 px, small
    labels[1, :4, :4] = True  # 16 px, medium
    labels[2, :8, :8] = True  # 64 px, large
    scores = np.zeros(labels.shape)
    scores[2] = labels[2] * 0.9  # large object exactly predicted
    scores[1, :2, :4] = 0.7  # half of the medium one
    scores[3, 10:12, 10:12] = 0.8  # false alarm on the label-free patch
    valid = np.ones_like(labels)
    out = segmentation_metrics(scores, labels, valid, threshold=0.5)
    json.dumps(out)
    assert out["n_patches"] == 4 and out["n_valid_pixels"] == 1600 and out["n_labelled_pixels"] == 84
    assert out["pixel"]["tp"] == 72 and out["pixel"]["fp"] == 4 and out["pixel"]["fn"] == 12
    assert out["objects"]["recall"] == pytest.approx(2 / 3)
    assert out["objects"]["n_predicted"] == 3 and out["objects"]["n_predicted_correct"] == 2
    small, medium, large = (out["by_size"][k] for k in ("small", "medium", "large"))
    assert small["pixel"]["iou"] == 0.0 and small["object_recall"] == 0.0
    assert medium["pixel"]["iou"] == pytest.approx(0.5) and medium["object_recall"] == 1.0
    # the false alarm on patch 3 is not in any class: large stays perfect
    assert large["pixel"]["iou"] == 1.0 and large["pixel"]["fp"] == 0
    assert [small["n_patches"], medium["n_patches"], large["n_patches"]] == [1, 1, 1]
    assert small["area_range_px"] == [4, 4] and large["area_range_px"] == [64, 64]


def test_segmentation_metrics_all_negative_labels() -> None:
    labels = np.zeros((3, 16, 16), bool)
    scores = np.zeros(labels.shape)
    scores[0, 3:6, 3:6] = 1.0
    out = segmentation_metrics(scores, labels, np.ones_like(labels), threshold=0.5)
    json.dumps(out)
    assert out["pixel"]["iou"] == 0.0 and out["pixel"]["fp"] == 9
    assert out["objects"]["recall"] == 0.0 and out["objects"]["n_objects"] == 0
    assert out["objects"]["n_predicted"] == 1
    for cls in out["by_size"].values():
        assert cls["n_patches"] == 0 and cls["n_objects"] == 0 and cls["pixel"]["iou"] == 0.0
        assert cls["area_range_px"] == [None, None]


def test_segmentation_metrics_binary_prediction() -> None:
    labels = np.zeros((1, 6, 6), bool)
    labels[0, 1:3, 1:3] = True
    out = segmentation_metrics(labels.copy(), labels, np.ones_like(labels), threshold=None)
    assert out["threshold"] is None and out["pixel"]["iou"] == 1.0
    with pytest.raises(InputError, match="boolean"):
        segmentation_metrics(labels.astype(float), labels, np.ones_like(labels), threshold=None)
