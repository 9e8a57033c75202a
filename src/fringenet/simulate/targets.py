"""Deformation targets for a synthetic scene: a unit-peak spatial pattern times a temporal model.

:func:`draw_targets` draws sources with physically sensible, widely randomised parameters and
places them where the terrain allows. Rasters are north-up ``(H, W)`` (row 0 = north); slope is
in degrees from horizontal and aspect the downslope direction in degrees clockwise from north.
Ranges drawn (m/yr are peak rates of the pattern in the scene):

- landslide: 0.005-1 m/yr (log-uniform), 50-1500 m long, on slopes of 15-45 deg;
- rockglacier: 0.1-2 m/yr, 100-1000 m long, in the highest 30 % of the terrain on 10-35 deg;
- subsidence: 0.02-0.5 m/yr, Gaussian, distorted Gaussian or flat-bottomed bowls 200 m-2 km across;
- volcano: Mogi point source, Okada sill (0.01-0.2 m/yr at 1-6 km, 20 % deflating) or a dyke
  intrusion (a 2-50 cm step);
- earthquake: Mw 5-6.5 Okada rupture (Wells & Coppersmith 1994 sizes), as a step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fringenet.errors import InputError
from fringenet.simulate import sources
from fringenet.simulate.temporal import TemporalModel, random_temporal_model

SCENARIOS = ("landslide", "rockglacier", "subsidence", "volcano", "earthquake", "mixed")
TARGET_KINDS = SCENARIOS[:-1]
FOOTPRINT_THRESHOLD = 0.05
"""Outside landslide / rock-glacier bodies, the footprint is where ``|pattern| >=`` this."""

_DEFAULT_COUNTS = {"landslide": (1, 3), "rockglacier": (1, 2), "subsidence": (1, 2), "volcano": (1, 1)}
_MIXED_WEIGHTS = {
    "landslide": 0.35,
    "rockglacier": 0.2,
    "subsidence": 0.25,
    "volcano": 0.1,
    "earthquake": 0.1,
}
_REGIONAL = ("volcano", "earthquake")
_SHEAR_MODULUS_PA = 3.0e10
_MAX_ATTEMPTS = 25


@dataclass
class Target:
    """One deformation source in a scene.

    Attributes
    ----------
    kind
        One of ``TARGET_KINDS``.
    source
        Model name: ``mogi``, ``okada``, ``okada_sill``, ``okada_dyke``, ``gaussian_bowl``,
        ``distorted_gaussian_bowl``, ``reservoir_bowl``, ``landslide_lobe`` or ``rock_glacier``.
    pattern_enu
        Float32 ``(3, H, W)`` ground displacement (east, north, up) per metre of the temporal
        factor; the peak of its vector magnitude is 1.
    temporal
        Its ``displacement(t)`` (m) multiplies the pattern.
    footprint
        Bool ``(H, W)``: the moving body (landslides, rock glaciers) or ``|pattern| >= 0.05``.
    params
        Physical parameters drawn (SI units named in the keys).
    """

    kind: str
    source: str
    pattern_enu: NDArray[np.float32]
    temporal: TemporalModel
    footprint: NDArray[np.bool_]
    params: dict[str, Any] = field(default_factory=dict)

    def displacement_enu(self, t_years: ArrayLike) -> NDArray[np.float32]:
        """Ground displacement (m, float32) at ``t_years``: ``(3, H, W)`` for a scalar time,
        ``(T, 3, H, W)`` for a 1-D array of T times."""
        d = self.temporal.displacement(t_years)
        if d.ndim == 0:
            return (self.pattern_enu * np.float32(d)).astype(np.float32)
        return (d.astype(np.float32)[:, None, None, None] * self.pattern_enu[None]).astype(np.float32)


@dataclass(frozen=True)
class _Scene:
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    dem: NDArray[np.float64]
    slope: NDArray[np.float64]
    aspect: NDArray[np.float64]
    pixel_m: float
    time_span_yr: float

    @property
    def extent_m(self) -> float:
        return float(min(self.dem.shape)) * self.pixel_m


def draw_targets(
    rng: np.random.Generator,
    scenario: str,
    dem: ArrayLike,
    slope_deg: ArrayLike,
    aspect_deg: ArrayLike,
    pixel_size_m: float,
    n_targets: int | None = None,
    *,
    time_span_yr: float = 1.0,
) -> list[Target]:
    """Draw deformation targets for one scene.

    Parameters
    ----------
    rng
        Random generator; the same state gives identical targets.
    scenario
        One of ``SCENARIOS``; ``mixed`` draws a random mix of the other kinds.
    dem, slope_deg, aspect_deg
        ``(H, W)`` elevation (m), slope (deg) and aspect (deg, downslope, clockwise from north).
    pixel_size_m
        Pixel spacing (m).
    n_targets
        How many to attempt; default 1-3 landslides, 1-2 rock glaciers or subsidence bowls,
        1 volcano or earthquake, or 2-4 of mixed kinds.
    time_span_yr
        Length of the time series (yr); earthquake and other steps fall within it.

    Returns
    -------
    list of Target
        Possibly fewer than ``n_targets`` where the terrain offers no suitable place.
    """
    if scenario not in SCENARIOS:
        raise InputError(
            "draw_targets", f"unknown scenario {scenario!r}; valid scenarios: {', '.join(SCENARIOS)}"
        )
    scene = _check_scene(dem, slope_deg, aspect_deg, pixel_size_m, time_span_yr)
    if n_targets is not None and (int(n_targets) != n_targets or n_targets < 0):
        raise InputError("draw_targets", f"n_targets must be a non-negative integer (got {n_targets!r})")
    if scenario == "mixed":
        n = int(rng.integers(2, 5)) if n_targets is None else int(n_targets)
        kinds = list(_MIXED_WEIGHTS)
        probs = np.array(list(_MIXED_WEIGHTS.values()))
        plan = [str(k) for k in rng.choice(kinds, size=n, p=probs / probs.sum())]
        # One regional source (volcano, earthquake) of each kind is plenty for one scene.
        plan = [k for i, k in enumerate(plan) if k not in _REGIONAL or k not in plan[:i]]
    else:
        lo, hi = _DEFAULT_COUNTS.get(scenario, (1, 1))
        n = int(rng.integers(lo, hi + 1)) if n_targets is None else int(n_targets)
        plan = [scenario] * n
    occupied = np.zeros(scene.dem.shape, dtype=bool)
    targets: list[Target] = []
    for kind in plan:
        target = _DRAWERS[kind](rng, scene, occupied)
        if target is not None:
            targets.append(target)
            if kind not in _REGIONAL:  # local targets avoid each other; regional ones overlap anything
                occupied |= target.footprint
    return targets


def _check_scene(
    dem: ArrayLike, slope_deg: ArrayLike, aspect_deg: ArrayLike, pixel_size_m: float, time_span_yr: float
) -> _Scene:
    arrays = [np.asarray(a, dtype=np.float64) for a in (dem, slope_deg, aspect_deg)]
    if arrays[0].ndim != 2 or min(arrays[0].shape) < 8:
        raise InputError(
            "draw_targets", f"dem must be an (H, W) raster with H, W >= 8 (got {arrays[0].shape})"
        )
    if any(a.shape != arrays[0].shape for a in arrays):
        raise InputError("draw_targets", "dem, slope and aspect must have the same shape")
    if not np.isfinite(pixel_size_m) or pixel_size_m <= 0:
        raise InputError("draw_targets", f"pixel size must be > 0 m (got {pixel_size_m})")
    if not np.isfinite(time_span_yr) or time_span_yr <= 0:
        raise InputError("draw_targets", f"time span must be > 0 yr (got {time_span_yr})")
    x, y = sources.grid_coordinates(arrays[0].shape, float(pixel_size_m))
    slope = np.nan_to_num(arrays[1], nan=0.0)
    aspect = np.nan_to_num(arrays[2], nan=0.0)
    return _Scene(x, y, arrays[0], slope, aspect, float(pixel_size_m), float(time_span_yr))


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(max(hi, lo)))))


def _size_range(
    scene: _Scene, lo_m: float, hi_m: float, min_px: float, max_frac: float
) -> tuple[float, float]:
    lo = max(lo_m, min_px * scene.pixel_m)
    return lo, max(lo, min(hi_m, max_frac * scene.extent_m))


def _finish(
    kind: str,
    source: str,
    raw: NDArray[np.float64],
    temporal: TemporalModel,
    params: dict[str, Any],
    mask: Any = None,
) -> Target | None:
    """Normalise a raw pattern to unit peak and build the target (None if it is empty)."""
    magnitude = np.linalg.norm(raw, axis=0)
    peak = float(magnitude.max())
    if not np.isfinite(peak) or peak <= 0:
        return None
    footprint = magnitude / peak >= FOOTPRINT_THRESHOLD if mask is None else np.asarray(mask, dtype=bool)
    return Target(kind, source, (raw / peak).astype(np.float32), temporal, footprint, params)


def _draw_body(
    rng: np.random.Generator, scene: _Scene, occupied: NDArray[np.bool_], kind: str
) -> Target | None:
    rock = kind == "rockglacier"
    slope = scene.slope
    interior = np.zeros_like(occupied)
    interior[3:-3, 3:-3] = True
    if rock:
        high = scene.dem >= np.nanquantile(scene.dem, 0.7)
        candidates = high & (slope >= 10.0) & (slope <= 35.0)
        size_lo, size_hi = _size_range(scene, 100.0, 1000.0, 6.0, 0.6)
        velocity = _log_uniform(rng, 0.1, 2.0)
        kinds, probs = ["linear", "seasonal", "accelerating"], [0.4, 0.45, 0.15]
    else:
        candidates = (slope >= 15.0) & (slope <= 45.0)
        size_lo, size_hi = _size_range(scene, 50.0, 1500.0, 6.0, 0.6)
        velocity = _log_uniform(rng, 0.005, 1.0)
        kinds, probs = ["linear", "seasonal", "accelerating", "step"], [0.35, 0.35, 0.2, 0.1]
    pool = np.flatnonzero(candidates & interior & ~occupied)
    if pool.size == 0:
        return None
    temporal = random_temporal_model(rng, str(rng.choice(kinds, p=probs)), velocity, scene.time_span_yr)
    body = sources.rock_glacier if rock else sources.landslide_lobe
    for _ in range(_MAX_ATTEMPTS):
        flat = int(pool[rng.integers(pool.size)])
        centre = (float(scene.x.flat[flat]), float(scene.y.flat[flat]))
        length = _log_uniform(rng, size_lo, size_hi)
        width = max(length * float(rng.uniform(0.3, 0.8 if rock else 0.9)), 4.0 * scene.pixel_m)
        disp, mask = body(scene.x, scene.y, scene.dem, slope, scene.aspect, centre, length, width, rng)
        area = int(mask.sum())
        if area < 8:
            continue
        ok_slope = (slope[mask] >= (5.0 if rock else 10.0)) & (slope[mask] <= (40.0 if rock else 50.0))
        if ok_slope.mean() < 0.7 or (occupied & mask).sum() > 0.05 * area:
            continue
        params = {
            "centre_east_m": centre[0],
            "centre_north_m": centre[1],
            "length_m": length,
            "width_m": width,
            "velocity_m_per_yr": velocity,
            "slope_deg": float(np.median(slope[mask])),
            "aspect_deg": float(scene.aspect.flat[flat]),
            "area_m2": area * scene.pixel_m**2,
        }
        return _finish(kind, "rock_glacier" if rock else "landslide_lobe", disp, temporal, params, mask)
    return None


def _draw_landslide(rng: np.random.Generator, scene: _Scene, occupied: NDArray[np.bool_]) -> Target | None:
    return _draw_body(rng, scene, occupied, "landslide")


def _draw_rockglacier(rng: np.random.Generator, scene: _Scene, occupied: NDArray[np.bool_]) -> Target | None:
    return _draw_body(rng, scene, occupied, "rockglacier")


def _draw_subsidence(rng: np.random.Generator, scene: _Scene, occupied: NDArray[np.bool_]) -> Target | None:
    source = str(
        rng.choice(["gaussian_bowl", "distorted_gaussian_bowl", "reservoir_bowl"], p=[0.35, 0.35, 0.3])
    )
    d_lo, d_hi = _size_range(scene, 200.0, 2000.0, 8.0, 0.8)
    diameter = _log_uniform(rng, d_lo, d_hi)
    velocity = _log_uniform(rng, 0.02, 0.5)
    kind = str(rng.choice(["linear", "accelerating", "seasonal", "step"], p=[0.4, 0.2, 0.3, 0.1]))
    temporal = random_temporal_model(rng, kind, velocity, scene.time_span_yr)
    half = scene.extent_m / 2.0
    inset = min(diameter / 4.0, 0.8 * half)
    xs, ys = (float(v) for v in rng.uniform(-half + inset, half - inset, size=2))
    params: dict[str, Any] = {
        "centre_east_m": xs,
        "centre_north_m": ys,
        "diameter_m": diameter,
        "velocity_m_per_yr": velocity,
    }
    if source == "reservoir_bowl":
        radius = diameter / 2.0 * float(rng.uniform(0.5, 0.85))
        edge = radius * float(rng.uniform(0.1, 0.4))
        coeff = float(rng.uniform(0.1, 0.4))
        raw = sources.reservoir_bowl(scene.x, scene.y, xs, ys, radius, edge, 1.0, coeff)
        params |= {"radius_m": radius, "edge_width_m": edge, "horizontal_coeff": coeff}
    else:
        major = diameter / 4.0
        coeff = float(rng.uniform(0.3, 0.7))
        if source == "gaussian_bowl":
            raw = sources.gaussian_bowl(scene.x, scene.y, xs, ys, major, 1.0, coeff)
            params |= {"sigma_m": major, "horizontal_coeff": coeff}
        else:
            minor = major * float(rng.uniform(0.3, 1.0))
            azimuth, skew = float(rng.uniform(0.0, 180.0)), float(rng.uniform(-0.5, 0.5))
            raw = sources.distorted_gaussian_bowl(
                scene.x, scene.y, xs, ys, major, minor, azimuth, skew, 1.0, coeff
            )
            params |= {
                "sigma_major_m": major,
                "sigma_minor_m": minor,
                "azimuth_deg": azimuth,
                "skew": skew,
                "horizontal_coeff": coeff,
            }
    return _finish("subsidence", source, raw, temporal, params)


def _draw_volcano(rng: np.random.Generator, scene: _Scene, occupied: NDArray[np.bool_]) -> Target | None:
    source = str(rng.choice(["mogi", "okada_sill", "okada_dyke"], p=[0.6, 0.3, 0.1]))
    depth = float(rng.uniform(1000.0, 6000.0))
    half = scene.extent_m / 2.0
    xs, ys = (float(v) for v in rng.uniform(-0.8 * half, 0.8 * half, size=2))
    params: dict[str, Any] = {"centre_east_m": xs, "centre_north_m": ys, "depth_m": depth}
    if source == "okada_dyke":
        length = float(rng.uniform(1000.0, 8000.0))
        width = 2.0 * depth * float(rng.uniform(0.3, 0.9))
        strike, dip = float(rng.uniform(0.0, 180.0)), float(rng.uniform(75.0, 90.0))
        raw = sources.okada_source(scene.x, scene.y, xs, ys, depth, strike, dip, length, width, opening_m=1.0)
        step = _log_uniform(rng, 0.02, 0.5)
        temporal = TemporalModel(
            "step", 0.0, step_m=step, t_step_yr=float(rng.uniform(0.05, 0.95)) * scene.time_span_yr
        )
        peak = float(np.linalg.norm(raw, axis=0).max())
        params |= {
            "length_m": length,
            "width_m": width,
            "strike_deg": strike,
            "dip_deg": dip,
            "step_m": step,
            "opening_m": step / peak,
        }
        return _finish("volcano", source, raw, temporal, params)
    velocity = _log_uniform(rng, 0.01, 0.2) * (-1.0 if rng.random() < 0.2 else 1.0)
    temporal = random_temporal_model(rng, str(rng.choice(["linear", "accelerating"], p=[0.6, 0.4])), velocity)
    if source == "mogi":
        raw = sources.mogi(scene.x, scene.y, xs, ys, depth, 1.0)
        params["dvolume_m3_per_yr"] = velocity / float(np.linalg.norm(raw, axis=0).max())
    else:
        length = depth * float(rng.uniform(0.5, 1.5))
        width = length * float(rng.uniform(0.5, 1.0))
        strike = float(rng.uniform(0.0, 180.0))
        raw = sources.okada_source(scene.x, scene.y, xs, ys, depth, strike, 0.0, length, width, opening_m=1.0)
        params |= {"length_m": length, "width_m": width, "strike_deg": strike}
        params["opening_m_per_yr"] = velocity / float(np.linalg.norm(raw, axis=0).max())
    params["velocity_m_per_yr"] = velocity
    return _finish("volcano", source, raw, temporal, params)


def _draw_earthquake(rng: np.random.Generator, scene: _Scene, occupied: NDArray[np.bool_]) -> Target | None:
    mw = float(rng.uniform(5.0, 6.5))
    # Wells & Coppersmith (1994), all slip types: subsurface rupture length and down-dip width (km).
    length = 1000.0 * 10 ** (-2.44 + 0.59 * mw + rng.normal(0.0, 0.1))
    width = 1000.0 * 10 ** (-1.01 + 0.32 * mw + rng.normal(0.0, 0.1))
    moment = 10 ** (1.5 * mw + 9.1)  # N m (Hanks & Kanamori)
    slip = moment / (_SHEAR_MODULUS_PA * length * width)
    mechanism = str(rng.choice(["strike-slip", "thrust", "normal"]))
    base_rake, dip_range = {
        "strike-slip": (0.0, (60.0, 90.0)),
        "thrust": (90.0, (20.0, 45.0)),
        "normal": (-90.0, (40.0, 65.0)),
    }[mechanism]
    if mechanism == "strike-slip" and rng.random() < 0.5:
        base_rake = 180.0
    rake = base_rake + float(rng.uniform(-20.0, 20.0))
    dip = float(rng.uniform(*dip_range))
    strike = float(rng.uniform(0.0, 360.0))
    top = float(rng.uniform(500.0, 6000.0))
    depth = top + width / 2.0 * float(np.sin(np.deg2rad(dip)))
    half = scene.extent_m / 2.0
    xs, ys = (float(v) for v in rng.uniform(-0.7 * half, 0.7 * half, size=2))
    raw = sources.okada_source(scene.x, scene.y, xs, ys, depth, strike, dip, length, width, rake, slip)
    peak = float(np.linalg.norm(raw, axis=0).max())
    temporal = TemporalModel(
        "step", 0.0, step_m=peak, t_step_yr=float(rng.uniform(0.05, 0.95)) * scene.time_span_yr
    )
    params = {
        "magnitude_mw": mw,
        "mechanism": mechanism,
        "centre_east_m": xs,
        "centre_north_m": ys,
        "depth_m": depth,
        "top_depth_m": top,
        "strike_deg": strike,
        "dip_deg": dip,
        "rake_deg": rake,
        "length_m": length,
        "width_m": width,
        "slip_m": slip,
        "peak_displacement_m": peak,
    }
    return _finish("earthquake", "okada", raw, temporal, params)


_DRAWERS = {
    "landslide": _draw_landslide,
    "rockglacier": _draw_rockglacier,
    "subsidence": _draw_subsidence,
    "volcano": _draw_volcano,
    "earthquake": _draw_earthquake,
}
