"""Whole-scene detection: sliding-window scans of large scenes and stacks, vectorising and filtering.

``scan_scene`` runs a segmentation bundle over a scene of any size in bands of overlapping
windows (locally or on a Dask cluster) and writes ``probability.tif`` and ``detections.tif``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fringenet.detect.filters import (
    DEFAULT_MIN_SLOPE_DEG,
    default_min_slope,
    remove_small_objects,
    slope_filter,
)
from fringenet.detect.vectorise import to_geojson, vectorise_detections

# Scene scanning (windows, sources, scene), imported on first use: it loads torch, which
# the light parts of this package do not need.
if TYPE_CHECKING:
    from fringenet.detect.scene import SceneScan, connect, predict_scene, scan_scene
    from fringenet.detect.sources import ArraySource, DatasetSource, GeoTiffSource, WindowSource
    from fringenet.detect.windows import blend_weights, window_origins
_SCAN = {
    "SceneScan": "scene", "connect": "scene", "scan_scene": "scene", "predict_scene": "scene",
    "ArraySource": "sources", "DatasetSource": "sources", "GeoTiffSource": "sources", "WindowSource": "sources",
    "blend_weights": "windows", "window_origins": "windows",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _SCAN:
        return getattr(importlib.import_module(f"fringenet.detect.{_SCAN[name]}"), name)
    raise AttributeError(f"module 'fringenet.detect' has no attribute {name!r}")


__all__ = [
    "DEFAULT_MIN_SLOPE_DEG",
    "ArraySource",
    "DatasetSource",
    "GeoTiffSource",
    "SceneScan",
    "WindowSource",
    "blend_weights",
    "connect",
    "default_min_slope",
    "predict_scene",
    "remove_small_objects",
    "scan_scene",
    "slope_filter",
    "to_geojson",
    "vectorise_detections",
    "window_origins",
]
