"""Training targets from label masks."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage


def soft_labels(label: NDArray[np.integer] | NDArray[np.bool_], sigma_px: float) -> NDArray[np.float32]:
    """Gaussian label smoothing: ``exp(-d**2 / (2 sigma**2))`` with ``d`` the Euclidean distance (px)
    to the nearest labelled pixel; 1 inside the label. ``sigma_px = 0`` returns the hard label.

    The thesis's smoothing: inventory outlines are uncertain by a few pixels, so pixels just outside
    an outline are not punished as hard negatives.
    """
    hard = np.asarray(label) > 0
    if sigma_px <= 0 or not hard.any():
        return hard.astype(np.float32)
    distance = ndimage.distance_transform_edt(~hard)
    return np.exp(-(distance**2) / (2.0 * sigma_px**2)).astype(np.float32)
