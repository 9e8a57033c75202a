"""Products in radar geometry (no CRS): what the stage runners do on a bare pixel grid.

GAMMA, ISCE and most processors deliver interferograms before geocoding: a pixel grid without a CRS
(and usually an identity or no transform). The runners then work in pixel coordinates: rasters stay
on the input grid (its own transform, no CRS), target polygons are in pixel coordinates (x = column,
y = row of the pixel edges, the identity transform, so a grid of H x W pixels spans [0, W] x [0, H]),
and whatever needs ground distances (area in m², slope) uses the ground pixel spacing when the product
gives one (see :func:`ground_spacing_m`), else is left out with a note.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import numpy as np
import xarray as xr
from affine import Affine
from numpy.typing import NDArray

from fringenet.errors import InputError
from fringenet.io.schema import PAIR_DIM

RADAR_NOTE = "radar geometry (no CRS): outputs are in pixel coordinates (column, row)"
PIXEL_GRID = Affine.identity()
"""Transform of target polygons in radar geometry: x = column, y = row, pixel edges at integers."""

#: Attribute names (``ds.attrs`` or ``ds.encoding``) of the pixel spacing in metres, by direction,
#: fringenet's own first, then MintPy/ROI_PAC and GAMMA names. Range spacing is slant range unless
#: the name says ground.
GROUND_RANGE_KEYS = ("ground_range_pixel_spacing_m",)
SLANT_RANGE_KEYS = ("range_pixel_spacing_m", "RANGE_PIXEL_SIZE", "range_pixel_spacing")
AZIMUTH_KEYS = ("azimuth_pixel_spacing_m", "AZIMUTH_PIXEL_SIZE", "azimuth_pixel_spacing")
INCIDENCE_KEYS = ("incidence_angle_deg", "INCIDENCE_ANGLE", "incidence_angle")


P = ParamSpec("P")
R = TypeVar("R")


def quiet_pixel_grids(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` without GDAL's and pyogrio's warnings about rasters and layers without CRS.

    A radar-geometry product raises them at every open and write (dozens per run); the run's note
    says it once, in words that apply.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from rasterio.errors import NotGeoreferencedWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            warnings.filterwarnings("ignore", message="'crs' was not provided", category=UserWarning)
            return func(*args, **kwargs)

    return wrapper


def is_radar_geometry(ds: xr.Dataset) -> bool:
    """True for a product without a CRS (its grid is a pixel grid, not a map)."""
    return ds.rio.crs is None


def _number(mappings: tuple[Mapping[str, Any], ...], keys: tuple[str, ...]) -> tuple[float, str] | None:
    """The first positive finite value among ``keys`` (GAMMA writes ``"2.33 m"``: the unit is dropped)."""
    for mapping in mappings:
        for key in keys:
            if key not in mapping:
                continue
            try:
                value = float(str(mapping[key]).split()[0])
            except (ValueError, IndexError):
                continue
            if math.isfinite(value) and value > 0:
                return value, key
    return None


def _incidence_deg(ds: xr.Dataset, mappings: tuple[Mapping[str, Any], ...]) -> float | None:
    if "incidence" in ds:
        da = ds["incidence"]
        value = float(da.isel({PAIR_DIM: 0}).mean() if PAIR_DIM in da.dims else da.mean())
        if math.isfinite(value):
            return value
    found = _number(mappings, INCIDENCE_KEYS)
    return None if found is None else found[0]


def ground_spacing_m(ds: xr.Dataset) -> tuple[tuple[float, float] | None, str]:
    """Ground pixel spacing ``(along rows, along columns)`` (m) of a grid without CRS, and a note.

    From, in order: attrs (or encoding) with the azimuth and range spacing, the slant range spacing
    projected to the ground with the incidence angle (the ``incidence`` layer's mean or an attribute,
    deg); the transform's steps when they are not 1 (a local metric grid without CRS, e.g. a par with
    ``x/y_spacing``). ``None`` when none is known: areas are then in px² and slopes are not computed.
    """
    mappings = (ds.attrs, ds.encoding)
    azimuth = _number(mappings, AZIMUTH_KEYS)
    ground = _number(mappings, GROUND_RANGE_KEYS)
    slant = _number(mappings, SLANT_RANGE_KEYS)
    if azimuth is not None and ground is not None:
        return (azimuth[0], ground[0]), (
            f"pixel spacing {azimuth[0]:g} m (azimuth) x {ground[0]:g} m (ground range) from "
            f"{azimuth[1]}, {ground[1]}"
        )
    if azimuth is not None and slant is not None:
        incidence = _incidence_deg(ds, mappings)
        if incidence is None or not 1.0 < incidence < 89.0:
            return None, (
                f"slant-range pixel spacing {slant[0]:g} m ({slant[1]}) but no incidence angle: ground areas "
                "unknown, target areas in px², no slope"
            )
        range_m = slant[0] / math.sin(math.radians(incidence))
        return (azimuth[0], range_m), (
            f"pixel spacing {azimuth[0]:g} m (azimuth) x {range_m:.4g} m (ground range: {slant[0]:g} m slant "
            f"range at {incidence:.1f} deg incidence)"
        )
    transform = ds.rio.transform()
    dx, dy = abs(transform.a), abs(transform.e)
    if not (np.isclose(dx, 1.0) and np.isclose(dy, 1.0)) and dx > 0 and dy > 0:
        return (dy, dx), f"no CRS: the grid's steps {dx:g} x {dy:g} taken as metres (a local metric grid)"
    return None, (
        "no pixel spacing in the product (attrs range/azimuth_pixel_spacing_m): target areas in px², "
        "no latitude/longitude, no slope from the DEM"
    )


def radar_slope_aspect(
    dem: NDArray[np.floating], spacing: tuple[float, float]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Slope (deg) and aspect (deg clockwise from the grid's up, i.e. decreasing row) of a DEM on the
    pixel grid, with ``spacing`` = ground metres per row and per column (they differ in radar geometry)."""
    d_row, d_col = np.gradient(np.asarray(dem, dtype=np.float64), spacing[0], spacing[1])
    slope = np.degrees(np.arctan(np.hypot(d_row, d_col)))
    # downslope direction; "up" on the grid is not north (it follows the satellite's heading)
    aspect = np.degrees(np.arctan2(-d_col, d_row)) % 360.0
    return slope, aspect


