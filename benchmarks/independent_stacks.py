"""Independent synthetic interferogram stacks for the time-series benchmarks (``benchmarks/slow_motion.py``).

Like :mod:`independent_scenes` (whose pieces it reuses) nothing here comes from ``fringenet``: a model
that learned the quirks of ``fringenet.simulate`` gains nothing. A stack:

- **Dates** every 12 days (Sentinel-1), each paired with its next ``neighbours`` dates.
- **Motion**: one slow mover with a constant LOS velocity, of a kind drawn per scene: a landslide (an
  elliptical, smoothly tapered patch moving along its slope, 200-1500 m long), a Knothe subsidence bowl over a
  panel, or a Mogi source; its LOS pattern is normalised to a peak of 1 and scaled by the velocity, so the
  same scene at several velocities differs only in its motion (common random numbers for recall curves).
- **Atmosphere** per date: troposim turbulence (0-2 cm one-way, sampled spectral slope, anisotropy) and a
  stratified delay with a per-date coefficient of either sign; the interferogram takes the difference.
- **Noise** per pair: the scene's coherence field decaying with the pair's time span
  (``γ(Δt) = γ0 · exp(-Δt / τ)``, τ 40-400 days), phase noise of a ``looks``-look interferogram, and the
  estimated coherence beside it.

The label is the mover's footprint (``|v| >= 25 %`` of its peak); velocities are LOS (m/yr, positive
towards the satellite) and the phase ``-4π/λ · LOS`` as in docs/conventions.md. Scene ``i`` of seed ``s``
with ``n`` dates comes from ``SeedSequence([s, i, n])`` alone; the velocity only scales the motion.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

import independent_scenes as scenes

WAVELENGTH_M = scenes.WAVELENGTH_M
DAYS_PER_YEAR = 365.25
REVISIT_DAYS = 12
MOVER_KINDS = ("landslide", "subsidence_bowl", "mogi")
LABEL_FRACTION = 0.25
"""A pixel is labelled moving where its |velocity| reaches this fraction of the mover's peak."""


@dataclass
class Stack:
    """One synthetic stack: wrapped phase and coherence per pair, terrain, truth."""

    wrapped_phase: NDArray[np.float32]  # (pair, H, W), rad
    coherence: NDArray[np.float32]  # (pair, H, W), estimated
    dem: NDArray[np.float32]  # (H, W), m
    pairs: NDArray[np.int64]  # (pair, 2): date indices
    dates: list[dt.date]
    velocity_m_per_yr: NDArray[np.float32]  # (H, W), true LOS velocity
    label: NDArray[np.bool_]  # (H, W)
    pixel_m: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def reference_dates(self) -> list[dt.date]:
        return [self.dates[i] for i in self.pairs[:, 0]]

    @property
    def secondary_dates(self) -> list[dt.date]:
        return [self.dates[j] for j in self.pairs[:, 1]]


def network(n_dates: int, neighbours: int) -> NDArray[np.int64]:
    """Each date paired with its next ``neighbours`` dates: ``(pair, 2)`` index pairs."""
    return np.array(
        [(i, j) for i in range(n_dates) for j in range(i + 1, min(n_dates, i + 1 + neighbours))],
        dtype=np.int64,
    )


def landslide(
    rng: np.random.Generator, east: NDArray, north: NDArray, dem: NDArray, pixel_m: float, extent: float
) -> tuple[tuple[NDArray, NDArray, NDArray], dict[str, Any]]:
    """A tapered elliptical patch moving downslope (east, north, up per unit speed)."""
    x0, y0 = rng.uniform(-0.3, 0.3, 2) * extent
    length = rng.uniform(200.0, 1500.0)
    width = length * rng.uniform(0.3, 0.8)
    gy, gx = np.gradient(dem, pixel_m)  # rows run south: d/dnorth = -gy
    r0, c0 = int(np.argmin(np.abs(north[:, 0] - y0))), int(np.argmin(np.abs(east[0] - x0)))
    downslope = math.atan2(gy[r0, c0], -gx[r0, c0]) if math.hypot(gx[r0, c0], gy[r0, c0]) > 1e-6 else 0.0
    theta = downslope if rng.random() < 0.8 else rng.uniform(0, 2 * math.pi)  # azimuth of motion
    u = (east - x0) * math.cos(theta) + (north - y0) * math.sin(theta)
    v = -(east - x0) * math.sin(theta) + (north - y0) * math.cos(theta)
    rho = np.sqrt((u / (0.5 * length)) ** 2 + (v / (0.5 * width)) ** 2)
    taper = np.where(rho < 1.0, 0.5 * (1.0 + np.cos(math.pi * np.clip(rho, 0.0, 1.0))), 0.0)
    plunge = math.radians(rng.uniform(5.0, 35.0))  # motion dips into the slope
    east_u = taper * math.cos(plunge) * math.cos(theta)
    north_u = taper * math.cos(plunge) * math.sin(theta)
    up = -taper * math.sin(plunge)
    info = {"type": "landslide", "length_m": round(length), "width_m": round(width)}
    return (east_u, north_u, up), info


