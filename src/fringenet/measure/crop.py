"""Cropping a scene around one target with a margin that leaves room for a reference ring."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
from affine import Affine
from numpy.typing import NDArray

from fringenet.errors import InputError

Window = tuple[int, int, int, int]
"""``(row0, row1, col0, col1)``: half-open pixel bounds of a crop in the scene grid."""

_T = TypeVar("_T", bound=np.generic)


def target_window(
    target: NDArray[np.bool_] | Sequence[int], shape: tuple[int, int], margin_px: int
) -> Window:
    """Bounds of the crop around a target, grown by a margin and clipped to the scene.

    Parameters
    ----------
    target
        ``(H, W)`` bool mask of the target on the scene grid, or its bounding box
        ``(row0, row1, col0, col1)`` (half-open, scene pixels).
    shape
        ``(H, W)`` size of the scene.
    margin_px
        Pixels added on every side (>= 0).

    Returns
    -------
    Window
        ``(row0, row1, col0, col1)``, half-open, inside ``[0, H) x [0, W)``.
    """
    height, width = int(shape[0]), int(shape[1])
    if margin_px < 0:
        raise InputError("margin", f"must be >= 0 (got {margin_px})")
    if isinstance(target, np.ndarray) and target.ndim == 2:
        if target.shape != (height, width):
            raise InputError("target mask", f"shape {target.shape} differs from the scene {shape}")
        rows = np.flatnonzero(target.any(axis=1))
        cols = np.flatnonzero(target.any(axis=0))
        if rows.size == 0:
            raise InputError("target mask", "has no pixel")
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    else:
        box = [int(v) for v in np.asarray(target).ravel()]
        if len(box) != 4:
            raise InputError("target", f"expected a (H, W) mask or (row0, row1, col0, col1) (got {target!r})")
        r0, r1, c0, c1 = box
        if not (r0 < r1 and c0 < c1) or r1 <= 0 or c1 <= 0 or r0 >= height or c0 >= width:
            raise InputError("target", f"bounding box {tuple(box)} is empty or outside the {shape} scene")
    m = int(margin_px)
    return max(r0 - m, 0), min(r1 + m, height), max(c0 - m, 0), min(c1 + m, width)


def margin_for(area_px: float, *, min_margin: int = 16, factor: float = 1.0, max_margin: int = 256) -> int:
    """Crop margin (px) that grows with the target: ``clip(factor * sqrt(area_px), min_margin, max_margin)``.

    ``sqrt(area_px)`` is the target's linear size; a margin of about one target size leaves a
    ring wide enough for a reference area beyond the buffer, without reaching so far that the
    atmosphere between target and reference decorrelates.
    """
    if not area_px >= 0:
        raise InputError("target area", f"must be >= 0 pixels (got {area_px})")
    return int(min(max(math.ceil(factor * math.sqrt(area_px)), min_margin), max_margin))


def crop(array: NDArray[_T], window: Window) -> NDArray[_T]:
    """The ``(..., y, x)`` array restricted to ``window`` (a view; leading axes kept)."""
    r0, r1, c0, c1 = window
    return array[..., r0:r1, c0:c1]


def window_transform(transform: Affine, window: Window) -> Affine:
    """Affine transform of the crop ``window`` of a grid with ``transform``."""
    return transform * Affine.translation(window[2], window[0])
