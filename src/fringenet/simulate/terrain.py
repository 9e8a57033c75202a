"""Synthetic terrain: fractal DEMs with valleys and lakes, slope/aspect, local incidence, layover/shadow.

Array conventions: rasters are ``(H, W)``, row 0 is the northern edge and column 0 the western
edge (north-up grid), elevations in metres, angles in degrees.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from fringenet.errors import InputError
from fringenet.simulate.geometry import los_unit_vector

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


def power_law_field(
    rng: np.random.Generator,
    shape: tuple[int, int],
    spectral_slope: float,
    pixel_size_m: float = 1.0,
    n: int | None = None,
) -> FloatArray:
    """Gaussian random field(s) whose 2-D power spectrum follows ``P(k) ~ k**spectral_slope``.

    Parameters
    ----------
    rng
        Random generator.
    shape
        ``(H, W)`` of each field.
    spectral_slope
        Exponent of the radially averaged 2-D power spectral density (e.g. -8/3), negative.
    pixel_size_m
        Pixel size (m); only scales the wavenumber axis, so it does not change the result's RMS.
    n
        Number of independent fields; ``None`` returns one ``(H, W)`` field, else ``(n, H, W)``.

    Returns
    -------
    float64 array with zero mean and unit standard deviation per field. The field is periodic
    (FFT synthesis); callers that need non-periodic fields synthesise a larger one and crop.
    """
    height, width = shape
    count = 1 if n is None else n
    ky = np.fft.fftfreq(height, d=pixel_size_m)[:, None]
    kx = np.fft.rfftfreq(width, d=pixel_size_m)[None, :]
    k = np.hypot(ky, kx)
    k[0, 0] = np.inf  # no power at DC: the mean is arbitrary
    amplitude = k ** (spectral_slope / 2.0)
    white = rng.standard_normal((count, height, width // 2 + 1)) + 1j * rng.standard_normal(
        (count, height, width // 2 + 1)
    )
    field = np.fft.irfft2(white * amplitude, s=(height, width), axes=(-2, -1))
    field -= field.mean(axis=(-2, -1), keepdims=True)
    field /= field.std(axis=(-2, -1), keepdims=True) + 1e-300
    return field[0] if n is None else field


def fractal_dem(
    rng: np.random.Generator,
    shape: tuple[int, int],
    pixel_size_m: float,
    relief_m: float,
    spectral_slope: float = -3.6,
    valley_depth: float = 0.5,
    base_elevation_m: float = 500.0,
) -> FloatArray:
    """Fractal DEM (m) with optional carved valleys, shape ``(H, W)``, float64.

    A power-law surface alone has rounded hills and unrealistically few steep slopes; valleys are
    carved along the zero lines of a second smooth field (``-depth * exp(-|g| / w)``), which
    gives connected V-shaped valleys with steep flanks, as in mountain terrain.

    Parameters
    ----------
    relief_m
        Peak-to-peak elevation range of the result (m).
    spectral_slope
        Exponent of the 2-D power spectrum of the base surface (about -3 to -4 for real terrain).
    valley_depth
        Valley depth as a fraction of the relief, 0 disables valleys.
    base_elevation_m
        Elevation of the lowest point (m).
    """
    # synthesise on a padded grid and crop, so the DEM is not periodic (no wrap-around ridges)
    pad_shape = (int(shape[0] * 1.5) + 8, int(shape[1] * 1.5) + 8)
    base = power_law_field(rng, pad_shape, spectral_slope, pixel_size_m)
    if valley_depth > 0:
        guide = power_law_field(rng, pad_shape, spectral_slope - 0.6, pixel_size_m)
        width = 0.35
        base = base - valley_depth * 3.0 * np.exp(-np.abs(guide) / width)
    dem = base[: shape[0], : shape[1]]
    dem = (dem - dem.min()) / max(float(np.ptp(dem)), 1e-12)
    return base_elevation_m + relief_m * dem


def check_dem(dem: NDArray[np.floating], shape: tuple[int, int] | None = None) -> FloatArray:
    """Validate a DEM given by the user: 2-D, finite, matching ``shape`` when given; returns float64."""
    arr = np.asarray(dem, dtype=np.float64)
    if arr.ndim != 2:
        raise InputError("dem", f"must be a 2-D array (H, W), got shape {arr.shape}")
    if shape is not None and arr.shape != tuple(shape):
        raise InputError("dem", f"shape {arr.shape} does not match the configured size {tuple(shape)}")
    if not np.all(np.isfinite(arr)):
        raise InputError("dem", "contains NaN or infinite elevations; fill them first")
    return arr


def gradients(dem: NDArray[np.floating], pixel_size_m: float) -> tuple[FloatArray, FloatArray]:
    """Elevation gradient ``(dz/d_east, dz/d_north)`` (m/m) of a north-up DEM, each ``(H, W)``."""
    d_row, d_col = np.gradient(np.asarray(dem, dtype=np.float64), pixel_size_m)
    return np.asarray(d_col), -np.asarray(d_row)  # rows run southwards


def slope_aspect(dem: NDArray[np.floating], pixel_size_m: float) -> tuple[FloatArray, FloatArray]:
    """Slope (deg from horizontal) and aspect (deg, downslope direction clockwise from north), ``(H, W)``.

    Flat pixels get aspect 0.
    """
    dz_e, dz_n = gradients(dem, pixel_size_m)
    slope = np.degrees(np.arctan(np.hypot(dz_e, dz_n)))
    aspect = np.degrees(np.arctan2(-dz_e, -dz_n)) % 360.0
    return slope, aspect


def local_incidence(
    dem: NDArray[np.floating],
    pixel_size_m: float,
    incidence_deg: float | NDArray[np.floating],
    heading_deg: float | NDArray[np.floating],
) -> FloatArray:
    """Local incidence angle (deg): angle between the terrain normal and the ground-to-satellite LOS.

    Values above 90 deg mean the slope faces away from the radar beyond grazing (shadow).
    """
    dz_e, dz_n = gradients(dem, pixel_size_m)
    norm = np.sqrt(dz_e**2 + dz_n**2 + 1.0)
    le, ln, lu = los_unit_vector(incidence_deg, heading_deg)
    cos_li = (-dz_e * le - dz_n * ln + lu) / norm
    return np.degrees(np.arccos(np.clip(cos_li, -1.0, 1.0)))


def layover_shadow(
    dem: NDArray[np.floating],
    pixel_size_m: float,
    incidence_deg: float | NDArray[np.floating],
    heading_deg: float | NDArray[np.floating],
) -> tuple[BoolArray, BoolArray]:
    """Layover and shadow masks ``(H, W)`` from the local terrain slope in the range direction.

    Vectorised local approximation (no ray tracing): with ``alpha`` the terrain slope along the
    horizontal direction towards the radar (positive when the ground rises towards it), a pixel is
    in layover where ``alpha > incidence`` and in shadow where ``-alpha > 90 - incidence``. Layover
    and shadow cast onto neighbouring, less steep pixels are not modelled.
    """
    dz_e, dz_n = gradients(dem, pixel_size_m)
    le, ln, _ = los_unit_vector(incidence_deg, heading_deg)
    horiz = np.hypot(le, ln)
    rise_towards_radar = (dz_e * le + dz_n * ln) / horiz
    alpha = np.degrees(np.arctan(rise_towards_radar))
    return alpha > incidence_deg, -alpha > 90.0 - incidence_deg


def water_bodies(
    rng: np.random.Generator,
    dem: NDArray[np.floating],
    lake_fraction: float,
    min_basin_depth_m: float = 2.0,
    min_area_px: int = 12,
    max_basin_fraction: float = 0.01,
) -> tuple[FloatArray, BoolArray]:
    """Lakes: filled closed basins plus, optionally, a random valley lake; flat water surfaces.

    Parameters
    ----------
    dem
        Elevation (m), ``(H, W)``.
    lake_fraction
        Target area fraction of an additional lake flooded to a random low elevation (0 = none).
    min_basin_depth_m
        Closed depressions deeper than this become lakes (filled to their spill level).
    min_area_px
        Water bodies smaller than this are dropped.
    max_basin_fraction
        Filled basins larger than this fraction of the scene stay land (they would drain).

    Returns
    -------
    The DEM with water surfaces flattened (m, float64) and the water mask (bool), both ``(H, W)``.
    """
    # here, not at import: detection imports this module for slopes, and skimage.morphology costs 0.2 s
    from skimage.morphology import reconstruction

    dem = np.asarray(dem, dtype=np.float64)
    # depression filling by morphological reconstruction (erosion from the border inwards)
    seed = dem.copy()
    seed[1:-1, 1:-1] = dem.max()
    filled = reconstruction(seed, dem, method="erosion")
    water = (filled - dem) > min_basin_depth_m
    # real landscapes drain most large closed basins of a fractal surface: keep only small ones
    labels, n = ndimage.label(water)
    if n > 0:
        sizes = ndimage.sum_labels(np.ones_like(dem), labels, index=np.arange(1, n + 1))
        water = np.isin(labels, np.flatnonzero(sizes <= max_basin_fraction * dem.size) + 1)
    level = np.where(water, filled, dem)
    if lake_fraction > 0:
        flood_level = np.quantile(dem, lake_fraction)
        labels, n = ndimage.label(dem <= flood_level)
        if n > 0:
            sizes = ndimage.sum_labels(np.ones_like(dem), labels, index=np.arange(1, n + 1))
            pick = int(rng.choice(np.arange(1, n + 1), p=sizes / sizes.sum()))
            lake = labels == pick
            water |= lake
            level = np.where(lake, np.maximum(level, flood_level), level)
    labels, n = ndimage.label(water)
    if n > 0:
        sizes = ndimage.sum_labels(np.ones_like(dem), labels, index=np.arange(1, n + 1))
        water = np.isin(labels, np.flatnonzero(sizes >= min_area_px) + 1)
    # a lake surface is flat: use each lake's mean spill level
    labels, n = ndimage.label(water)
    if n > 0:
        means = ndimage.mean(level, labels, index=np.arange(1, n + 1))
        level = np.where(water, np.concatenate([[0.0], means])[labels], dem)
    return np.where(water, level, dem), water
