"""Per-channel normalisation statistics (training split only) and their application."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray


def channel_statistics(
    patches: Iterable[tuple[NDArray[np.float32], NDArray[np.integer]]], channels: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of each channel over the valid pixels of ``(image (C,h,w), valid (h,w))``.

    Sums are accumulated in float64, so the result does not depend on how patches are batched.
    A channel with zero spread gets ``std = 1`` (normalisation then only centres it).
    """
    n = 0
    total = np.zeros(len(channels))
    square = np.zeros(len(channels))
    for image, valid in patches:
        v = np.asarray(valid, dtype=bool)
        values = np.asarray(image, dtype=np.float64)[:, v]
        n += values.shape[1]
        total += values.sum(axis=1)
        square += (values**2).sum(axis=1)
    mean = total / max(n, 1)
    var = np.maximum(square / max(n, 1) - mean**2, 0.0)
    std = np.where(var > 1e-12, np.sqrt(var), 1.0)
    return {c: {"mean": float(m), "std": float(s)} for c, m, s in zip(channels, mean, std, strict=True)}


def normalise(
    image: NDArray[np.float32],
    valid: NDArray[np.integer] | NDArray[np.bool_],
    stats: Mapping[str, Mapping[str, float]],
    channels: Sequence[str],
) -> NDArray[np.float32]:
    """``(image - mean) / std`` per channel of ``(..., C, h, w)``; invalid pixels become 0 (the mean)."""
    mean = np.array([stats[c]["mean"] for c in channels], dtype=np.float32)[:, None, None]
    std = np.array([stats[c]["std"] for c in channels], dtype=np.float32)[:, None, None]
    out = (np.asarray(image, dtype=np.float32) - mean) / std
    return np.where(np.asarray(valid, dtype=bool)[..., None, :, :], out, np.float32(0.0)).astype(np.float32)
