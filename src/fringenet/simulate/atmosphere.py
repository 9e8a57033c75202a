"""Atmospheric phase: turbulent (power-law) and DEM-correlated stratified delay, per acquisition.

Delays are drawn per acquisition date and differenced per pair, ``atm(ref, sec) = d(sec) - d(ref)``,
so every triplet of interferograms closes exactly. All delays are phase in radians (two-way).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

from fringenet.simulate.terrain import power_law_field

FloatArray = NDArray[np.float64]
StratifiedModel = Literal["linear", "exponential"]


def cm_to_rad(delay_cm: NDArray[np.floating] | float, wavelength_m: float) -> FloatArray:
    """One-way delay (cm) to two-way interferometric phase (rad)."""
    return np.asarray(delay_cm, dtype=np.float64) * 1e-2 * 4.0 * np.pi / wavelength_m


def turbulent_delay(
    rng: np.random.Generator,
    shape: tuple[int, int],
    n_acquisitions: int,
    rms_rad: NDArray[np.floating] | float,
    spectral_slope: float = -8.0 / 3.0,
    pixel_size_m: float = 30.0,
    pad_factor: float = 1.5,
) -> FloatArray:
    """Turbulent delay screens, ``(n_acquisitions, H, W)`` float64 in rad.

    Each screen is a Gaussian field with 2-D power spectrum ``P(k) ~ k**spectral_slope``
    (-8/3: Kolmogorov turbulence in a thin layer, the range seen at km scales), synthesised by FFT
    on a grid ``pad_factor`` times larger and cropped, so screens are not periodic, then scaled to
    the acquisition's RMS ``rms_rad`` (scalar or one per acquisition).
    """
    height, width = shape
    big = (int(np.ceil(height * pad_factor)), int(np.ceil(width * pad_factor)))
    screens = power_law_field(rng, big, spectral_slope, pixel_size_m, n=n_acquisitions)[:, :height, :width]
    screens = screens - screens.mean(axis=(-2, -1), keepdims=True)
    screens /= screens.std(axis=(-2, -1), keepdims=True) + 1e-300
    rms = np.broadcast_to(np.asarray(rms_rad, dtype=np.float64), (n_acquisitions,))
    return screens * rms[:, None, None]


def stratified_delay(
    dem: NDArray[np.floating],
    coefficients_rad_per_km: NDArray[np.floating],
    model: StratifiedModel = "linear",
    scale_height_m: float = 6000.0,
) -> FloatArray:
    """DEM-correlated stratified delay, ``(n_acquisitions, H, W)`` float64 in rad.

    ``linear``: ``d_i(h) = K_i * (h - h_ref) / 1000``; ``exponential``: the tropospheric delay
    decays with height, ``d_i(h) = K_i * H * (1 - exp(-(h - h_ref) / H)) / 1000``, which has the
    slope ``K_i`` rad/km at the reference height ``h_ref`` (the scene's mean elevation) and flattens
    with height. ``K_i`` is drawn per acquisition by the caller; pairs see ``K_sec - K_ref``.
    """
    h = np.asarray(dem, dtype=np.float64)
    dh = h - h.mean()
    k = np.asarray(coefficients_rad_per_km, dtype=np.float64)[:, None, None]
    if model == "linear":
        profile = dh / 1000.0
    else:
        profile = scale_height_m * (1.0 - np.exp(-dh / scale_height_m)) / 1000.0
    return k * profile[None]


def pair_difference(per_acquisition: NDArray[np.floating], pairs: NDArray[np.integer]) -> FloatArray:
    """Per-pair difference ``x[sec] - x[ref]`` of per-acquisition rasters.

    Parameters
    ----------
    per_acquisition
        ``(n_acquisitions, H, W)``.
    pairs
        ``(n_pairs, 2)`` integer indices ``(reference, secondary)``.
    """
    pairs = np.asarray(pairs)
    return np.asarray(per_acquisition[pairs[:, 1]] - per_acquisition[pairs[:, 0]], dtype=np.float64)
