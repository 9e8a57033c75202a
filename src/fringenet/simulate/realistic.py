"""On-the-fly training interferograms drawn widely over what real products look like.

:func:`sample_interferogram` draws one wrapped interferogram with its labels from a seed in a few
milliseconds, so detectors train on an unlimited, never-repeating stream (every batch new, the
same seed the same bytes). Compared with the scene simulator (:mod:`fringenet.simulate.scene`),
which reproduces one configured scenario, everything here is randomised per sample:

- deformation of every kind (Mogi, Okada faults of every mechanism, buried or surface-rupturing,
  dykes, sills, subsidence bowls, landslides, rock glaciers), 1-3 sources, peak LOS signal from a
  fraction of a fringe to 30+ fringes, footprints from a few pixels to more than the window;
- pixel spacing 15-100 m, ascending or descending, incidence 29-46 deg;
- turbulent delay (spectral slope, anisotropy, 0-4 cm at a 50 km scale, scaled to the window by
  its structure function), stratified delay of either sign proportional to elevation, orbital and
  ionospheric ramps;
- coherence of arid/urban, vegetated and snowy scenes, decorrelation patches, water and layover
  delivered as NaN, 0 or noise, swath edges of no-data; phase noise drawn for the coherence and
  number of looks, where dense fringes decorrelate within a resolution cell; optional Goldstein
  filtering as processors apply it;
- hard negatives (no deformation) in ``negative_fraction`` of the samples.

Labels: ``label`` marks deformation above ``label_fringes`` of LOS phase (default half a fringe,
the rule the benchmarks use for real data); ``unusable`` marks no-data, water, layover and true
coherence below ``unusable_coherence`` (the Mask Net's target).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

from fringenet.conventions import SENTINEL1_WAVELENGTH_M, wrap
from fringenet.insar.filtering import goldstein_filter
from fringenet.simulate import sources as src
from fringenet.simulate.decorrelation import wishart_phase_noise
from fringenet.simulate.geometry import los_unit_vector
from fringenet.simulate.terrain import fractal_dem, layover_shadow, power_law_field, slope_aspect

FloatArray = NDArray[np.float64]

SOURCE_KINDS = (
    "mogi", "strike_slip", "thrust", "normal", "dyke", "sill", "bowl", "landslide", "rock_glacier",
)  # fmt: skip
"""Deformation sources a sample may hold."""


class RealisticConfig(BaseModel):
    """Ranges the on-the-fly interferograms are drawn from (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    size: int = Field(128, ge=32, le=2048, description="Side of a sample (px).")
    pixel_size_m: tuple[float, float] = Field(
        (15.0, 100.0), description="Pixel spacing range (m), log-uniform."
    )
    wavelength_m: float = Field(SENTINEL1_WAVELENGTH_M, gt=0, description="Radar wavelength (m).")
    negative_fraction: float = Field(0.4, ge=0, le=1, description="Share of samples without deformation.")
    max_sources: int = Field(3, ge=1, le=8, description="Most deformation sources in one sample.")
    peak_fringes: tuple[float, float] = Field(
        (0.3, 35.0), description="Peak LOS signal of a source (fringes = 2 pi rad), log-uniform."
    )
    footprint_px: tuple[float, float] = Field(
        (3.0, 300.0), description="Source scale (depth, fault length, bowl width) in px, log-uniform."
    )
    turbulence_cm: tuple[float, float] = Field(
        (0.0, 4.0), description="Turbulent delay RMS over a 50 km scene (cm, one-way), skewed to low values."
    )
    stratified_cm_per_km: float = Field(
        1.2,
        ge=0,
        description="Spread of the stratified delay coefficient (cm per km of elevation), either sign.",
    )
    ramp_fringes_per_100km: float = Field(2.0, ge=0, description="Largest orbital/ionospheric ramp.")
    label_fringes: float = Field(
        0.5, gt=0, description="Deformation above this |LOS phase| (fringes) is labelled."
    )
    unusable_coherence: float = Field(0.2, ge=0, le=1, description="True coherence below this is unusable.")
    looks: tuple[float, float] = Field(
        (2.0, 40.0), description="Number of looks of the phase noise, log-uniform (processors: ~5 to ~200)."
    )
    goldstein_fraction: float = Field(0.3, ge=0, le=1, description="Share of samples Goldstein-filtered.")


@dataclass
class InterferogramSample:
    """One drawn interferogram (``(H, W)`` arrays) with its truth."""

    wrapped_phase: NDArray[np.float32]
    """Wrapped phase (rad); no-data as NaN or as exact 0 (``nodata_style``)."""
    label: NDArray[np.bool_]
    """Deformation above ``label_fringes`` of LOS phase."""
    unusable: NDArray[np.bool_]
    """No-data, water, layover or true coherence below ``unusable_coherence``."""
    ignore: NDArray[np.bool_]
    """Labelled pixels whose phase carries no signal (decorrelated or no-data): left out of losses."""
    coherence: NDArray[np.float32]
    """True coherence after fringe decorrelation (what the noise was drawn for)."""
    deformation_phase: NDArray[np.float32]
    atmosphere_phase: NDArray[np.float32]
    dem: NDArray[np.float32]
    pixel_size_m: float
    wavelength_m: float
    nodata_style: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def anisotropic_power_law(
    rng: np.random.Generator,
    shape: tuple[int, int],
    spectral_slope: float,
    anisotropy: float = 1.0,
    angle_deg: float = 0.0,
) -> FloatArray:
    """A zero-mean, unit-std Gaussian field ``(H, W)`` with ``P(k) ~ k_a**spectral_slope``, where ``k_a`` is the
    wavenumber stretched by ``anisotropy`` along ``angle_deg`` (features elongated across it), synthesised on
    a 1.5x grid and cropped so it is not periodic."""
    h, w = shape
    big = (int(h * 1.5) + 8, int(w * 1.5) + 8)
    ky = np.fft.fftfreq(big[0])[:, None]
    kx = np.fft.rfftfreq(big[1])[None, :]
    a = np.deg2rad(angle_deg)
    k_along = kx * np.cos(a) + ky * np.sin(a)
    k_across = -kx * np.sin(a) + ky * np.cos(a)
    k = np.hypot(k_along * anisotropy, k_across / anisotropy)
    k[0, 0] = np.inf
    white = rng.standard_normal((big[0], big[1] // 2 + 1)) + 1j * rng.standard_normal(
        (big[0], big[1] // 2 + 1)
    )
    out = np.fft.irfft2(white * k ** (spectral_slope / 2.0), s=big)[:h, :w]
    out -= out.mean()
    return out / (out.std() + 1e-300)


def _blobs(rng: np.random.Generator, shape: tuple[int, int], fraction: float, slope: float = -3.5) -> NDArray:
    """A smooth random mask covering about ``fraction`` of the grid."""
    if fraction <= 0:
        return np.zeros(shape, dtype=bool)
    fieldv = power_law_field(rng, (shape[0] + 16, shape[1] + 16), slope)[8:-8, 8:-8]
    return fieldv > np.quantile(fieldv, 1.0 - fraction)


def _source(
    rng: np.random.Generator,
    kind: str,
    x: FloatArray,
    y: FloatArray,
    dem: FloatArray,
    slope: FloatArray,
    aspect: FloatArray,
    pixel: float,
    extent: float,
    scale_px: float,
) -> tuple[FloatArray, dict[str, Any]] | None:
    """East/north/up displacement (arbitrary scale) of one source, centred somewhere near the window."""
    scale = scale_px * pixel
    reach = 0.5 * extent + 0.3 * scale  # large sources may sit off the window and reach into it
    xs, ys = (float(v) for v in rng.uniform(-reach, reach, 2))
    info: dict[str, Any] = {"kind": kind, "x_m": xs, "y_m": ys, "scale_m": scale}
    sign = float(rng.choice([-1.0, 1.0]))
    if kind == "mogi":
        return src.mogi(x, y, xs, ys, depth_m=scale, dvolume_m3=sign * 1e6), info
    if kind == "bowl":
        minor = scale * rng.uniform(0.3, 1.0)
        field_ = src.distorted_gaussian_bowl(
            x, y, xs, ys, scale, minor, rng.uniform(0, 180), rng.uniform(-0.5, 0.5), sign * 1.0,
            horizontal_coeff=rng.uniform(0.0, 0.6),
        )  # fmt: skip
        return field_, info
    if kind in ("landslide", "rock_glacier"):
        steep = np.flatnonzero(slope.ravel() > 12.0)
        if steep.size == 0:
            return None
        k = int(rng.choice(steep))
        centre = (float(x.ravel()[k]), float(y.ravel()[k]))
        length = max(scale, 3 * pixel)
        body = src.landslide_lobe if kind == "landslide" else src.rock_glacier
        pattern, _ = body(x, y, dem, slope, aspect, centre, length, length * rng.uniform(0.3, 0.8), rng)
        info.update(x_m=centre[0], y_m=centre[1])
        return pattern, info
    strike = rng.uniform(0, 360)
    length = scale * rng.uniform(1.0, 3.0)
    width = scale * rng.uniform(0.3, 1.0)
    rake, slip, opening = 0.0, 0.0, 0.0
    if kind == "strike_slip":
        dip, rake, slip = rng.uniform(60, 90), float(rng.choice([0.0, 180.0])), 1.0
    elif kind == "thrust":
        dip, rake, slip = rng.uniform(15, 45), 90.0 + rng.uniform(-30, 30), 1.0
    elif kind == "normal":
        dip, rake, slip = rng.uniform(35, 65), -90.0 + rng.uniform(-30, 30), 1.0
    elif kind == "dyke":
        dip, opening = rng.uniform(75, 90), 1.0
    else:  # sill
        dip, opening, width = rng.uniform(0, 10), sign * 1.0, length * rng.uniform(0.5, 1.0)
    half_height = 0.5 * width * np.sin(np.deg2rad(dip))
    rupture = kind in ("strike_slip", "thrust", "normal", "dyke") and rng.random() < 0.35
    top = 1.0 if rupture else scale * rng.uniform(0.2, 1.5)
    depth = top + half_height
    info.update(
        strike_deg=strike, dip_deg=dip, length_m=length, width_m=width, depth_m=depth, rupture=rupture
    )
    field_ = src.okada_source(x, y, xs, ys, depth, strike, dip, length, width, rake, slip, opening)
    return field_, info


def _coherence(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[FloatArray, str]:
    """True coherence of a scene class (arid/urban, vegetated, snowy/mixed)."""
    land = str(rng.choice(["arid", "vegetated", "mixed"], p=[0.5, 0.3, 0.2]))
    base = {
        "arid": rng.uniform(0.6, 0.95),
        "vegetated": rng.uniform(0.2, 0.55),
        "mixed": rng.uniform(0.15, 0.8),
    }[land]
    spread = rng.uniform(0.05, 0.25) if land != "mixed" else rng.uniform(0.2, 0.35)
    texture = power_law_field(rng, (shape[0] + 16, shape[1] + 16), rng.uniform(-3.5, -2.0))[8:-8, 8:-8]
    coherence = base + spread * texture
    patches = _blobs(rng, shape, rng.uniform(0.0, 0.3) if rng.random() < 0.5 else 0.0)
    coherence = np.where(patches, rng.uniform(0.02, 0.15), coherence)
    return np.clip(coherence, 0.02, 0.98), land


def _fringe_coherence(signal: FloatArray) -> FloatArray:
    """Coherence loss of phase that varies within a resolution cell: ``|mean exp(i phi)|`` over 3x3."""
    z = np.exp(1j * signal)
    mean = ndimage.uniform_filter(z.real, 3, mode="nearest") + 1j * ndimage.uniform_filter(
        z.imag, 3, mode="nearest"
    )
    return np.abs(mean)


def sample_interferogram(seed: int, config: RealisticConfig | None = None) -> InterferogramSample:
    """Draw one interferogram and its truth from ``seed`` (deterministic: same seed, same bytes)."""
    config = config or RealisticConfig()
    rng = np.random.default_rng([seed, 0x1F5A])
    n = config.size
    shape = (n, n)
    pixel = _log_uniform(rng, *config.pixel_size_m)
    extent = n * pixel
    lam = config.wavelength_m
    to_phase = 4.0 * np.pi / lam  # LOS metres -> rad
    params: dict[str, Any] = {"pixel_size_m": pixel}

    relief = min(4000.0, extent * rng.uniform(0.0, 0.25)) if rng.random() < 0.8 else rng.uniform(0, 30)
    dem = fractal_dem(
        rng, shape, pixel, relief, valley_depth=rng.uniform(0, 0.6), base_elevation_m=rng.uniform(0, 3000)
    )
    slope, aspect = slope_aspect(dem, pixel)
    incidence = rng.uniform(29.0, 46.0)
    heading = float(rng.choice([-12.0, -168.0])) + rng.normal(0, 2)
    le, ln, lu = los_unit_vector(incidence, heading)
    params.update(relief_m=relief, incidence_deg=incidence, heading_deg=heading)

    # deformation
    x, y = src.grid_coordinates(shape, pixel)
    deformation = np.zeros(shape)
    sources: list[dict[str, Any]] = []
    if rng.random() >= config.negative_fraction:
        count = int(rng.choice(np.arange(1, config.max_sources + 1), p=_count_weights(config.max_sources)))
        for _ in range(count):
            kind = str(rng.choice(SOURCE_KINDS, p=[0.16, 0.1, 0.1, 0.08, 0.07, 0.07, 0.18, 0.14, 0.1]))
            lo, hi = config.footprint_px
            if kind in ("landslide", "rock_glacier"):
                lo, hi = lo, min(hi, 0.5 * n)
            drawn = _source(rng, kind, x, y, dem, slope, aspect, pixel, extent, _log_uniform(rng, lo, hi))
            if drawn is None:
                continue
            enu, info = drawn
            los = enu[0] * le + enu[1] * ln + enu[2] * lu
            peak = float(np.max(np.abs(los)))
            if not np.isfinite(peak) or peak <= 0:
                continue
            fringes = _log_uniform(rng, *config.peak_fringes)
            if kind in ("landslide", "rock_glacier"):
                fringes = min(fringes, 4.0)  # creeping bodies rarely show more in one pair
            deformation += los / peak * fringes * 2.0 * np.pi * float(rng.choice([-1.0, 1.0]))
            info["peak_fringes"] = fringes
            sources.append(info)

    # atmosphere: turbulence scaled by its structure function from 50 km to the window, stratified, ramps
    beta = rng.uniform(2.4, 3.7)
    hurst = (beta - 2.0) / 2.0
    sigma50_cm = (
        config.turbulence_cm[0] + (config.turbulence_cm[1] - config.turbulence_cm[0]) * rng.random() ** 1.5
    )
    rms_cm = sigma50_cm * min(1.0, extent / 50_000.0) ** hurst
    anisotropy = 1.0 if rng.random() < 0.5 else rng.uniform(1.0, 2.5)
    turbulent = anisotropic_power_law(rng, shape, -beta, anisotropy, rng.uniform(0, 180))
    atmosphere = turbulent * rms_cm * 1e-2 * to_phase
    k_cm_km = float(np.clip(rng.normal(0, config.stratified_cm_per_km), -3.0, 3.0))
    atmosphere += k_cm_km * 1e-2 * (dem - dem.mean()) / 1000.0 * to_phase
    ramp = rng.uniform(0, config.ramp_fringes_per_100km) * 2 * np.pi / 100_000.0
    theta = rng.uniform(0, 2 * np.pi)
    atmosphere += ramp * (x * np.cos(theta) + y * np.sin(theta))
    if rng.random() < 0.3:
        atmosphere += rng.normal(0, 1) * ramp * (x**2 + y**2) / max(extent, 1.0)
    params.update(turbulence_rms_cm=rms_cm, spectral_slope=-beta, anisotropy=anisotropy,
                  stratified_cm_per_km=k_cm_km, ramp_rad_per_m=ramp)  # fmt: skip

    # coherence, no-data and noise
    coherence, land = _coherence(rng, shape)
    layover = layover_shadow(dem, pixel, incidence, heading)[0] if relief > 50 else np.zeros(shape, bool)
    water = np.zeros(shape, dtype=bool)
    if rng.random() < 0.3:
        low = dem + 0.3 * np.ptp(dem) * power_law_field(rng, shape, -3.5) * 0.2
        water = low <= np.quantile(low, rng.uniform(0.02, 0.25))
    signal = deformation + atmosphere
    coherence = coherence * _fringe_coherence(signal)
    coherence[water | layover] = rng.uniform(0.0, 0.08)
    looks = round(_log_uniform(rng, *config.looks))
    noise = wishart_phase_noise(rng, coherence, looks)
    z = np.exp(1j * (signal + noise + rng.uniform(-np.pi, np.pi)))  # the phase reference is arbitrary
    if rng.random() < config.goldstein_fraction:
        z = goldstein_filter(z, alpha=rng.uniform(0.3, 0.9), window=32)
    phase = np.angle(z)
    nodata = np.zeros(shape, dtype=bool)
    style = str(rng.choice(["nan", "zero", "noise"], p=[0.45, 0.2, 0.35]))
    if style != "noise":
        nodata |= water | layover | (coherence < 0.1) & (rng.random() < 0.5)
    if rng.random() < 0.15:  # a swath or burst edge
        cut = rng.uniform(-0.4, 0.4) * extent
        a = rng.uniform(0, 2 * np.pi)
        nodata |= (x * np.cos(a) + y * np.sin(a)) > cut + 0.3 * extent
    phase = np.where(nodata, np.nan if style != "zero" else 0.0, phase)
    params.update(land=land, looks=looks, nodata_style=style)

    label = np.abs(deformation) > config.label_fringes * 2.0 * np.pi
    unusable = nodata | water | layover | (coherence < config.unusable_coherence)
    ignore = label & (nodata | (coherence < 0.15))
    return InterferogramSample(
        wrapped_phase=phase.astype(np.float32), label=label, unusable=unusable, ignore=ignore,
        coherence=coherence.astype(np.float32), deformation_phase=deformation.astype(np.float32),
        atmosphere_phase=atmosphere.astype(np.float32), dem=dem.astype(np.float32), pixel_size_m=pixel,
        wavelength_m=lam, nodata_style=style, sources=sources, params=params,
    )  # fmt: skip


def _count_weights(max_sources: int) -> NDArray[np.float64]:
    w = 0.5 ** np.arange(max_sources, dtype=np.float64)
    return w / w.sum()


def valid_phase(sample: InterferogramSample) -> NDArray[np.bool_]:
    """Pixels holding phase (not NaN and, for products that write 0 as no-data, not exactly 0)."""
    phase = sample.wrapped_phase
    valid = np.isfinite(phase)
    if sample.nodata_style == "zero":
        valid &= phase != 0
    return valid


__all__ = [
    "SOURCE_KINDS",
    "InterferogramSample",
    "RealisticConfig",
    "sample_interferogram",
    "valid_phase",
    "wrap",
]
