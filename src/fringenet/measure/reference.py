"""Choosing a stable, coherent reference area in the ring around a target."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import binary_dilation, distance_transform_edt

from fringenet.errors import InputError

COHERENCE_STEP = 0.1
"""How much the coherence threshold drops per fallback step."""
COHERENCE_FLOOR = 0.2
"""Lowest threshold tried before falling back to the most coherent quantile."""
FALLBACK_QUANTILE = 0.25
"""Fraction of the candidate pixels (most coherent first) kept when no threshold is met."""
_EPS = 1e-9
"""Tolerance of threshold comparisons (a mean over pairs of 0.3 may come out as 0.29999...)."""


def mean_coherence(coherence: ArrayLike) -> NDArray[np.float64]:
    """``(h, w)`` mean over pairs of a ``(pair, h, w)`` coherence stack (a ``(h, w)`` map passes through)."""
    coh = np.asarray(coherence, dtype=np.float64)
    if coh.ndim == 2:
        return coh
    if coh.ndim != 3:
        raise InputError("coherence", f"expected (pair, y, x) or (y, x) (got shape {coh.shape})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels stay NaN, excluded below
        return np.nanmean(coh, axis=0)


def _grow(mask: NDArray[np.bool_], px: int) -> NDArray[np.bool_]:
    return binary_dilation(mask, iterations=px) if px > 0 and mask.any() else mask.copy()


def choose_reference_area(
    target_mask: ArrayLike,
    coherence: ArrayLike,
    unusable: ArrayLike | None = None,
    *,
    buffer_px: int = 3,
    min_coherence: float = 0.4,
    min_pixels: int = 20,
    max_pixels: int = 200,
    detections: ArrayLike | None = None,
) -> tuple[NDArray[np.bool_], dict[str, Any]]:
    """A reference area of coherent pixels close to, but clear of, the target.

    Candidates are the pixels outside the target and any other detection (both dilated by
    ``buffer_px``), not unusable and with a finite mean coherence. Those at or above
    ``min_coherence`` are kept; if fewer than ``min_pixels`` pass, the threshold is lowered in
    steps of 0.1 down to 0.2, then the most coherent quarter of the candidates (at least
    ``min_pixels``) is taken. Of the pixels kept, the ``max_pixels`` nearest to the target (ties
    at the cut-off distance included) form the area, because atmospheric delay decorrelates
    with distance.

    Parameters
    ----------
    target_mask
        ``(h, w)`` bool, True on the target.
    coherence
        ``(pair, h, w)`` coherence or a ``(h, w)`` mean coherence, in [0, 1]; NaN = no data.
    unusable
        Optional ``(h, w)`` bool, True where the phase is unusable (decorrelated, water...).
    buffer_px
        Dilation (px) of the target and the other detections before excluding them.
    min_coherence
        Preferred lower bound of the mean coherence of reference pixels.
    min_pixels, max_pixels
        Fewest pixels accepted in the area, and most taken.
    detections
        Optional ``(h, w)`` bool of every detected pixel in the crop (other targets are excluded).

    Returns
    -------
    area, info
        ``(h, w)`` bool reference area, and a dict: ``n_pixels``, ``threshold`` (coherence
        threshold used), ``fallback`` (``None``, ``"lowered threshold"`` or ``"coherence quantile"``),
        ``mean_coherence``, ``median_distance_px``, ``max_distance_px`` (to the target) and ``note``.

    Raises
    ------
    InputError
        When fewer than ``min_pixels`` usable pixels lie outside the buffered target.
    """
    target = np.asarray(target_mask, dtype=bool)
    coh = mean_coherence(coherence)
    if target.ndim != 2 or coh.shape != target.shape:
        raise InputError("reference area", f"target {target.shape} and coherence {coh.shape} grids differ")
    if not target.any():
        raise InputError("target mask", "has no pixel")
    if min_pixels < 1 or max_pixels < min_pixels:
        raise InputError("reference area", f"need 1 <= min_pixels <= max_pixels ({min_pixels}, {max_pixels})")
    excluded = _grow(target, buffer_px) | ~np.isfinite(coh)
    for name, extra in (("unusable", unusable), ("detections", detections)):
        if extra is None:
            continue
        m = np.asarray(extra, dtype=bool)
        if m.shape != target.shape:
            raise InputError(name, f"shape {m.shape} differs from the target grid {target.shape}")
        excluded |= _grow(m, buffer_px) if name == "detections" else m
    candidates = ~excluded
    n_candidates = int(candidates.sum())
    if n_candidates < min_pixels:
        raise InputError(
            "reference area",
            f"only {n_candidates} usable pixel(s) outside the target buffered by {buffer_px} px "
            f"(need {min_pixels}); enlarge the crop margin",
        )

    fallback: str | None = None
    threshold = float(min_coherence)
    passing = candidates & (coh >= threshold - _EPS)
    while passing.sum() < min_pixels and threshold - COHERENCE_STEP >= COHERENCE_FLOOR - 1e-9:
        threshold = round(threshold - COHERENCE_STEP, 6)
        passing = candidates & (coh >= threshold - _EPS)
        fallback = "lowered threshold"
    if passing.sum() < min_pixels:
        values = np.sort(coh[candidates])[::-1]
        keep = max(min_pixels, int(np.ceil(FALLBACK_QUANTILE * values.size)))
        threshold = float(values[keep - 1])
        passing = candidates & (coh >= threshold - _EPS)
        fallback = "coherence quantile"

    distance = distance_transform_edt(~target)
    d_pass = np.sort(distance[passing])
    cutoff = d_pass[min(max_pixels, d_pass.size) - 1]
    area = passing & (distance <= cutoff)
    d_area = distance[area]
    info: dict[str, Any] = {
        "n_pixels": int(area.sum()),
        "threshold": float(threshold),
        "fallback": fallback,
        "mean_coherence": float(np.mean(coh[area])),
        "median_distance_px": float(np.median(d_area)),
        "max_distance_px": float(d_area.max()),
    }
    if fallback is None:
        info["note"] = f"reference: {info['n_pixels']} px with mean coherence >= {threshold:.2f}"
    elif fallback == "lowered threshold":
        info["note"] = (
            f"reference: too few pixels with coherence >= {min_coherence:.2f}; threshold lowered to "
            f"{threshold:.2f} ({info['n_pixels']} px)"
        )
    else:
        info["note"] = (
            f"reference: too few pixels with coherence >= {COHERENCE_FLOOR:.2f}; took the most coherent "
            f"{info['n_pixels']} px (coherence >= {threshold:.2f}); the reference may be noisy"
        )
    return area, info
