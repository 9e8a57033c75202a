"""Sliding windows over a scene and the weights that blend their overlapping predictions.

A scene is covered by ``window`` x ``window`` tiles stepping by ``window - overlap``; the last tile
of each axis is moved back flush with the edge so every pixel is seen at full context and no tile
hangs over. Overlapping predictions are averaged with a raised-cosine taper,
``sum(w * p) / sum(w)``, so tile borders (where a network sees least context) count least and no
seams appear.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from fringenet.errors import InputError


def check_window(window: int, overlap: int) -> None:
    """Raise :class:`InputError` unless ``window >= 16`` and ``0 <= overlap <= window // 2``."""
    if window < 16:
        raise InputError("window", f"window must be at least 16 px (got {window})")
    if not 0 <= overlap <= window // 2:
        raise InputError(
            "overlap", f"overlap must be between 0 and half the window ({window // 2} px), got {overlap}"
        )


def window_origins(size: int, window: int, overlap: int) -> list[int]:
    """First pixel of each window along an axis of ``size`` pixels.

    Windows step by ``window - overlap``; the last one ends exactly at ``size`` (it may overlap
    its neighbour by more than ``overlap``).

    Raises
    ------
    InputError
        If the axis is shorter than one window (callers re-raise naming their file) or the
        window/overlap are invalid.
    """
    check_window(window, overlap)
    if size < window:
        raise InputError("windows", f"the axis has {size} px, fewer than one {window} px window")
    step = window - overlap
    origins = list(range(0, size - window + 1, step))
    if origins[-1] + window < size:
        origins.append(size - window)
    return origins


def taper(window: int, overlap: int) -> NDArray[np.float64]:
    """1-D weights ``(window,)``: raised-cosine ramps of ``overlap`` px at both ends, 1 inside.

    Sampled at pixel centres, so every weight is > 0 and two ramps offset by ``window - overlap``
    sum to exactly 1 (a regular tiling needs no normalisation at all).
    """
    check_window(window, overlap)
    edge = np.minimum(np.arange(window), np.arange(window)[::-1]).astype(np.float64)
    if overlap == 0:
        return np.ones(window)
    return np.where(edge < overlap, 0.5 - 0.5 * np.cos(np.pi * (edge + 0.5) / overlap), 1.0)


def blend_weights(window: int, overlap: int) -> NDArray[np.float32]:
    """2-D blending weights ``(window, window)`` float32: outer product of :func:`taper`, all > 0."""
    ramp = taper(window, overlap)
    return np.outer(ramp, ramp).astype(np.float32)


class BandBlender:
    """Blends bands (rows of windows) arriving top to bottom; hands out the rows no later band overlaps.

    Holds ``sum(w p)`` and ``sum(w)`` for one band height only, whatever the scene's height.

    Parameters
    ----------
    rows
        First row of each band (:func:`window_origins` of the scene height).
    window, height, width
        Band height (the window side) and the scene's size (px).
    """

    def __init__(self, rows: list[int], window: int, height: int, width: int) -> None:
        self.rows, self.window, self.height, self.index = rows, window, height, 0
        self.weighted = np.zeros((window, width))
        self.weight = np.zeros((window, width))

    def add(
        self, row0: int, weighted: NDArray[np.float64], weight: NDArray[np.float64]
    ) -> NDArray[np.float32]:
        """Add the next band's ``sum(w p)`` and ``sum(w)`` ``(window, width)``; returns the finished rows
        ``(n, width)`` float32 (NaN where no weight: no valid input), from row ``row0`` on."""
        if self.index >= len(self.rows) or row0 != self.rows[self.index]:
            raise ValueError(f"band at row {row0} out of order (expected row {self.rows[self.index :][:1]})")
        self.weighted += weighted
        self.weight += weight
        self.index += 1
        done = (self.rows[self.index] if self.index < len(self.rows) else self.height) - row0
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(self.weight[:done] > 0, self.weighted[:done] / self.weight[:done], np.nan)
        for acc in (self.weighted, self.weight):  # slide the band buffer down to the next band
            acc[: self.window - done] = acc[done:].copy()
            acc[self.window - done :] = 0.0
        return out.astype(np.float32)
