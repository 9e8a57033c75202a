"""Evaluation of deforming-area segmentation: pixel, object and size-stratified metrics, and
non-learned baselines computed on the same patches."""

from __future__ import annotations

from fringenet.evaluate.baselines import (
    BASELINES,
    Baseline,
    coherent_gradient_otsu,
    low_coherence_otsu,
    phase_gradient_score,
    run_baseline,
)
from fringenet.evaluate.metrics import (
    ObjectDetection,
    PixelCounts,
    ThresholdSweep,
    best_threshold,
    object_detection,
    pixel_counts,
    segmentation_metrics,
    size_terciles,
    threshold_sweep,
)

__all__ = [
    "BASELINES",
    "Baseline",
    "ObjectDetection",
    "PixelCounts",
    "ThresholdSweep",
    "best_threshold",
    "coherent_gradient_otsu",
    "low_coherence_otsu",
    "object_detection",
    "phase_gradient_score",
    "pixel_counts",
    "run_baseline",
    "segmentation_metrics",
    "size_terciles",
    "threshold_sweep",
]
