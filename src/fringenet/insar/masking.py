"""Masks of usable pixels."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from skimage.filters import threshold_otsu

from fringenet.errors import InputError


def otsu_coherence_mask(coherence: ArrayLike) -> tuple[NDArray[np.bool_], float]:
    """Split pixels into usable / decorrelated with Otsu's threshold on coherence.

    Parameters
    ----------
    coherence
        Coherence magnitude in [0, 1], any shape; NaN = missing.

    Returns
    -------
    mask : ndarray of bool
        Same shape; True where the pixel is usable (coherence above the threshold). NaN is False.
    threshold : float
        The Otsu threshold (unitless coherence).
    """
    coh = np.asarray(coherence, dtype=np.float64)
    finite = np.isfinite(coh)
    if not finite.any():
        raise InputError("coherence", "has no finite pixels (all NaN); cannot choose a threshold")
    values = coh[finite]
    if values.min() == values.max():
        raise InputError("coherence", f"is constant ({values.min():g}); Otsu's threshold is undefined")
    threshold = float(threshold_otsu(values))
    mask = np.zeros(coh.shape, dtype=bool)
    mask[finite] = coh[finite] > threshold
    return mask, threshold
