"""Pixel- and object-level metrics for binary segmentation of deforming areas on image patches.

Every function takes patches shaped ``(N, H, W)`` (a single ``(H, W)`` patch is also accepted and
treated as ``N = 1``):

``scores``
    float, any monotone score (e.g. a probability); higher = more likely deforming. A pixel is
    predicted positive when ``score >= threshold``; NaN scores are never positive.
``labels``
    bool, True on deforming pixels.
``valid``
    bool, True where the pixel counts; invalid pixels are ignored by every metric.

Ratios whose denominator is zero are defined as 0.0 (e.g. precision with no predicted positives,
IoU when neither labels nor predictions contain a positive), so the output is always finite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from fringenet.errors import InputError

SIZE_CLASSES = ("small", "medium", "large")
"""Names of the size terciles, smallest first."""

# 8-connectivity within each patch, none across the patch axis: one ndimage.label call labels
# every patch of an (N, H, W) stack independently.
_STRUCTURE = np.zeros((3, 3, 3), dtype=bool)
_STRUCTURE[1] = True


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else 0.0


def _as_patches(name: str, array: ArrayLike) -> NDArray[Any]:
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise InputError(name, f"expected shape (N, H, W) or (H, W) (got {a.shape})")
    return a


def _as_mask(name: str, array: ArrayLike) -> NDArray[np.bool_]:
    a = _as_patches(name, array)
    if a.dtype == np.bool_:
        return a
    if not np.issubdtype(a.dtype, np.number) or not np.all((a == 0) | (a == 1)):
        raise InputError(name, "must be a boolean mask (or 0/1 values)")
    return a.astype(bool)


def _check_shapes(**arrays: NDArray[Any]) -> None:
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        raise InputError("segmentation metrics", f"arrays differ in shape: {shapes}")


def _inputs(
    pred_name: str, pred: ArrayLike, labels: ArrayLike, valid: ArrayLike
) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
    p, lab, v = _as_mask(pred_name, pred), _as_mask("labels", labels), _as_mask("valid", valid)
    _check_shapes(**{pred_name: p, "labels": lab, "valid": v})
    return p, lab, v


# --------------------------------------------------------------------------------------- pixels


@dataclass(frozen=True)
class PixelCounts:
    """Confusion-matrix counts over valid pixels; ratios are 0.0 when their denominator is 0."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        """``tp / (tp + fp)``; 0.0 when nothing is predicted positive."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """``tp / (tp + fn)``; 0.0 when nothing is labelled positive."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        """``2 tp / (2 tp + fp + fn)`` (harmonic mean of precision and recall); 0.0 if all are 0."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def iou(self) -> float:
        """``tp / (tp + fp + fn)``; 0.0 when labels and prediction are both empty."""
        return _ratio(self.tp, self.tp + self.fp + self.fn)

    def __add__(self, other: PixelCounts) -> PixelCounts:
        return PixelCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    def as_dict(self) -> dict[str, float | int]:
        """Ratios and counts as plain Python numbers (JSON-able)."""
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "iou": self.iou,
            "tp": int(self.tp),
            "fp": int(self.fp),
            "fn": int(self.fn),
            "tn": int(self.tn),
        }


def pixel_counts(pred: ArrayLike, labels: ArrayLike, valid: ArrayLike) -> PixelCounts:
    """Count true/false positives/negatives over the valid pixels.

    Parameters
    ----------
    pred, labels, valid
        Boolean masks of the same shape ``(N, H, W)`` or ``(H, W)``.
    """
    p, lab, v = _inputs("pred", pred, labels, valid)
    return _counts(p, lab, v)


def _counts(p: NDArray[np.bool_], lab: NDArray[np.bool_], v: NDArray[np.bool_]) -> PixelCounts:
    tp = int(np.count_nonzero(p & lab & v))
    n_pred = int(np.count_nonzero(p & v))
    n_lab = int(np.count_nonzero(lab & v))
    n_valid = int(np.count_nonzero(v))
    return PixelCounts(tp=tp, fp=n_pred - tp, fn=n_lab - tp, tn=n_valid - n_pred - n_lab + tp)


