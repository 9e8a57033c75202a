"""Co-registered pre/post optical images of an earthquake, with their true surface displacement (issue 12).

A scene is drawn from one seed (``numpy.random.SeedSequence([seed])``, or of a sequence of ints), so the same seed gives the same
bytes. The pieces:

- **Displacement**: a rectangular Okada dislocation (:func:`fringenet.simulate.sources.okada_source`):
  strike-slip, thrust or normal, surface rupturing (a sharp offset along the trace) or buried; slip scaled
  so that the largest horizontal offset is a sampled 0.05-5 px (log-uniform); or no motion at all; or a
  smooth random field. East, north, up in metres; east/north offsets in pixels are those over
  the pixel size.
- **Ground**: an albedo of broad and fine texture (power-law fields), lit by a hillshade of a fractal DEM
  (:func:`fringenet.simulate.terrain.fractal_dem`) with a different sun azimuth and elevation on each date,
  so that part of the change between dates is illumination that the DEM explains (the second sun
  within about 15 deg of azimuth and 8 deg of elevation of the first).
- **Post image**: the post-event ground warped by the displacement with a cubic spline, so a ground point
  at ``p`` before the event is seen at ``p + d`` after it. Then patches of surface change (vegetation,
  cloud, shadow), optional along-track attitude jitter (row-wise sub-pixel shifts, an artefact not part of
  the truth), a Gaussian point-spread function and sensor noise on both dates.

Offsets follow the map: ``east_px`` is positive towards increasing columns, ``north_px`` towards decreasing
rows (rows run southwards).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

from fringenet.simulate.sources import okada_source
from fringenet.simulate.terrain import fractal_dem, power_law_field, slope_aspect

FloatArray = NDArray[np.float32]
FaultKind = Literal["strike_slip", "thrust", "normal"]
FIELD_KINDS = ("strike_slip", "thrust", "normal", "none", "smooth")
NEAR_FAULT_PX = 5.0
"""Pixels within this distance of a surface rupture are 'near the fault' in the benchmarks."""


class OpticalPairConfig(BaseModel):
    """What :func:`sample_optical_pair` draws from."""

    model_config = ConfigDict(extra="forbid")

    size: int = Field(256, ge=32, le=4096, description="Image height and width (px).")
    pixel_size_m: tuple[float, float] = Field(
        (2.0, 30.0), description="Ground sampling distance range (m, log-uniform): SPOT/Pléiades to Landsat."
    )
    max_offset_px: tuple[float, float] = Field(
        (0.05, 5.0), description="Largest horizontal offset of a fault (px, log-uniform)."
    )
    kind_weights: tuple[float, float, float, float, float] = Field(
        (0.3, 0.2, 0.2, 0.15, 0.15), description="Weights of strike_slip, thrust, normal, none, smooth."
    )
    surface_rupture: float = Field(0.6, ge=0, le=1, description="Share of faults that reach the surface.")
    noise_std: tuple[float, float] = Field((0.003, 0.02), description="Sensor noise (reflectance units).")
    change_fraction: tuple[float, float] = Field((0.0, 0.08), description="Area of surface change patches.")
    jitter_probability: float = Field(
        0.3, ge=0, le=1, description="Share of post images with attitude jitter."
    )
    psf_sigma_px: tuple[float, float] = Field((0.5, 1.2), description="Gaussian point-spread function (px).")


@dataclass(frozen=True)
class OpticalPair:
    """Pre/post images ``(H, W)`` float32 (reflectance) and the true displacement of the ground."""

    pre: FloatArray
    post: FloatArray
    east_m: FloatArray
    north_m: FloatArray
    up_m: FloatArray
    pixel_size_m: float
    fault_distance_px: FloatArray
    """Distance to the surface trace of a rupturing fault (px); inf without one."""
    changed: NDArray[np.bool_]
    """Pixels whose surface changed between the dates (no displacement can be read there)."""
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def east_px(self) -> FloatArray:
        return (self.east_m / self.pixel_size_m).astype(np.float32)

    @property
    def north_px(self) -> FloatArray:
        return (self.north_m / self.pixel_size_m).astype(np.float32)

    @property
    def near_fault(self) -> NDArray[np.bool_]:
        return np.asarray(self.fault_distance_px <= NEAR_FAULT_PX)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _unit(field_: NDArray[np.float64]) -> NDArray[np.float64]:
    return (field_ - field_.min()) / max(float(np.ptp(field_)), 1e-12)


def hillshade(
    dem: NDArray[np.floating], pixel_size_m: float, azimuth_deg: float, elevation_deg: float
) -> FloatArray:
    """Lambertian illumination in [0, 1] of a north-up DEM by a sun at ``azimuth_deg`` (clockwise from
    north) and ``elevation_deg`` above the horizon."""
    slope, aspect = slope_aspect(dem, pixel_size_m)
    zenith = math.radians(90.0 - elevation_deg)
    s, a = np.radians(slope), np.radians(aspect)
    lit = math.cos(zenith) * np.cos(s) + math.sin(zenith) * np.sin(s) * np.cos(math.radians(azimuth_deg) - a)
    return np.clip(lit, 0.0, 1.0).astype(np.float32)


def _fault(
    rng: np.random.Generator,
    kind: FaultKind,
    shape: tuple[int, int],
    pixel_m: float,
    config: OpticalPairConfig,
) -> tuple[NDArray[np.float64], NDArray[np.float64], dict[str, Any]]:
    """East/north/up ``(3, H, W)`` (m) of one fault and the distance to its surface trace (px)."""
    h, w = shape
    extent = max(h, w) * pixel_m
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    east, north = (x - (w - 1) / 2.0) * pixel_m, ((h - 1) / 2.0 - y) * pixel_m
    strike = rng.uniform(0.0, 360.0)
    dip, rake = {
        "strike_slip": (rng.uniform(75, 90), rng.choice([0.0, 180.0]) + rng.uniform(-15, 15)),
        "thrust": (rng.uniform(20, 45), 90.0 + rng.uniform(-20, 20)),
        "normal": (rng.uniform(45, 70), -90.0 + rng.uniform(-20, 20)),
    }[kind]
    length = extent * rng.uniform(0.4, 1.5)
    width = extent * rng.uniform(0.15, 0.5)
    rupture = bool(rng.random() < config.surface_rupture)
    top = 0.0 if rupture else extent * rng.uniform(0.02, 0.2)
    depth = top + width / 2.0 * math.sin(math.radians(dip))
    xs, ys = rng.uniform(-0.2, 0.2, size=2) * extent
    unit = okada_source(east, north, xs, ys, depth, strike, dip, length, width, rake, slip_m=1.0)
    largest = float(np.hypot(unit[0], unit[1]).max()) / pixel_m
    target = _log_uniform(rng, *config.max_offset_px)
    slip = target / max(largest, 1e-12)
    # the top edge: up-dip from the centroid by half the width's horizontal projection
    st, dp = math.radians(strike), math.radians(dip)
    along = np.array([math.sin(st), math.cos(st)])
    dip_dir = np.array([math.cos(st), -math.sin(st)])
    centre = np.array([xs, ys]) - dip_dir * width / 2.0 * math.cos(dp)
    if rupture:
        rel = np.stack([east - centre[0], north - centre[1]])
        t = np.clip(np.tensordot(along, rel, axes=1), -length / 2.0, length / 2.0)
        nearest = centre[:, None, None] + along[:, None, None] * t
        distance = np.hypot(east - nearest[0], north - nearest[1]) / pixel_m
    else:
        distance = np.full(shape, np.inf)
    params = dict(
        kind=kind, strike_deg=strike, dip_deg=dip, rake_deg=float(rake), length_m=length, width_m=width,
        top_m=top, slip_m=slip, surface_rupture=rupture, max_offset_px=target,
    )  # fmt: skip
    return unit * slip, distance, params


def _smooth_field(
    rng: np.random.Generator, shape: tuple[int, int], pixel_m: float, config: OpticalPairConfig
) -> NDArray[np.float64]:
    fields = power_law_field(rng, shape, -4.0, n=3)
    target = _log_uniform(rng, *config.max_offset_px)
    scale = target * pixel_m / max(float(np.hypot(fields[0], fields[1]).max()), 1e-12)
    return fields * scale


def _change_patches(rng: np.random.Generator, shape: tuple[int, int], fraction: float) -> NDArray[np.bool_]:
    if fraction <= 0:
        return np.zeros(shape, dtype=bool)
    smooth = power_law_field(rng, shape, -3.5)
    return np.asarray(smooth > np.quantile(smooth, 1.0 - fraction))


def sample_optical_pair(seed: int | Sequence[int], config: OpticalPairConfig | None = None) -> OpticalPair:
    """One pre/post optical pair with its true displacement (see the module docstring); ``seed``: an int
    or a sequence of ints (e.g. a training run's ``(seed, split, epoch, index)``)."""
    config = config or OpticalPairConfig()
    rng = np.random.default_rng(np.random.SeedSequence([seed] if isinstance(seed, int) else list(seed)))
    shape = (config.size, config.size)
    pixel_m = _log_uniform(rng, *config.pixel_size_m)
    kind = str(rng.choice(FIELD_KINDS, p=np.asarray(config.kind_weights) / sum(config.kind_weights)))
    distance = np.full(shape, np.inf)
    params: dict[str, Any] = {"kind": kind, "pixel_size_m": pixel_m}
    if kind in ("strike_slip", "thrust", "normal"):
        enu, distance, fault = _fault(rng, kind, shape, pixel_m, config)  # type: ignore[arg-type]
        params.update(fault)
    elif kind == "smooth":
        enu = _smooth_field(rng, shape, pixel_m, config)
    else:
        enu = np.zeros((3, *shape))

    # the ground, on a margin wide enough for the largest offset
    pad = math.ceil(float(np.abs(enu[:2]).max()) / pixel_m) + 8
    big = (shape[0] + 2 * pad, shape[1] + 2 * pad)
    extent_m = max(big) * pixel_m
    dem = fractal_dem(rng, big, pixel_m, relief_m=min(1500.0, rng.uniform(0.02, 0.3) * extent_m))
    broad = _unit(power_law_field(rng, big, rng.uniform(-3.2, -2.4)))
    fine = _unit(power_law_field(rng, big, rng.uniform(-2.0, -1.2)))
    albedo = 0.08 + 0.35 * broad + 0.2 * fine
    # the second date's sun: another day or season (pairs are chosen with similar illumination)
    azimuth, elevation = rng.uniform(90, 200), rng.uniform(25, 65)
    sun = [
        (azimuth, elevation),
        (azimuth + rng.normal(0, 15), float(np.clip(elevation + rng.normal(0, 8), 15, 75))),
    ]
    pre_ground = albedo * hillshade(dem, pixel_m, *sun[0])
    post_ground = albedo * hillshade(dem, pixel_m, *sun[1])

    changed_big = _change_patches(rng, big, rng.uniform(*config.change_fraction))
    if changed_big.any():
        bright = rng.random() < 0.5  # cloud or fresh vegetation/shadow
        post_ground = np.where(changed_big, 0.9 if bright else 0.3 * post_ground, post_ground)

    # a ground point at p before the event is at p + d after it: post(q) = ground(q - d(q))
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    east_px, north_px = enu[0] / pixel_m, enu[1] / pixel_m
    jitter = np.zeros(shape[0])
    if rng.random() < config.jitter_probability:
        amplitude = rng.uniform(0.02, 0.15)
        jitter = amplitude * np.sin(
            2 * np.pi * np.arange(shape[0]) / rng.uniform(20, 120) + rng.uniform(0, 6.3)
        )
        params["jitter_px"] = amplitude
    src_rows = rows + north_px + pad
    src_cols = cols - east_px - jitter[:, None] + pad
    post = ndimage.map_coordinates(post_ground, [src_rows, src_cols], order=3, mode="reflect")
    changed = ndimage.map_coordinates(changed_big.astype(np.float32), [src_rows, src_cols], order=0) > 0.5
    pre = pre_ground[pad : pad + shape[0], pad : pad + shape[1]]

    psf = rng.uniform(*config.psf_sigma_px)
    noise = rng.uniform(*config.noise_std)
    pre = ndimage.gaussian_filter(pre, psf) + rng.normal(0.0, noise, shape)
    post = ndimage.gaussian_filter(post, psf) + rng.normal(0.0, noise, shape)
    params.update(psf_sigma_px=psf, noise_std=noise, sun_pre=sun[0], sun_post=sun[1])
    return OpticalPair(
        pre=pre.astype(np.float32), post=post.astype(np.float32), east_m=enu[0].astype(np.float32),
        north_m=enu[1].astype(np.float32), up_m=enu[2].astype(np.float32), pixel_size_m=pixel_m,
        fault_distance_px=distance.astype(np.float32), changed=changed, kind=kind, params=params,
    )  # fmt: skip
