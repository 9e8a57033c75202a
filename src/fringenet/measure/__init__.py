"""Measuring flagged targets: crop, reference, unwrap, invert and write a per-target time series."""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from fringenet.measure.crop import crop, margin_for, target_window, window_transform
    from fringenet.measure.reference import choose_reference_area
    from fringenet.measure.target import TargetMeasurement, measure_target
    from fringenet.measure.write import write_target_series

# Submodules load on first use: importing one light submodule (e.g. fringenet.io.atomic) must not
# import the whole package (torch, zarr, h5py, the simulator), which cost a small scene seconds.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "crop": ["crop", "margin_for", "target_window", "window_transform"],
        "reference": ["choose_reference_area"],
        "target": ["TargetMeasurement", "measure_target"],
        "write": ["write_target_series"],
    },
)