# ------------------------------------------------------------------------------ threshold sweep


@dataclass(frozen=True)
class ThresholdSweep:
    """Pixel metrics at each threshold (all 1-D float arrays of the same length, thresholds ascending)."""

    thresholds: NDArray[np.float64]
    precision: NDArray[np.float64]
    recall: NDArray[np.float64]
    f1: NDArray[np.float64]
    iou: NDArray[np.float64]


def default_thresholds(valid_scores: NDArray[np.floating], n: int = 199) -> NDArray[np.float64]:
    """``n`` thresholds evenly spaced strictly inside (0, 1) if all finite scores lie in [0, 1], else
    the matching quantiles of the finite scores (duplicates removed)."""
    q = np.linspace(0.0, 1.0, n + 2)[1:-1]
    finite = valid_scores[np.isfinite(valid_scores)]
    if finite.size == 0 or (finite.min() >= 0.0 and finite.max() <= 1.0):
        return q
    return np.unique(np.quantile(finite.astype(np.float64), q))


def threshold_sweep(
    scores: ArrayLike, labels: ArrayLike, valid: ArrayLike, thresholds: ArrayLike | None = None
) -> ThresholdSweep:
    """Pixel precision, recall, F1 and IoU for many thresholds at once.

    The valid scores of labelled and unlabelled pixels are sorted once; the number of each scoring
    ``>= t`` then follows from a binary search, so the cost is one sort plus O(log n) per
    threshold (about a second for 100 patches of 256 x 256 and 200 thresholds).

    Parameters
    ----------
    scores
        Float scores ``(N, H, W)`` or ``(H, W)``; NaN is never predicted positive.
    labels, valid
        Boolean masks of the same shape.
    thresholds
        1-D finite thresholds; sorted and de-duplicated. Default: see :func:`default_thresholds`
        (199 values in (0, 1) for probabilities, else quantiles of the valid scores).

    Returns
    -------
    ThresholdSweep
        Metrics of the prediction ``score >= threshold`` for each threshold (ascending).
    """
    s = _as_patches("scores", scores).astype(np.float64, copy=False)
    lab, v = _as_mask("labels", labels), _as_mask("valid", valid)
    _check_shapes(scores=s, labels=lab, valid=v)
    if thresholds is None:
        t = default_thresholds(s[v])
    else:
        t = np.unique(np.asarray(thresholds, dtype=np.float64))
        if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
            raise InputError("thresholds", "must be a non-empty 1-D array of finite numbers")
    # -inf sorts first and never reaches a finite threshold, which is what NaN should do
    pos = np.sort(np.nan_to_num(s[v & lab], nan=-np.inf))
    neg = np.sort(np.nan_to_num(s[v & ~lab], nan=-np.inf))
    tp = (pos.size - np.searchsorted(pos, t, side="left")).astype(np.float64)
    fp = (neg.size - np.searchsorted(neg, t, side="left")).astype(np.float64)
    fn = pos.size - tp

    def ratio(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.divide(num, den, out=np.zeros_like(num), where=den > 0)

    return ThresholdSweep(
        thresholds=t,
        precision=ratio(tp, tp + fp),
        recall=ratio(tp, tp + fn),
        f1=ratio(2.0 * tp, 2.0 * tp + fp + fn),
        iou=ratio(tp, tp + fp + fn),
    )


def best_threshold(sweep: ThresholdSweep) -> float:
    """The threshold with the highest pixel IoU; among equal maxima the smallest threshold.

    Preferring the smallest threshold on ties favours recall (more predicted pixels at the same
    IoU), and makes the choice deterministic.
    """
    iou = np.asarray(sweep.iou)
    if iou.size == 0:
        raise InputError("threshold sweep", "is empty")
    thresholds = np.asarray(sweep.thresholds, dtype=np.float64)
    return float(thresholds[iou == iou.max()].min())


# ---------------------------------------------------------------------------------- objects


@dataclass(frozen=True)
class ObjectDetection:
    """Object-level detection result of :func:`object_detection`."""

    object_areas: NDArray[np.int64]
    """Valid-pixel area (px) of each labelled object, in label order (patch by patch)."""
    object_found: NDArray[np.bool_]
    """Whether each labelled object was found."""
    n_predicted: int
    """Number of predicted objects."""
    n_predicted_correct: int
    """Number of predicted objects that lie on labelled pixels."""

    @property
    def n_objects(self) -> int:
        return int(self.object_areas.size)

    @property
    def recall(self) -> float:
        """Fraction of labelled objects found; 0.0 when there are no labelled objects."""
        return _ratio(int(np.count_nonzero(self.object_found)), self.object_found.size)

    @property
    def precision(self) -> float:
        """Fraction of predicted objects that are correct; 0.0 when nothing is predicted."""
        return _ratio(self.n_predicted_correct, self.n_predicted)

    @property
    def f1(self) -> float:
        """Harmonic mean of object recall and precision; 0.0 when both are 0."""
        r, p = self.recall, self.precision
        return _ratio(2.0 * r * p, r + p)

    def as_dict(self) -> dict[str, float | int]:
        """Ratios and counts as plain Python numbers (JSON-able)."""
        return {
            "recall": self.recall,
            "precision": self.precision,
            "f1": self.f1,
            "n_objects": self.n_objects,
            "n_found": int(np.count_nonzero(self.object_found)),
            "n_predicted": int(self.n_predicted),
            "n_predicted_correct": int(self.n_predicted_correct),
        }


def object_detection(
    pred: ArrayLike, labels: ArrayLike, valid: ArrayLike, min_coverage: float = 0.25
) -> ObjectDetection:
    """Match labelled and predicted objects by overlap.

    Objects are the 8-connected components, within each patch, of ``labels & valid``; predicted
    objects those of ``pred & valid``. A labelled object is *found* when predicted pixels cover at
    least ``min_coverage`` of its (valid) pixels; a predicted object is *correct* when at least
    ``min_coverage`` of its pixels are labelled. The two rules are independent, so one large
    prediction can find several objects.

    Parameters
    ----------
    pred, labels, valid
        Boolean masks ``(N, H, W)`` or ``(H, W)``.
    min_coverage
        Required overlap fraction, in (0, 1].
    """
    if not 0.0 < min_coverage <= 1.0:
        raise InputError("min_coverage", f"must be in (0, 1] (got {min_coverage})")
    p, lab, v = _inputs("pred", pred, labels, valid)
    p, lab = p & v, lab & v
    areas, covered = _component_overlap(lab, p)
    pred_sizes, pred_on_label = _component_overlap(p, lab)
    return ObjectDetection(
        object_areas=areas,
        object_found=covered >= min_coverage * areas,
        n_predicted=int(pred_sizes.size),
        n_predicted_correct=int(np.count_nonzero(pred_on_label >= min_coverage * pred_sizes)),
    )


def _component_overlap(
    mask: NDArray[np.bool_], other: NDArray[np.bool_]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Size of each component of ``mask`` and how many of its pixels are set in ``other``."""
    ids, n = ndimage.label(mask, structure=_STRUCTURE)
    sizes = np.bincount(ids.ravel(), minlength=n + 1)[1:]
    overlap = np.bincount(ids[other], minlength=n + 1)[1:]
    return sizes.astype(np.int64), overlap.astype(np.int64)


# ----------------------------------------------------------------------------------- summary


def size_terciles(areas: ArrayLike) -> tuple[float, float]:
    """The 1/3 and 2/3 quantiles of ``areas`` (px), the bounds of the small/medium/large classes.

    A value ``a`` is small if ``a <= lo``, medium if ``lo < a <= hi`` and large if ``a > hi``.
    """
    a = np.asarray(areas, dtype=np.float64).ravel()
    if a.size == 0:
        raise InputError("areas", "are empty; size terciles are undefined")
    lo, hi = np.quantile(a, [1.0 / 3.0, 2.0 / 3.0])
    return float(lo), float(hi)


def _size_class(values: NDArray[Any], bounds: tuple[float, float]) -> NDArray[np.int64]:
    """0, 1, 2 = small, medium, large."""
    return np.searchsorted(np.asarray(bounds), values, side="left").astype(np.int64)


def _range(values: NDArray[Any]) -> list[int | None]:
    return [int(values.min()), int(values.max())] if values.size else [None, None]


def segmentation_metrics(
    scores: ArrayLike,
    labels: ArrayLike,
    valid: ArrayLike,
    threshold: float | None,
    min_coverage: float = 0.25,
) -> dict[str, Any]:
    """Pixel, object and size-stratified metrics at one threshold, as a JSON-able dict.

    Parameters
    ----------
    scores
        Float scores ``(N, H, W)`` (prediction ``score >= threshold``), or, with ``threshold=None``,
        an already binary prediction (bool), e.g. from a threshold-free baseline.
    labels, valid
        Boolean masks of the same shape.
    threshold
        Decision threshold, or None for a binary ``scores``.
    min_coverage
        Overlap fraction for object matching, see :func:`object_detection`.

    Returns
    -------
    dict
        ``threshold``, ``pixel`` (:meth:`PixelCounts.as_dict`), ``objects``
        (:meth:`ObjectDetection.as_dict` plus ``min_coverage``), ``n_patches``, ``n_valid_pixels``,
        ``n_labelled_pixels`` (valid only) and ``by_size``: for each of ``small``, ``medium``,
        ``large``

        - ``pixel``: pooled pixel metrics of the patches in the class. Patches that contain
          labelled pixels are split by their labelled-pixel count at the terciles of those counts
          (:func:`size_terciles`); patches without labelled pixels belong to no class, so false
          positives on them appear only in the overall ``pixel`` metrics.
        - ``n_patches``, ``patch_labelled_px_range`` ([min, max] labelled px of those patches).
        - ``object_recall``, ``n_objects``, ``area_range_px`` ([min, max] object area): objects
          split at the terciles of all object areas.

        Ranges are ``[None, None]`` for an empty class. Without any labelled pixel every class is
        empty and all metrics are 0.
    """
    s = _as_patches("scores", scores)
    if threshold is None:
        if s.dtype != np.bool_:
            raise InputError("scores", "must be boolean when no threshold is given")
        pred = s
    else:
        if not np.isfinite(threshold):
            raise InputError("threshold", f"must be finite (got {threshold})")
        with np.errstate(invalid="ignore"):
            pred = s >= threshold
    p, lab, v = _inputs("scores", pred, labels, valid)

    counts = _counts(p, lab, v)
    detection = object_detection(p, lab, v, min_coverage)

    patch_labelled = np.count_nonzero(lab & v, axis=(1, 2))
    has_label = patch_labelled > 0
    patch_class = np.full(len(patch_labelled), -1, dtype=np.int64)
    if has_label.any():
        patch_class[has_label] = _size_class(
            patch_labelled[has_label], size_terciles(patch_labelled[has_label])
        )
    object_class = (
        _size_class(detection.object_areas, size_terciles(detection.object_areas))
        if detection.n_objects
        else np.zeros(0, dtype=np.int64)
    )

    by_size: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(SIZE_CLASSES):
        in_class = patch_class == k
        found = detection.object_found[object_class == k]
        by_size[name] = {
            "pixel": _counts(p[in_class], lab[in_class], v[in_class]).as_dict(),
            "n_patches": int(np.count_nonzero(in_class)),
            "patch_labelled_px_range": _range(patch_labelled[in_class]),
            "object_recall": _ratio(int(np.count_nonzero(found)), found.size),
            "n_objects": int(found.size),
            "area_range_px": _range(detection.object_areas[object_class == k]),
        }

    return {
        "threshold": None if threshold is None else float(threshold),
        "pixel": counts.as_dict(),
        "objects": {**detection.as_dict(), "min_coverage": float(min_coverage)},
        "by_size": by_size,
        "n_patches": int(p.shape[0]),
        "n_valid_pixels": int(np.count_nonzero(v)),
        "n_labelled_pixels": int(np.count_nonzero(lab & v)),
    }
