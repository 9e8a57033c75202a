"""Ground-deformation sources as pure functions of coordinate grids.

Every function returns a float64 array ``(3, H, W)`` of ground displacement (east, north, up) in
metres (the landslide and rock-glacier bodies return a unit-peak pattern and a mask instead).
Coordinates: ``x`` east and ``y`` north in metres, as made by :func:`grid_coordinates` for a
north-up raster (row 0 = northern edge). Slope is in degrees from horizontal and aspect is the
downslope direction in degrees clockwise from north, as :mod:`fringenet.simulate.terrain` gives.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from fringenet.errors import InputError
from fringenet.simulate.okada import okada85

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


def grid_coordinates(shape: tuple[int, int], pixel_size_m: float) -> tuple[FloatArray, FloatArray]:
    """East and north coordinates (m) of the pixel centres of a north-up grid, origin at its centre.

    Returns two float64 ``(H, W)`` arrays; ``y`` decreases down the rows.
    """
    if len(shape) != 2 or min(shape) < 1:
        raise InputError("grid", f"shape must be (H, W) with H, W >= 1 (got {shape})")
    if not np.isfinite(pixel_size_m) or pixel_size_m <= 0:
        raise InputError("grid", f"pixel size must be > 0 m (got {pixel_size_m})")
    h, w = shape
    east = (np.arange(w, dtype=np.float64) - (w - 1) / 2.0) * pixel_size_m
    north = ((h - 1) / 2.0 - np.arange(h, dtype=np.float64)) * pixel_size_m
    x, y = np.meshgrid(east, north)
    return x, y


def mogi(
    x: ArrayLike, y: ArrayLike, xs: float, ys: float, depth_m: float, dvolume_m3: float, nu: float = 0.25
) -> FloatArray:
    """Mogi (1958) point pressure source: ``u = (1 - nu) dV / pi * (dx, dy, d) / R^3``.

    Peak uplift, straight above the source, is ``(1 - nu) dV / (pi d^2)``; ``dV > 0`` inflates.
    """
    if not np.isfinite(depth_m) or depth_m <= 0:
        raise InputError("mogi source", f"depth must be > 0 m (got {depth_m})")
    dx, dy = _offsets(x, y, xs, ys)
    coeff = (1.0 - nu) * dvolume_m3 / np.pi / (dx**2 + dy**2 + depth_m**2) ** 1.5
    return np.stack([coeff * dx, coeff * dy, coeff * depth_m])


def okada_source(
    x: ArrayLike,
    y: ArrayLike,
    xs: float,
    ys: float,
    depth_m: float,
    strike_deg: float,
    dip_deg: float,
    length_m: float,
    width_m: float,
    rake_deg: float = 0.0,
    slip_m: float = 0.0,
    opening_m: float = 0.0,
    nu: float = 0.25,
) -> FloatArray:
    """Okada (1985) rectangular dislocation (centroid depth), stacked as ``(3, H, W)``.

    Earthquake: ``slip_m`` and ``rake_deg``; dyke: ``dip_deg=90`` and ``opening_m``; sill:
    ``dip_deg=0`` and ``opening_m``. See :func:`fringenet.simulate.okada.okada85`.
    """
    return np.stack(
        okada85(
            x, y, xs, ys, depth_m, strike_deg, dip_deg, length_m, width_m, rake_deg, slip_m, opening_m, nu
        )
    )


def gaussian_bowl(
    x: ArrayLike,
    y: ArrayLike,
    xs: float,
    ys: float,
    sigma_m: float,
    subsidence_m: float,
    horizontal_coeff: float = 0.5,
) -> FloatArray:
    """Isotropic Gaussian subsidence bowl with inward horizontal motion.

    Vertical: ``-s`` with ``s = subsidence_m * exp(-r^2 / (2 sigma^2))``. Horizontal: ``B grad(s)``,
    ``B = horizontal_coeff * sigma`` (mining subsidence theory: horizontal displacement is
    proportional to the slope of the trough), so points move towards the centre; with the default
    the peak horizontal motion is about 0.3 of the peak subsidence. The bowl's volume is
    ``-2 pi sigma^2 subsidence_m``.
    """
    return distorted_gaussian_bowl(x, y, xs, ys, sigma_m, sigma_m, 0.0, 0.0, subsidence_m, horizontal_coeff)


def distorted_gaussian_bowl(
    x: ArrayLike,
    y: ArrayLike,
    xs: float,
    ys: float,
    sigma_major_m: float,
    sigma_minor_m: float,
    azimuth_deg: float,
    skew: float,
    subsidence_m: float,
    horizontal_coeff: float = 0.5,
) -> FloatArray:
    """Anisotropic, rotated, skewed Gaussian bowl (e.g. a longwall panel or a lopsided aquifer).

    The major axis points at ``azimuth_deg`` (clockwise from north). Skew in (-1, 1) makes a
    split Gaussian along the major axis: sigma is ``sigma_major * (1 + skew)`` ahead of the centre
    and ``sigma_major * (1 - skew)`` behind it, so the deepest point stays at ``(xs, ys)`` with
    depth ``subsidence_m``. Horizontal motion is ``B grad(s)`` with
    ``B = horizontal_coeff * sqrt(sigma_major * sigma_minor)``.
    """
    for name, value in (("sigma_major_m", sigma_major_m), ("sigma_minor_m", sigma_minor_m)):
        if not np.isfinite(value) or value <= 0:
            raise InputError("subsidence bowl", f"{name} must be > 0 m (got {value})")
    if not -1.0 < skew < 1.0:
        raise InputError("subsidence bowl", f"skew must lie in (-1, 1) (got {skew})")
    dx, dy = _offsets(x, y, xs, ys)
    az = np.deg2rad(azimuth_deg)
    along = dx * np.sin(az) + dy * np.cos(az)
    across = dx * np.cos(az) - dy * np.sin(az)
    sig_u = np.where(along >= 0, sigma_major_m * (1.0 + skew), sigma_major_m * (1.0 - skew))
    s = subsidence_m * np.exp(-0.5 * ((along / sig_u) ** 2 + (across / sigma_minor_m) ** 2))
    ds_along = -s * along / sig_u**2
    ds_across = -s * across / sigma_minor_m**2
    b = horizontal_coeff * np.sqrt(sigma_major_m * sigma_minor_m)
    east = b * (ds_along * np.sin(az) + ds_across * np.cos(az))
    north = b * (ds_along * np.cos(az) - ds_across * np.sin(az))
    return np.stack([east, north, -s])


def reservoir_bowl(
    x: ArrayLike,
    y: ArrayLike,
    xs: float,
    ys: float,
    radius_m: float,
    edge_width_m: float,
    subsidence_m: float,
    horizontal_coeff: float = 0.3,
) -> FloatArray:
    """Flat-bottomed, tanh-edged subsiding disc (compacting aquifer, gas field or mine panel).

    ``s(r) = subsidence_m * (1 - tanh((r - R) / w)) / (1 - tanh(-R / w))`` (peak ``subsidence_m``
    at the centre), vertical ``-s``, and a small inward horizontal motion
    ``B ds/dr`` with ``B = horizontal_coeff * w`` concentrated on the edge.
    """
    if not np.isfinite(radius_m) or radius_m <= 0 or not np.isfinite(edge_width_m) or edge_width_m <= 0:
        raise InputError(
            "reservoir bowl", f"radius and edge width must be > 0 m (got {radius_m}, {edge_width_m})"
        )
    dx, dy = _offsets(x, y, xs, ys)
    r = np.hypot(dx, dy)
    norm = subsidence_m / (1.0 - np.tanh(-radius_m / edge_width_m))
    t = np.tanh((r - radius_m) / edge_width_m)
    s = norm * (1.0 - t)
    ds_dr = -norm * (1.0 - t**2) / edge_width_m
    with np.errstate(invalid="ignore", divide="ignore"):
        ur = horizontal_coeff * edge_width_m * ds_dr / r
    ur = np.where(r > 0, ur, 0.0)
    # ds/dr < 0 outside the centre, so ur * dx points back towards the centre.
    return np.stack([ur * dx, ur * dy, -s])


def landslide_lobe(
    x: ArrayLike,
    y: ArrayLike,
    dem: ArrayLike,
    slope_deg: ArrayLike,
    aspect_deg: ArrayLike,
    centre: tuple[float, float],
    length_m: float,
    width_m: float,
    rng: np.random.Generator,
) -> tuple[FloatArray, BoolArray]:
    """A lobate landslide body sliding parallel to the local surface, downslope.

    The outline is an ellipse elongated along the aspect at ``centre`` (east, north in m),
    narrowed or widened towards the toe and made irregular by random low-order harmonics. The
    per-pixel direction is the (lightly smoothed) local downslope direction: horizontal along
    the aspect, vertical ``-tan(slope)`` times the horizontal, so the motion follows the surface.
    The magnitude tapers from 1 inside to 0 at the edge. ``x``, ``y``, ``dem``, ``slope_deg`` and
    ``aspect_deg`` are ``(H, W)``; the DEM only fixes the grid (the motion comes from slope and
    aspect, which must have been derived from it).

    Returns
    -------
    displacement
        Float64 ``(3, H, W)`` (east, north, up) pattern, peak vector magnitude 1, zero outside.
    mask
        Bool ``(H, W)``, the landslide body.
    """
    return _creeping_body(
        x, y, dem, slope_deg, aspect_deg, centre, length_m, width_m, rng, rock_glacier=False
    )


def rock_glacier(
    x: ArrayLike,
    y: ArrayLike,
    dem: ArrayLike,
    slope_deg: ArrayLike,
    aspect_deg: ArrayLike,
    centre: tuple[float, float],
    length_m: float,
    width_m: float,
    rng: np.random.Generator,
) -> tuple[FloatArray, BoolArray]:
    """A creeping rock-glacier tongue: lobate, wider at the front, with a compressive front.

    Motion is downslope and surface-parallel as in :func:`landslide_lobe`, with a plug-like
    velocity profile (shear concentrated at the margins) and slight uplift (up to about 0.1-0.3
    of the peak) over the toe, where the creeping ice-rock mass piles up. Same returns.
    """
    return _creeping_body(x, y, dem, slope_deg, aspect_deg, centre, length_m, width_m, rng, rock_glacier=True)


def _creeping_body(
    x: ArrayLike,
    y: ArrayLike,
    dem: ArrayLike,
    slope_deg: ArrayLike,
    aspect_deg: ArrayLike,
    centre: tuple[float, float],
    length_m: float,
    width_m: float,
    rng: np.random.Generator,
    *,
    rock_glacier: bool,
) -> tuple[FloatArray, BoolArray]:
    where = "rock glacier" if rock_glacier else "landslide"
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    slope, aspect = np.asarray(slope_deg, dtype=np.float64), np.asarray(aspect_deg, dtype=np.float64)
    shape = np.shape(dem)
    if len(shape) != 2 or not (xa.shape == ya.shape == slope.shape == aspect.shape == shape):
        raise InputError(where, "x, y, dem, slope and aspect must be (H, W) arrays of one shape")
    if not (np.isfinite(length_m) and np.isfinite(width_m)) or length_m <= 0 or width_m <= 0:
        raise InputError(where, f"length and width must be > 0 m (got {length_m}, {width_m})")
    xc, yc = centre
    row, col = np.unravel_index(np.argmin((xa - xc) ** 2 + (ya - yc) ** 2), shape)
    az = np.deg2rad(aspect[row, col])
    dx, dy = xa - xc, ya - yc
    along = dx * np.sin(az) + dy * np.cos(az)  # > 0 downslope, towards the toe
    across = dx * np.cos(az) - dy * np.sin(az)
    half_len, half_wid = length_m / 2.0, width_m / 2.0
    # Width changes linearly towards the toe: rock glaciers spread out at their front.
    widening = rng.uniform(0.2, 0.6) if rock_glacier else rng.uniform(-0.3, 0.3)
    local_wid = half_wid * np.clip(1.0 + widening * along / half_len, 0.3, None)
    rho = np.hypot(along / half_len, across / local_wid)
    theta = np.arctan2(across / local_wid, along / half_len)
    edge = np.ones_like(rho)
    for k in range(2, 6):  # irregular, lobate outline
        edge += rng.uniform(0.0, 0.12 / (k - 1)) * np.cos(k * theta + rng.uniform(0.0, 2.0 * np.pi))
    r = rho / edge
    mask = r < 1.0
    if rock_glacier:
        magnitude = np.clip(1.0 - r ** rng.uniform(3.0, 6.0), 0.0, 1.0)
    else:
        magnitude = np.clip(1.0 - r**2, 0.0, 1.0) ** rng.uniform(0.3, 1.0)

    # Smooth the downslope direction over a few pixels: the body moves as a whole.
    pixel = max(float(np.median(np.abs(np.diff(xa, axis=1)))) if shape[1] > 1 else 1.0, 1e-9)
    sigma_px = max(1.0, 0.1 * min(length_m, width_m) / pixel)
    a = np.deg2rad(aspect)
    s = np.deg2rad(np.clip(slope, 0.0, 89.0))
    de = ndimage.gaussian_filter(np.sin(a) * np.cos(s), sigma_px, mode="nearest")
    dn = ndimage.gaussian_filter(np.cos(a) * np.cos(s), sigma_px, mode="nearest")
    horiz = np.hypot(de, dn)
    tan_s = np.tan(s)
    with np.errstate(invalid="ignore", divide="ignore"):
        ue, un = np.where(horiz > 0, de / horiz, 0.0), np.where(horiz > 0, dn / horiz, 0.0)
    # Unit vector along the surface: horizontal (ue, un) * cos(slope), vertical -sin(slope).
    cos_s = 1.0 / np.sqrt(1.0 + tan_s**2)
    disp = np.stack([ue * cos_s, un * cos_s, -tan_s * cos_s]) * magnitude
    if rock_glacier:
        toe = np.exp(-0.5 * ((along / half_len - 0.85) / 0.15) ** 2)
        disp[2] += rng.uniform(0.1, 0.3) * toe * np.clip(magnitude * 4.0, 0.0, 1.0)
    disp *= mask
    peak = float(np.max(np.linalg.norm(disp, axis=0)))
    if peak > 0:
        disp /= peak
    return disp, mask


def _offsets(x: ArrayLike, y: ArrayLike, xs: float, ys: float) -> tuple[FloatArray, FloatArray]:
    dx, dy = np.broadcast_arrays(np.asarray(x, dtype=np.float64) - xs, np.asarray(y, dtype=np.float64) - ys)
    return dx, dy
