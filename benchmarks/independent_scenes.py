"""Independent synthetic interferograms for the generalisation benchmark (``benchmarks/generalisation.py``).

Nothing here comes from ``fringenet``: no code of ``fringenet.simulate`` or ``fringenet.data``, so a
detector that learned the quirks of fringenet's own simulator gains nothing here. The pieces:

- **Atmosphere** from the ``troposim`` package: turbulent delay with a power-law spectrum of sampled
  slope and amplitude (0-4 cm one-way), made anisotropic by an affine stretch in some scenes; a stratified
  delay from troposim's power law of height (Bekaert et al. 2015), scaled to a sampled coefficient of either
  sign (cm of delay per km of elevation); a linear + quadratic long-wavelength ramp (orbit, ionosphere).
  One-way delay becomes two-way phase: ``phase = 4π/λ · delay``.
- **Deformation**: an analytic Mogi point source (written here), rectangular dislocations from
  ``okada-wrapper`` (Okada 1992 DC3D: strike-slip, thrust and normal faults, dykes and sills, buried or
  surface rupturing) and a Knothe-style subsidence bowl over a rectangular panel (written here). East, north,
  up displacement is projected onto a Sentinel-1-like line of sight (incidence 30-45 deg, ascending or
  descending heading); LOS is positive towards the satellite and ``phase = -4π/λ · LOS`` (as in
  docs/conventions.md). Peak LOS between 0.7 and 10 fringes (1 fringe = λ/2); one or two sources.
- **Terrain**: spectral synthesis of a fractal surface (written here).
- **Noise**: a smooth random coherence field in 0.2-0.95 with low-coherence patches; phase noise from
  an own circular-Gaussian multilook sampler (``looks`` correlated complex Gaussian pairs per pixel); water
  and no-data areas as NaN, as exact zeros (LiCSAR-like), or unmasked noise.

Scene ``i`` of seed ``s`` is drawn from ``numpy.random.SeedSequence([s, i])`` alone, so the first 20
scenes of a 200-scene set are the 20 scenes of a 20-scene set, and the same seed gives the same bytes.
Even indices deform, odd ones are hard negatives (turbulence, stratified, decorrelated, water in turn);
every other scene of each class comes with a coherence layer. The label is ``|LOS| > λ/4`` (half a
fringe) on valid ground pixels; it is non-empty exactly for the deforming scenes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from okada_wrapper import DC3D
from scipy import ndimage, special
from troposim import stratified, turbulence

GENERATOR_VERSION = "1"
"""Part of the cache folder name: bump when the generator changes what it draws."""
WAVELENGTH_M = 0.05546576
"""Sentinel-1 C-band wavelength (m)."""
PIXEL_SIZES_M = (30.0, 60.0, 90.0)
NEGATIVE_KINDS = ("turbulence", "stratified", "decorrelated", "water")
DEFORMATION_KINDS = ("mogi", "strike_slip", "thrust", "normal", "dyke", "sill", "subsidence_bowl")
_DEFORMATION_P = (0.24, 0.12, 0.12, 0.12, 0.1, 0.1, 0.2)
POISSON = 0.25
ALPHA = 1.0 / (2.0 * (1.0 - POISSON))
"""Okada's medium constant (λ+μ)/(λ+2μ) for a Poisson solid (= 2/3)."""
FOUR_PI_OVER_LAMBDA = 4.0 * math.pi / WAVELENGTH_M


@dataclass
class Scene:
    """One benchmark interferogram. ``wrapped_phase`` holds NaN or exact zeros where there is no data."""

    name: str
    kind: str
    """``"deforming"`` or the negative's kind (see :data:`NEGATIVE_KINDS`)."""
    wrapped_phase: NDArray[np.float32]
    coherence: NDArray[np.float32] | None
    label: NDArray[np.bool_]
    pixel_size_m: float
    wavelength_m: float = WAVELENGTH_M
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def deforming(self) -> bool:
        return self.kind == "deforming"

    @property
    def valid(self) -> NDArray[np.bool_]:
        """Pixels holding data: finite and not exactly zero."""
        return np.isfinite(self.wrapped_phase) & (self.wrapped_phase != 0)


# ----------------------------------------------------------------------------------------- fields


