"""Evaluation of deforming-area segmentation: pixel, object and size-stratified metrics, and
non-learned baselines computed on the same patches."""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
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

# Submodules load on first use: importing one light submodule (e.g. fringenet.io.atomic) must not
# import the whole package (torch, zarr, h5py, the simulator), which cost a small scene seconds.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "baselines": [
            "BASELINES",
            "Baseline",
            "coherent_gradient_otsu",
            "low_coherence_otsu",
            "phase_gradient_score",
            "run_baseline",
        ],
        "metrics": [
            "ObjectDetection",
            "PixelCounts",
            "ThresholdSweep",
            "best_threshold",
            "object_detection",
            "pixel_counts",
            "segmentation_metrics",
            "size_terciles",
            "threshold_sweep",
        ],
    },
)