def make_stack(seed: int, index: int, n_dates: int, velocity_m_per_yr: float, *, size: int = 128,
               neighbours: int = 3) -> Stack:  # fmt: skip
    """Stack ``index`` of ``seed`` with ``n_dates`` dates and a mover of peak |LOS velocity| ``velocity_m_per_yr``
    (0: no motion, the same scene otherwise)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index, n_dates]))
    pixel_m = float(rng.choice([15.0, 30.0, 60.0, 90.0]))
    shape = (size, size)
    east, north = scenes.coordinates(shape, pixel_m)
    extent = size * pixel_m
    dem = scenes.terrain(rng, shape, relief_m=rng.uniform(100.0, 2500.0))
    kind = MOVER_KINDS[index % len(MOVER_KINDS)]
    if kind == "landslide":
        enu, info = landslide(rng, east, north, dem, pixel_m, extent)
    else:
        enu, info = scenes._source(rng, kind, east, north, extent)
    incidence, heading = rng.uniform(30.0, 45.0), (-12.0 if rng.random() < 0.5 else -168.0)
    los = scenes.los_vector(incidence, heading)
    pattern = enu[0] * los[0] + enu[1] * los[1] + enu[2] * los[2]
    pattern = pattern / max(float(np.abs(pattern).max()), 1e-12)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    velocity = (sign * velocity_m_per_yr * pattern).astype(np.float32)
    label = np.abs(pattern) >= LABEL_FRACTION if velocity_m_per_yr > 0 else np.zeros(shape, bool)
    start = dt.date(2020, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365)))
    dates = [start + dt.timedelta(days=REVISIT_DAYS * k) for k in range(n_dates)]
    years = np.array([(d - start).days / DAYS_PER_YEAR for d in dates])
    # atmosphere per date (two-way phase of the one-way delay)
    to_phase = 4 * math.pi / WAVELENGTH_M
    turbulence_cm = rng.uniform(0.0, 2.0)
    beta = rng.uniform(1.6, 2.4)
    anisotropy, angle = (rng.uniform(1.0, 3.0), rng.uniform(0, 180)) if rng.random() < 0.4 else (1.0, 0.0)
    strat_scale = rng.uniform(0.0, 1.5)  # cm per km, per-date coefficient's spread
    atmosphere = np.empty((n_dates, *shape))
    for k in range(n_dates):
        delay = scenes.turbulent_delay(rng, shape, pixel_m, turbulence_cm * rng.uniform(0.3, 1.0) / 100.0, beta,
                                       anisotropy, angle)  # fmt: skip
        delay += scenes.stratified_delay(rng, dem, rng.normal(0.0, strat_scale) / 100.0)
        atmosphere[k] = to_phase * delay
    # coherence: a scene field decaying with the pair's time span
    gamma0 = scenes.coherence_field(rng, shape, decorrelated=False)
    tau_days = rng.uniform(40.0, 400.0)
    looks = int(rng.integers(4, 21))
    pairs = network(n_dates, neighbours)
    wrapped = np.empty((len(pairs), *shape), np.float32)
    coherence = np.empty((len(pairs), *shape), np.float32)
    motion_phase = -to_phase * velocity.astype(np.float64)  # rad per year
    for p, (i, j) in enumerate(pairs):
        span = (dates[j] - dates[i]).days
        gamma = gamma0 * math.exp(-span / tau_days)
        noise, estimated = scenes.multilook_phase_noise(rng, gamma, looks)
        phase = motion_phase * (years[j] - years[i]) + atmosphere[j] - atmosphere[i] + noise
        wrapped[p] = scenes.wrap(phase)
        coherence[p] = estimated
    info.update(kind=kind, pixel_m=pixel_m, incidence_deg=round(incidence, 1), heading_deg=heading, looks=looks,
                tau_days=round(tau_days), turbulence_cm=round(turbulence_cm, 2), n_dates=n_dates,
                n_pairs=len(pairs), label_px=int(label.sum()))  # fmt: skip
    return Stack(wrapped, coherence, dem.astype(np.float32), pairs, dates, velocity, label, pixel_m, info)


def fringes_per_pair(velocity_m_per_yr: float, span_days: float = REVISIT_DAYS) -> float:
    """Fringes (2π cycles) a velocity makes in one pair of ``span_days``."""
    return abs(velocity_m_per_yr) * span_days / DAYS_PER_YEAR / (WAVELENGTH_M / 2.0)
