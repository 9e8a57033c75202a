"""Post-filters for detection masks: terrain slope and minimum object size.

Both filters are pure functions on ``(H, W)`` boolean masks. The slope filter is meant for
targets that only occur on slopes (landslides, rock glaciers); subsidence, mining, volcanic and
coseismic deformation happen on flat ground too, so their default is to leave it off.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from fringenet.errors import InputError

#: Default minimum terrain slope (deg) per target type; ``None`` switches the slope filter off.
DEFAULT_MIN_SLOPE_DEG: Mapping[str, float | None] = MappingProxyType(
    {
        "landslide": 10.0,
        "rock_glacier": 10.0,
        "volcanic": None,
        "subsidence": None,
        "mining": None,
        "coseismic": None,
        "deformation": None,
    }
)

#: 8-connectivity: pixels touching at a corner belong to the same object.
EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def default_min_slope(target_type: str) -> float | None:
    """Default minimum slope (deg) for ``target_type``; ``None`` (no filter) for unknown types."""
    return DEFAULT_MIN_SLOPE_DEG.get(target_type.strip().lower().replace("-", "_").replace(" ", "_"))


def _as_mask(mask: ArrayLike, source: str) -> NDArray[np.bool_]:
    array = np.asarray(mask)
    if array.ndim != 2:
        raise InputError(source, f"expected a 2-D (H, W) mask, got shape {array.shape}")
    return array.astype(bool, copy=False)


def slope_filter(
    mask: ArrayLike, slope_deg: ArrayLike, min_slope_deg: float | None = 10.0
) -> NDArray[np.bool_]:
    """Drop detected pixels on terrain flatter than ``min_slope_deg``.

    Parameters
    ----------
    mask
        ``(H, W)`` detections (truthy = detected).
    slope_deg
        ``(H, W)`` terrain slope in degrees from horizontal, on the same grid.
    min_slope_deg
        Pixels with ``slope < min_slope_deg`` are removed; ``None`` returns the mask unchanged.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` bool, a new array.

    Notes
    -----
    Pixels whose slope is NaN (DEM void, outside the DEM) are *kept*: missing terrain is not
    evidence of flat terrain. Callers should only apply the filter when a DEM exists.
    """
    detected = _as_mask(mask, "mask").copy()
    if min_slope_deg is None:
        return detected
    slope = np.asarray(slope_deg, dtype=float)
    if slope.shape != detected.shape:
        raise InputError("slope", f"shape {slope.shape} does not match the mask's {detected.shape}")
    if not np.isfinite(min_slope_deg) or min_slope_deg < 0:
        raise InputError("min_slope_deg", f"must be a finite angle >= 0, got {min_slope_deg}")
    with np.errstate(invalid="ignore"):
        flat = slope < min_slope_deg  # NaN compares False, so no-DEM pixels survive
    detected[flat] = False
    return detected


def detection_mask(
    probability: ArrayLike, threshold: float, grow_threshold: float | None = None
) -> NDArray[np.bool_]:
    """Pixels detected at ``threshold`` (probability >= it; NaN is not detected); with ``grow_threshold``
    below it, hysteresis: every region of probability >= ``grow_threshold`` (edge-connected) that holds a
    pixel detected at ``threshold``.

    A detector's probability fades towards the edges of a deforming area; growing from confident seeds
    keeps those edges without admitting isolated weak responses elsewhere.
    """
    p = np.nan_to_num(np.asarray(probability, dtype=np.float32), nan=0.0)
    seeds = p >= threshold
    if grow_threshold is None or grow_threshold >= threshold:
        return seeds
    # labels and a lookup of the seeded ones: the same as skimage's apply_hysteresis_threshold (with >=),
    # whose per-label sums take about 10x longer on a 4096 x 4096 scene
    regions, count = ndimage.label(p >= grow_threshold)
    seeded = np.zeros(count + 1, dtype=bool)
    seeded[regions[seeds]] = True
    seeded[0] = False
    return seeded[regions]


def remove_small_objects(mask: ArrayLike, min_pixels: int, *, connectivity: int = 8) -> NDArray[np.bool_]:
    """Remove connected objects with fewer than ``min_pixels`` pixels.

    Parameters
    ----------
    mask
        ``(H, W)`` detections.
    min_pixels
        Smallest object size kept (pixels); ``<= 1`` keeps everything.
    connectivity
        8 (corners connect, the default used for target polygons) or 4.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` bool, a new array.
    """
    detected = _as_mask(mask, "mask")
    if connectivity not in (4, 8):
        raise InputError("connectivity", f"must be 4 or 8, got {connectivity}")
    if min_pixels <= 1 or not detected.any():
        return detected.copy()
    structure = EIGHT_CONNECTED if connectivity == 8 else ndimage.generate_binary_structure(2, 1)
    labels, _ = ndimage.label(detected, structure=structure)
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_pixels
    keep[0] = False  # background
    return keep[labels]