def with_radar_terrain(ds: xr.Dataset, spacing: tuple[float, float] | None, notes: list[str]) -> xr.Dataset:
    """``ds`` with ``slope`` and ``aspect`` layers from its DEM, when it has a DEM and lacks them.

    Added here so nothing downstream derives them from the transform, whose unit (pixels) is not a
    ground distance. Without a ground spacing both are NaN (unknown): the slope filter is skipped.
    """
    if "dem" not in ds or ("slope" in ds and "aspect" in ds):
        return ds
    dem = ds["dem"].isel({PAIR_DIM: 0}) if PAIR_DIM in ds["dem"].dims else ds["dem"]
    values = np.asarray(dem.transpose("y", "x").values, dtype=np.float64)
    if spacing is None:  # the spacing note already says so
        slope = aspect = np.full(values.shape, np.nan)
    else:
        slope, aspect = radar_slope_aspect(values, spacing)
        notes.append("radar geometry: slope and aspect from the DEM and the pixel spacing")
    return ds.assign(
        slope=(("y", "x"), slope.astype(np.float32), {"units": "deg"}),
        aspect=(("y", "x"), aspect.astype(np.float32), {"units": "deg"}),
    )


def check_inventory_coordinates(inventory: Any, inventory_crs: Any, radar: bool) -> None:
    """Refuse to mix pixel-coordinate targets with map targets in one inventory (either way round).

    ``inventory_crs`` is the existing inventory layer's CRS (None: pixel coordinates); ``radar`` says
    whether this run is in radar geometry.
    """
    if radar and inventory_crs is not None:
        raise InputError(
            inventory, "holds map targets (a CRS) but this product is in radar geometry (no CRS, pixel "
            "coordinates); use another inventory, or geocode the product",
        )  # fmt: skip
    if not radar and inventory_crs is None:
        raise InputError(
            inventory, "holds targets in pixel coordinates (radar geometry, no CRS) but this product has a "
            "CRS; use another inventory",
        )  # fmt: skip


def radar_lookup(ds: xr.Dataset, path: Any, notes: list[str], written: str) -> Any:
    """The :class:`~fringenet.io.lookup.RadarLookup` at ``path`` for a radar-geometry ``ds``, read and checked
    against its grid before any work; None without ``path`` or for a geocoded product (said in a note).

    ``written`` says, for the note, what the run geocodes.
    """
    if path is None:
        return None
    from pathlib import Path

    if not is_radar_geometry(ds):
        crs = ds.rio.crs.to_string() if ds.rio.crs else ""
        notes.append(f"--lookup {Path(path).name} not used: the product is geocoded already ({crs})")
        return None
    from fringenet.io.lookup import read_lookup

    lookup = read_lookup(path, (ds.sizes["y"], ds.sizes["x"]))
    notes.append(f"geocoded with {lookup.source}: {written}")
    return lookup