def spectral_field(rng: np.random.Generator, shape: tuple[int, int], beta: float) -> NDArray[np.float64]:
    """Zero-mean, unit-std random field with a ``k^-beta`` power spectrum (periodic)."""
    h, w = shape
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.rfftfreq(w)[None, :]
    k = np.hypot(ky, kx)
    k[0, 0] = np.inf
    amplitude = k ** (-beta / 2.0)
    noise = rng.standard_normal((h, w // 2 + 1)) + 1j * rng.standard_normal((h, w // 2 + 1))
    out = np.fft.irfft2(noise * amplitude, s=shape)
    return (out - out.mean()) / out.std()


def terrain(rng: np.random.Generator, shape: tuple[int, int], relief_m: float) -> NDArray[np.float64]:
    """Fractal elevation (m): spectral synthesis with flattened valleys, ``relief_m`` from lowest to highest."""
    surface = spectral_field(rng, shape, beta=rng.uniform(3.2, 4.0))
    surface = (surface - surface.min()) / np.ptp(surface)
    surface = surface ** rng.uniform(1.0, 1.8)
    return rng.uniform(0.0, 1500.0) + relief_m * surface


def coordinates(shape: tuple[int, int], pixel_m: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """East and north (m) of pixel centres from the scene centre; row 0 is the north edge."""
    h, w = shape
    east = (np.arange(w) - (w - 1) / 2.0) * pixel_m
    north = ((h - 1) / 2.0 - np.arange(h)) * pixel_m
    return np.meshgrid(east, north)


# ------------------------------------------------------------------------------------- atmosphere


def turbulent_delay(
    rng: np.random.Generator, shape: tuple[int, int], pixel_m: float, amplitude_m: float, beta: float,
    anisotropy: float, angle_deg: float,
) -> NDArray[np.float64]:  # fmt: skip
    """troposim turbulence (m, one way) with half its peak-to-peak range equal to ``amplitude_m``.

    For ``anisotropy > 1`` a larger isotropic field is sampled on a grid squeezed by that factor across
    ``angle_deg``, so structures are elongated along that direction.
    """
    if amplitude_m <= 0:
        return np.zeros(shape)
    h, w = shape
    side = math.ceil(math.hypot(h, w)) + 8
    seed = int(rng.integers(2**31 - 1))
    field_ = np.asarray(
        turbulence.simulate(shape=(side, side), beta=beta, resolution=pixel_m, max_amp=1.0, seed=seed),
        dtype=np.float64,
    )
    theta = math.radians(angle_deg)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    matrix = rot @ np.diag([1.0, 1.0 / anisotropy]) @ rot.T
    centre_out = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    centre_in = np.array([(side - 1) / 2.0, (side - 1) / 2.0])
    offset = centre_in - matrix @ centre_out
    delay = ndimage.affine_transform(field_, matrix, offset=offset, output_shape=shape, order=1)
    delay -= np.median(delay)
    return delay * (amplitude_m / (0.5 * np.ptp(delay)))


def stratified_delay(
    rng: np.random.Generator, dem: NDArray[np.float64], coefficient_m_per_km: float
) -> NDArray[np.float64]:
    """troposim's power-law stratified delay ``K (h0 - h)^alpha``, scaled so that its least-squares slope
    against elevation is ``coefficient_m_per_km`` (either sign); zero mean."""
    if coefficient_m_per_km == 0 or np.ptp(dem) < 1:
        return np.zeros(dem.shape)
    alpha = rng.uniform(1.2, 1.6)
    h0 = max(7000.0, float(dem.max()) + 1000.0) + rng.uniform(0.0, 1000.0)
    delay = stratified.make_stratified_delay(dem, 1.0, h0=h0, alpha=alpha, zero_mean=True)
    shape_ = np.asarray(delay, dtype=np.float64).reshape(dem.shape)
    z = (dem - dem.mean()) / 1000.0
    slope = float(np.sum(shape_ * z) / np.sum(z * z))
    return shape_ * (coefficient_m_per_km / slope)


def ramp_phase(rng: np.random.Generator, east: NDArray, north: NDArray, scale: float) -> NDArray[np.float64]:
    """Linear (0-3 fringes per 100 km, ``scale`` times) plus quadratic long-wavelength phase (rad)."""
    gradient = scale * rng.uniform(0.0, 3.0) * 2 * math.pi / 100e3
    azimuth = rng.uniform(0, 2 * math.pi)
    linear = gradient * (math.cos(azimuth) * east + math.sin(azimuth) * north)
    half = max(float(np.abs(east).max()), float(np.abs(north).max()))
    curvature = scale * rng.uniform(-0.5, 0.5) * 2 * math.pi / half**2
    a, b = rng.uniform(0.0, 1.0, 2)
    return linear + curvature * (a * east**2 + (1 - a) * north**2 + (b - 0.5) * east * north)


# ------------------------------------------------------------------------------------ deformation


def mogi(
    east: NDArray, north: NDArray, x0: float, y0: float, depth: float
) -> tuple[NDArray, NDArray, NDArray]:
    """Mogi point source (east, north, up) per unit ``(1 - ν) ΔV / π``: ``u = (dx, dy, d) / R^3``."""
    dx, dy = east - x0, north - y0
    r3 = (dx * dx + dy * dy + depth * depth) ** 1.5
    return dx / r3, dy / r3, depth / r3


def okada(
    east: NDArray, north: NDArray, x0: float, y0: float, strike_deg: float, dip_deg: float, length: float,
    width: float, top_depth: float, slip: tuple[float, float, float],
) -> tuple[NDArray, NDArray, NDArray]:  # fmt: skip
    """Surface (east, north, up) of a rectangular dislocation (okada-wrapper's DC3D).

    The fault's centre projects to ``(x0, y0)``; its top edge lies ``top_depth`` m below the surface (0 =
    surface rupture). ``slip`` = (strike-slip: + left-lateral, dip-slip: + reverse, opening) in m.
    Okada's frame: x along strike, y to its left, z up; the fault dips to the right of the strike.
    """
    strike = math.radians(strike_deg)
    s_e, s_n = math.sin(strike), math.cos(strike)  # along strike
    l_e, l_n = -math.cos(strike), math.sin(strike)  # left of strike
    dip_rad = math.radians(dip_deg)
    centre_depth = top_depth + 0.5 * width * math.sin(dip_rad)
    # the plane's centre is (0, 0, -centre_depth); its surface projection is the requested point
    dx, dy = east - x0, north - y0
    xs = dx * s_e + dy * s_n
    ys = dx * l_e + dy * l_n
    ux = np.zeros(east.shape)
    uy = np.zeros(east.shape)
    uz = np.zeros(east.shape)
    half_l, half_w = 0.5 * length, 0.5 * width
    dc3d = DC3D.dc3d
    flat = zip(xs.ravel(), ys.ravel(), strict=True)
    ox, oy, oz = ux.reshape(-1), uy.reshape(-1), uz.reshape(-1)
    for k, (x, y) in enumerate(flat):
        out = dc3d(ALPHA, x, y, 0.0, centre_depth, dip_deg, -half_l, half_l, -half_w, half_w, *slip)
        if out[12] == 0:  # iret != 0: singular point on the fault trace, left at 0
            ox[k], oy[k], oz[k] = out[0], out[1], out[2]
    return ux * s_e + uy * l_e, ux * s_n + uy * l_n, uz


def knothe_bowl(
    east: NDArray, north: NDArray, x0: float, y0: float, half_a: float, half_b: float, angle_deg: float,
    radius: float,
) -> tuple[NDArray, NDArray, NDArray]:  # fmt: skip
    """Knothe-style subsidence over a rectangular panel (``2 half_a`` x ``2 half_b``, rotated), influence
    radius ``radius``; unit maximum subsidence. Horizontal motion ``B ∇s`` with ``B = r / sqrt(2π)``."""
    theta = math.radians(angle_deg)
    dx, dy = east - x0, north - y0
    u = dx * math.cos(theta) + dy * math.sin(theta)
    v = -dx * math.sin(theta) + dy * math.cos(theta)
    c = math.sqrt(math.pi) / radius

    def profile(t: NDArray, half: float) -> tuple[NDArray, NDArray]:
        value = 0.5 * (special.erf(c * (t + half)) - special.erf(c * (t - half)))
        slope = (c / math.sqrt(math.pi)) * (
            np.exp(-((c * (t + half)) ** 2)) - np.exp(-((c * (t - half)) ** 2))
        )
        return value, slope

    pu, du = profile(u, half_a)
    pv, dv = profile(v, half_b)
    s = pu * pv
    b = radius / math.sqrt(2 * math.pi)
    gu, gv = b * du * pv, b * pu * dv  # towards increasing subsidence
    ge = gu * math.cos(theta) - gv * math.sin(theta)
    gn = gu * math.sin(theta) + gv * math.cos(theta)
    return ge, gn, -s


def los_vector(incidence_deg: float, heading_deg: float) -> tuple[float, float, float]:
    """Ground-to-satellite unit vector (east, north, up) of a right-looking radar."""
    inc, head = math.radians(incidence_deg), math.radians(heading_deg)
    return -math.sin(inc) * math.cos(head), math.sin(inc) * math.sin(head), math.cos(inc)


def _source(
    rng: np.random.Generator, kind: str, east: NDArray, north: NDArray, extent: float
) -> tuple[tuple[NDArray, NDArray, NDArray], dict[str, Any]]:
    """One deformation source of unit strength, placed in the inner 70 % of the scene."""
    x0, y0 = rng.uniform(-0.35, 0.35, 2) * extent
    info: dict[str, Any] = {"type": kind, "x_km": round(x0 / 1e3, 2), "y_km": round(y0 / 1e3, 2)}
    if kind == "mogi":
        depth = float(np.clip(rng.uniform(0.03, 0.18) * extent, 300.0, 15e3))
        info["depth_km"] = round(depth / 1e3, 2)
        return mogi(east, north, x0, y0, depth), info
    if kind == "subsidence_bowl":
        a, b = rng.uniform(0.03, 0.15, 2) * extent
        radius = rng.uniform(0.03, 0.12) * extent
        info.update(panel_km=[round(2 * a / 1e3, 2), round(2 * b / 1e3, 2)], radius_km=round(radius / 1e3, 2))
        return knothe_bowl(east, north, x0, y0, a, b, rng.uniform(0, 180), radius), info
    strike = rng.uniform(0, 360)
    length = rng.uniform(0.08, 0.45) * extent
    surface = rng.random() < 0.35
    if kind == "dyke":
        dip, width = rng.uniform(80, 90), rng.uniform(1e3, 5e3)
        top = rng.uniform(100.0, 2e3)
        slip = (0.0, 0.0, 1.0)
        length = rng.uniform(0.08, 0.35) * extent
        surface = False
    elif kind == "sill":
        dip = rng.uniform(0, 5)
        length = rng.uniform(0.06, 0.25) * extent
        width = length * rng.uniform(0.6, 1.0)
        top = float(np.clip(rng.uniform(0.03, 0.15) * extent, 300.0, 8e3))
        slip = (0.0, 0.0, 1.0 if rng.random() < 0.7 else -1.0)
        surface = False
    else:
        dip = {
            "strike_slip": rng.uniform(70, 90),
            "thrust": rng.uniform(20, 45),
            "normal": rng.uniform(45, 70),
        }[kind]
        width = min(length * rng.uniform(0.3, 0.8), 20e3)
        top = 0.0 if surface else rng.uniform(300.0, max(600.0, 0.15 * extent))
        sense = 1.0 if rng.random() < 0.5 else -1.0
        slip = {"strike_slip": (sense, 0.0, 0.0), "thrust": (0.0, 1.0, 0.0), "normal": (0.0, -1.0, 0.0)}[kind]
    info.update(
        strike=round(strike, 1), dip=round(dip, 1), length_km=round(length / 1e3, 2),
        width_km=round(width / 1e3, 2), top_km=round(top / 1e3, 2), surface_rupture=bool(surface),
    )  # fmt: skip
    return okada(east, north, x0, y0, strike, dip, length, width, top, slip), info


# ---------------------------------------------------------------------------------------- noise


def coherence_field(
    rng: np.random.Generator, shape: tuple[int, int], decorrelated: bool
) -> NDArray[np.float64]:
    """Smooth random coherence in [0.2, 0.95] with a few low-coherence (0.05-0.2) patches; for a
    decorrelated scene 30-70 % of the scene is low coherence."""
    base = special.ndtr(spectral_field(rng, shape, beta=rng.uniform(2.5, 3.5)))
    low, high = rng.uniform(0.2, 0.4), rng.uniform(0.8, 0.95)
    coh = low + (high - low) * base ** rng.uniform(0.3, 1.5)
    n_patches = int(rng.integers(0, 4))
    blob = spectral_field(rng, shape, beta=3.0)
    fraction = rng.uniform(0.3, 0.7) if decorrelated else rng.uniform(0.0, 0.08) * n_patches
    if fraction > 0:
        patch = blob > np.quantile(blob, 1.0 - fraction)
        coh = np.where(patch, rng.uniform(0.05, 0.2) + 0.05 * rng.random(shape), coh)
    return np.clip(ndimage.gaussian_filter(coh, 1.0), 0.02, 0.97)


def multilook_phase_noise(
    rng: np.random.Generator, coherence: NDArray[np.float64], looks: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Phase noise and estimated coherence of a ``looks``-look interferogram of true ``coherence``.

    Each look is a pair of circular complex Gaussian samples with correlation ``γ``:
    ``z1 = a``, ``z2 = γ a + sqrt(1 - γ²) b``; the interferogram is ``Σ z1 conj(z2)`` over looks, its
    angle the noise and ``|Σ z1 z2*| / sqrt(Σ|z1|² Σ|z2|²)`` the (biased) coherence estimate.
    """
    g = np.clip(coherence, 0.0, 0.999).astype(np.float32)
    shape = (looks, *coherence.shape)
    inv = np.float32(1 / math.sqrt(2))
    a = (
        rng.standard_normal(shape, dtype=np.float32) + 1j * rng.standard_normal(shape, dtype=np.float32)
    ) * inv
    b = (
        rng.standard_normal(shape, dtype=np.float32) + 1j * rng.standard_normal(shape, dtype=np.float32)
    ) * inv
    z2 = g * a + np.sqrt(1 - g * g) * b
    ifg = np.sum(a * np.conj(z2), axis=0)
    power = np.sqrt(np.sum(np.abs(a) ** 2, axis=0) * np.sum(np.abs(z2) ** 2, axis=0))
    return np.angle(ifg).astype(np.float64), (np.abs(ifg) / power).astype(np.float64)


def wrap(phase: NDArray) -> NDArray:
    return (phase + np.pi) % (2 * np.pi) - np.pi


# ---------------------------------------------------------------------------------------- scenes


def scene_kind(index: int) -> tuple[str, bool]:
    """``(kind, with_coherence)`` of scene ``index``: even indices deform; coherence on every other one."""
    with_coherence = (index // 2) % 2 == 0
    if index % 2 == 0:
        return "deforming", with_coherence
    return NEGATIVE_KINDS[(index // 4) % len(NEGATIVE_KINDS)], with_coherence


def scene_size(index: int) -> int:
    return 384 if index % 16 in (5, 10) else 256


def make_scene(seed: int, index: int) -> Scene:
    """Scene ``index`` of the set of ``seed`` (deterministic)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    kind, with_coherence = scene_kind(index)
    size = scene_size(index)
    shape = (size, size)
    pixel = float(rng.choice(PIXEL_SIZES_M))
    extent = size * pixel
    east, north = coordinates(shape, pixel)
    meta: dict[str, Any] = {"index": index, "seed": seed, "size": size, "pixel_size_m": pixel}

    relief = math.exp(rng.uniform(math.log(50.0), math.log(2000.0)))
    if kind == "stratified":
        relief = rng.uniform(1000.0, 3000.0)
    dem = terrain(rng, shape, relief)

    # atmosphere
    turb_cm = rng.uniform(0.0, 4.0)
    beta = rng.uniform(1.8, 3.2)
    if kind == "turbulence":
        turb_cm, beta = rng.uniform(2.5, 4.0), rng.uniform(1.8, 2.8)
    elif kind == "stratified":
        turb_cm = rng.uniform(0.0, 1.5)
    anisotropy = rng.uniform(1.5, 3.0) if rng.random() < 0.5 else 1.0
    angle = rng.uniform(0, 180)
    strat_cm_km = rng.uniform(0.0, 1.5) * (1 if rng.random() < 0.5 else -1)
    if kind == "stratified":
        strat_cm_km = rng.uniform(1.5, 3.5) * (1 if rng.random() < 0.5 else -1)
    delay = turbulent_delay(rng, shape, pixel, turb_cm / 100.0, beta, anisotropy, angle)
    delay += stratified_delay(rng, dem, strat_cm_km / 100.0)
    atmosphere = FOUR_PI_OVER_LAMBDA * delay + ramp_phase(
        rng, east, north, 2.0 if kind == "turbulence" else 1.0
    )
    meta.update(
        relief_m=round(relief), turbulence_cm=round(turb_cm, 2), psd_beta=round(beta, 2),
        anisotropy=round(anisotropy, 2), stratified_cm_per_km=round(strat_cm_km, 2),
    )  # fmt: skip

    # geometry and deformation
    incidence = rng.uniform(30.0, 45.0)
    ascending = rng.random() < 0.5
    heading = rng.uniform(-15.0, -8.0) if ascending else rng.uniform(188.0, 195.0)
    look = los_vector(incidence, heading)
    meta.update(incidence_deg=round(incidence, 1), orbit="ascending" if ascending else "descending")
    los = np.zeros(shape)
    sources: list[dict[str, Any]] = []
    if kind == "deforming":
        n_sources = 2 if rng.random() < 0.25 else 1
        for _ in range(n_sources):
            source_kind = str(rng.choice(DEFORMATION_KINDS, p=_DEFORMATION_P))
            (ue, un, uu), info = _source(rng, source_kind, east, north, extent)
            unit = ue * look[0] + un * look[1] + uu * look[2]
            fringes = math.exp(rng.uniform(math.log(0.7), math.log(10.0)))
            sign = 1.0 if rng.random() < 0.5 else -1.0
            los += unit * (sign * fringes * WAVELENGTH_M / 2.0 / np.abs(unit).max())
            info["peak_fringes"] = round(fringes, 2)
            sources.append(info)
    meta["sources"] = sources
    deformation = -FOUR_PI_OVER_LAMBDA * los

    # coherence, water, noise
    coh = coherence_field(rng, shape, decorrelated=kind == "decorrelated")
    water = np.zeros(shape, dtype=bool)
    if kind == "water" or rng.random() < 0.25:
        fraction = rng.uniform(0.25, 0.5) if kind == "water" else rng.uniform(0.03, 0.2)
        water = dem < np.quantile(dem, fraction)
    label_full = np.abs(los) > WAVELENGTH_M / 4.0
    if label_full.any() and (label_full & ~water).sum() < 0.5 * label_full.sum():
        water[:] = False  # a deforming scene keeps most of its label on land
    water_mode = str(rng.choice(["nan", "zero", "noise"]))
    coh = np.where(water, rng.uniform(0.03, 0.12), coh)
    looks = int(rng.integers(4, 21))
    noise, coh_estimate = multilook_phase_noise(rng, coh, looks)
    phase = wrap(deformation + atmosphere + noise).astype(np.float32)
    coherence = coh_estimate.astype(np.float32)
    nodata = water if water_mode != "noise" else np.zeros(shape, dtype=bool)
    if rng.random() < 0.15:  # products that mask low coherence
        nodata |= ndimage.uniform_filter(coh_estimate, 5) < 0.15
        meta["low_coherence_masked"] = True
    fill = np.float32(np.nan) if water_mode == "nan" else np.float32(0.0)
    phase[nodata] = fill
    coherence[nodata] = fill
    meta.update(looks=looks, water_fraction=round(float(water.mean()), 3), nodata=water_mode)

    label = label_full & ~water & ~nodata
    if kind == "deforming" and not label.any():  # cannot happen with peaks >= 0.7 fringes on land
        raise RuntimeError(f"scene {index} of seed {seed}: empty label")
    return Scene(
        name=f"s{seed}-{index:04d}", kind=kind, wrapped_phase=phase,
        coherence=coherence if with_coherence else None, label=label, pixel_size_m=pixel, meta=meta,
    )  # fmt: skip


# ----------------------------------------------------------------------------------------- cache


def _save(scene: Scene, path: Path) -> None:
    arrays: dict[str, Any] = {"wrapped_phase": scene.wrapped_phase, "label": scene.label}
    if scene.coherence is not None:
        arrays["coherence"] = scene.coherence
    info = {"name": scene.name, "kind": scene.kind, "pixel_size_m": scene.pixel_size_m,
            "wavelength_m": scene.wavelength_m, "meta": scene.meta}  # fmt: skip
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, info=np.array(json.dumps(info)), **arrays)
    tmp.replace(path)


def _load(path: Path) -> Scene:
    with np.load(path) as data:
        info = json.loads(str(data["info"]))
        return Scene(
            name=info["name"], kind=info["kind"], wrapped_phase=data["wrapped_phase"],
            coherence=data["coherence"] if "coherence" in data else None, label=data["label"],
            pixel_size_m=info["pixel_size_m"], wavelength_m=info["wavelength_m"], meta=info["meta"],
        )  # fmt: skip


def load_scenes(n_scenes: int, seed: int, cache: Path | None = None) -> list[Scene]:
    """The first ``n_scenes`` scenes of ``seed``, read from ``cache`` (a folder) or generated into it."""
    if cache is None:
        return [make_scene(seed, i) for i in range(n_scenes)]
    folder = Path(cache) / f"v{GENERATOR_VERSION}-seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    scenes = []
    for i in range(n_scenes):
        path = folder / f"scene_{i:04d}.npz"
        if path.exists():
            scenes.append(_load(path))
        else:
            scene = make_scene(seed, i)
            _save(scene, path)
            scenes.append(scene)
    return scenes
