"""Test helper: a small stack with a slow Gaussian bowl under smooth atmosphere (seeded), for the slow-motion tests."""

import numpy as np
from scipy import ndimage


def slow_bowl_phase(
    n_dates: int, rate: float, size: int = 80, seed: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Dates 12 days apart, each paired with its next three; a Gaussian bowl (sigma 5 px) moving at ``rate``
    rad/yr at its centre, smooth per-date atmosphere (about a radian) and 0.5 rad of phase noise per pair.

    Returns the unwrapped phase ``(pair, y, x)`` (rad), the pair spans (yr), the bowl's pattern (peak 1) and the
    pairs as date indices.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    bowl = np.exp(-((yy - size / 2) ** 2 + (xx - size / 2) ** 2) / (2 * 5.0**2))
    years = np.arange(n_dates) * 12 / 365.25
    atmosphere = [ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), 12) * 12 for _ in years]
    pairs = [(i, j) for i in range(n_dates) for j in range(i + 1, min(n_dates, i + 4))]
    phase = np.array([rate * bowl * (years[j] - years[i]) + atmosphere[j] - atmosphere[i] for i, j in pairs])
    phase += rng.normal(0, 0.5, phase.shape)
    spans = np.array([years[j] - years[i] for i, j in pairs])
    return phase, spans, bowl, pairs
