"""Measuring flagged targets: crop, reference, unwrap, invert and write a per-target time series."""

from __future__ import annotations

from fringenet.measure.crop import crop, margin_for, target_window, window_transform
from fringenet.measure.reference import choose_reference_area
from fringenet.measure.target import TargetMeasurement, measure_target
from fringenet.measure.write import write_target_series

__all__ = [
    "TargetMeasurement",
    "choose_reference_area",
    "crop",
    "margin_for",
    "measure_target",
    "target_window",
    "window_transform",
    "write_target_series",
]
