"""Coherence, multilook phase noise, speckled amplitude and the true decorrelation mask.

Coherence decays exponentially with the temporal baseline towards a long-term value that depends
on land cover; phase noise and amplitude are drawn by simulating the ``L`` looks of two correlated
SLCs, so the noise has exactly the multilook interferometric phase distribution (Lee et al. 1994)
and the intensity exactly the ``L``-look gamma distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fringenet.simulate.terrain import power_law_field

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class CoherenceParams:
    """Per-pixel temporal-decorrelation parameters, each ``(H, W)`` float64.

    ``gamma(dt) = (gamma0 - gamma_inf) * exp(-dt / tau_days) + gamma_inf``.
    """

    gamma0: FloatArray
    gamma_inf: FloatArray
    tau_days: FloatArray


def vegetation_mask(
    rng: np.random.Generator, dem: NDArray[np.floating], fraction: float, pixel_size_m: float = 30.0
) -> BoolArray:
    """Vegetation patches ``(H, W)`` covering about ``fraction`` of the scene, preferring low ground.

    A smooth random field plus a term falling with elevation (tree line) is thresholded at its
    ``1 - fraction`` quantile, so high rocky terrain stays mostly bare.
    """
    if fraction <= 0:
        return np.zeros(np.shape(dem), dtype=bool)
    field = power_law_field(rng, np.shape(dem), -3.5, pixel_size_m)
    h = np.asarray(dem, dtype=np.float64)
    h_norm = (h - h.mean()) / (h.std() + 1e-9)
    score = field - 0.8 * h_norm
    return score > np.quantile(score, 1.0 - min(fraction, 1.0))


def coherence_params(
    rng: np.random.Generator,
    shape: tuple[int, int],
    gamma0: float,
    gamma_inf: float,
    tau_days: float,
    vegetation: BoolArray,
    water: BoolArray,
    layover: BoolArray,
    randomness: float,
    pixel_size_m: float = 30.0,
) -> CoherenceParams:
    """Per-pixel coherence model from scene-level values, land cover and a random texture.

    Bare ground keeps the scene values; vegetation decorrelates fast (tau / 8) towards a low
    long-term value (0.1 * gamma_inf); water has zero coherence; layover/shadow stays low (0.1).
    ``randomness`` (0..1) scales a smooth multiplicative texture so coherence is patchy.
    """
    texture = np.exp(-randomness * np.abs(power_law_field(rng, shape, -3.0, pixel_size_m)))
    g0 = np.full(shape, gamma0) * texture
    ginf = np.full(shape, gamma_inf) * texture
    tau = np.full(shape, tau_days)
    g0 = np.where(vegetation, 0.85 * g0, g0)
    ginf = np.where(vegetation, 0.1 * ginf, ginf)
    tau = np.where(vegetation, tau / 8.0, tau)
    bad = water | layover
    g0 = np.where(bad, np.where(water, 0.0, 0.1), g0)
    ginf = np.where(bad, np.where(water, 0.0, 0.1), ginf)
    ginf = np.minimum(ginf, g0)
    return CoherenceParams(np.clip(g0, 0.0, 0.99), np.clip(ginf, 0.0, 0.99), np.maximum(tau, 0.1))


def coherence_for_baselines(params: CoherenceParams, dt_days: NDArray[np.floating]) -> FloatArray:
    """Coherence ``(n_pairs, H, W)`` in [0, 0.99] for temporal baselines ``dt_days`` (``(n_pairs,)``)."""
    dt = np.abs(np.asarray(dt_days, dtype=np.float64))[:, None, None]
    decay = np.exp(-dt / params.tau_days[None])
    return (params.gamma0 - params.gamma_inf)[None] * decay + params.gamma_inf[None]


def multilook_noise(
    rng: np.random.Generator, coherence: NDArray[np.floating], looks: int
) -> tuple[FloatArray, FloatArray]:
    """Multilook interferometric phase noise and speckle intensity for a coherence map.

    For each look, ``z1 = a`` and ``z2 = gamma * a + sqrt(1 - gamma**2) * b`` with ``a, b``
    independent unit circular complex Gaussians; the interferogram is the mean of ``z1 * conj(z2)``
    over ``looks`` looks. Its phase follows exactly the multilook phase PDF for that coherence and
    number of looks; the mean of ``|z1|**2`` is the ``looks``-look gamma-distributed intensity with
    unit mean.

    Parameters
    ----------
    coherence
        True coherence in [0, 1], any shape.
    looks
        Number of independent looks, >= 1.

    Returns
    -------
    phase noise (rad, in (-pi, pi]) and speckle intensity (unit mean), both float64, same shape.
    """
    gamma = np.clip(np.asarray(coherence, dtype=np.float64), 0.0, 1.0)
    comp = np.sqrt(1.0 - gamma**2)
    acc = np.zeros(gamma.shape, dtype=np.complex128)
    intensity = np.zeros(gamma.shape, dtype=np.float64)
    scale = np.sqrt(0.5)
    for _ in range(looks):  # loop over looks keeps memory at O(H*W) for large rasters
        a = (rng.standard_normal(gamma.shape) + 1j * rng.standard_normal(gamma.shape)) * scale
        b = (rng.standard_normal(gamma.shape) + 1j * rng.standard_normal(gamma.shape)) * scale
        z2 = gamma * a + comp * b
        acc += a * np.conj(z2)
        intensity += np.abs(a) ** 2
    return np.angle(acc), intensity / looks


def wishart_phase_noise(rng: np.random.Generator, coherence: NDArray[np.floating], looks: int) -> FloatArray:
    """Multilook phase noise (rad) with the same distribution as :func:`multilook_noise`, in 3 draws per pixel.

    The ``looks``-look sample covariance of two unit-power circular Gaussians with correlation
    ``gamma`` is complex Wishart; by the Bartlett decomposition its off-diagonal term is
    ``A11 (gamma A11 + sqrt(1 - gamma^2) conj(A21))`` with ``A11^2 ~ Gamma(looks, 1)`` and ``A21`` a unit
    circular complex Gaussian, so the phase is ``angle(gamma A11 + sqrt(1 - gamma^2) conj(A21))``
    whatever the number of looks (used where speed matters: on-the-fly training samples).
    """
    gamma = np.clip(np.asarray(coherence, dtype=np.float64), 0.0, 1.0)
    a11 = np.sqrt(rng.gamma(float(looks), 1.0, gamma.shape))
    a21 = (rng.standard_normal(gamma.shape) - 1j * rng.standard_normal(gamma.shape)) * np.sqrt(0.5)
    return np.angle(gamma * a11 + np.sqrt(1.0 - gamma**2) * a21)


def backscatter(
    local_incidence_deg: NDArray[np.floating], vegetation: BoolArray, water: BoolArray
) -> FloatArray:
    """Mean backscatter (linear, ``(H, W)``): cosine-law over local incidence, by land cover.

    Bare ground ``~cos(theta_loc)**2``; vegetation brighter and flatter (volume scattering);
    calm water very dark (specular); shadow (theta_loc >= 90) near the noise floor.
    """
    cos_li = np.cos(np.radians(np.clip(local_incidence_deg, 0.0, 90.0)))
    sigma = 0.5 * cos_li**2 + 0.005
    sigma = np.where(vegetation, 0.6 * cos_li + 0.05, sigma)
    return np.where(water, 0.003, sigma)


def decorrelation_mask(
    coherence: NDArray[np.floating], water: BoolArray, layover: BoolArray, threshold: float
) -> BoolArray:
    """True decorrelation mask: coherence below ``threshold`` or water or layover/shadow."""
    return (np.asarray(coherence) < threshold) | np.asarray(water) | np.asarray(layover)
