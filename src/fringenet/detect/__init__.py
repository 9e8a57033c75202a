"""Whole-scene detection: sliding-window scans of large scenes and stacks, vectorising and filtering.

``scan_scene`` runs a segmentation bundle over a scene of any size in bands of overlapping
windows (locally or on a Dask cluster) and writes ``probability.tif`` and ``detections.tif``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from fringenet.detect.filters import (
        DEFAULT_MIN_SLOPE_DEG,
        default_min_slope,
        remove_small_objects,
        slope_filter,
    )
    from fringenet.detect.scene import SceneScan, connect, predict_scene, scan_scene
    from fringenet.detect.sources import ArraySource, DatasetSource, GeoTiffSource, WindowSource
    from fringenet.detect.vectorise import to_geojson, vectorise_detections
    from fringenet.detect.windows import blend_weights, window_origins

# Submodules load on first use: scanning loads torch, which the light parts of this package
# (filters, vectorising) do not need.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "filters": ["DEFAULT_MIN_SLOPE_DEG", "default_min_slope", "remove_small_objects", "slope_filter"],
        "scene": ["SceneScan", "connect", "predict_scene", "scan_scene"],
        "sources": ["ArraySource", "DatasetSource", "GeoTiffSource", "WindowSource"],
        "vectorise": ["to_geojson", "vectorise_detections"],
        "windows": ["blend_weights", "window_origins"],
    },
)
