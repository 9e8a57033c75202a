"""Spatial referencing of unwrapped interferograms.

Each unwrapped interferogram is known only up to a constant (the unwrapper's arbitrary 2-pi
multiple plus the unknown absolute phase), so before a time-series inversion every pair is
shifted to a common zero: a reference area assumed stable.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from fringenet.errors import InputError


def reference_to_area(
    unwrapped_phase: NDArray[np.floating], area: NDArray[np.bool_] | None = None
) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    """Subtract from each pair the median phase of a reference area.

    Parameters
    ----------
    unwrapped_phase
        ``(pair, y, x)`` or ``(y, x)`` unwrapped phase (rad); NaN where unusable.
    area
        ``(y, x)`` bool mask of the reference area. Default: every pixel that is finite in all
        pairs (the scene median becomes zero, a sound choice when deformation is sparse).

    Returns
    -------
    referenced, offsets
        The shifted phase (same shape) and the per-pair offsets subtracted (rad).
    """
    stack = np.asarray(unwrapped_phase, dtype=np.float64)
    squeeze = stack.ndim == 2
    if squeeze:
        stack = stack[None]
    if stack.ndim != 3:
        raise InputError("unwrapped phase", f"expected (pair, y, x) or (y, x), got shape {stack.shape}")
    if area is None:
        area = np.all(np.isfinite(stack), axis=0)
    elif area.shape != stack.shape[1:]:
        raise InputError("reference area", f"mask shape {area.shape} differs from the grid {stack.shape[1:]}")
    if not area.any():
        raise InputError("reference area", "no pixel is valid in every pair; choose another reference area")
    offsets = np.nanmedian(stack[:, area], axis=1)
    if np.isnan(offsets).any():
        raise InputError("reference area", "the reference area has no valid pixel in some pairs")
    referenced = stack - offsets[:, None, None]
    return (referenced[0] if squeeze else referenced), offsets


def point_area(shape: tuple[int, int], row: int, col: int, radius: int = 2) -> NDArray[np.bool_]:
    """A square reference area of ``2 * radius + 1`` pixels centred on ``(row, col)``."""
    height, width = shape
    if not (0 <= row < height and 0 <= col < width):
        raise InputError("reference point", f"({row}, {col}) lies outside the {height} x {width} grid")
    area = np.zeros(shape, dtype=bool)
    area[max(row - radius, 0) : row + radius + 1, max(col - radius, 0) : col + radius + 1] = True
    return area
