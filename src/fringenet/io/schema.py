"""fringenet's data model: interferograms and stacks as georeferenced xarray Datasets.

One interferogram is an ``xarray.Dataset`` with dims ``(y, x)``; a stack of interferograms has
dims ``(pair, y, x)`` for per-pair variables and ``(y, x)`` for static ones (DEM, incidence...).
Coordinates ``y``/``x`` are pixel centres in the CRS, which is attached with rioxarray
(``ds.rio.crs``). Per-pair coordinates ``reference_date`` and ``secondary_date``
(``datetime64[ns]``) hang on the ``pair`` dim (on a single pair they are scalar coords), and
``pair`` holds labels ``"YYYYMMDD_YYYYMMDD"``. Dataset attrs carry ``wavelength_m`` and ``sensor``.

Variable names are the fixed vocabulary in :data:`VARIABLES`; each variable's ``units`` attr is
set from it. Nothing here reads or writes files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine

from fringenet.conventions import LOS_SIGN_CONVENTION, SENTINEL1_WAVELENGTH_M
from fringenet.errors import InputError


@dataclass(frozen=True)
class VariableSpec:
    """What one variable of the vocabulary means."""

    units: str
    long_name: str
    per_pair: bool
    """True when the variable differs per interferogram (dims ``(pair, y, x)`` in a stack)."""


VARIABLES: dict[str, VariableSpec] = {
    "wrapped_phase": VariableSpec("rad", "wrapped interferometric phase in [-pi, pi)", True),
    "unwrapped_phase": VariableSpec("rad", "unwrapped interferometric phase", True),
    "coherence": VariableSpec("1", "interferometric coherence magnitude in [0, 1]", True),
    "amplitude": VariableSpec("1", "radar amplitude (linear)", True),
    "los_displacement": VariableSpec("m", f"line-of-sight displacement, {LOS_SIGN_CONVENTION}", True),
    "ambiguity": VariableSpec("1", "integer 2-pi ambiguity: unwrapped = wrapped + 2 pi k", True),
    "label": VariableSpec("1", "deforming-area mask (1 = deforming and visible)", True),
    "decorrelation": VariableSpec("1", "true decorrelation mask (1 = phase unusable)", True),
    "valid": VariableSpec("1", "valid-pixel mask (1 = usable)", True),
    "atmosphere": VariableSpec("rad", "atmospheric phase delay of the pair", True),
    "los_velocity": VariableSpec("m/yr", f"mean LOS velocity, {LOS_SIGN_CONVENTION}", False),
    "dem": VariableSpec("m", "terrain elevation above the ellipsoid or geoid", False),
    "incidence": VariableSpec("deg", "incidence angle from the vertical", False),
    "heading": VariableSpec("deg", "satellite heading, clockwise from north", False),
    "slope": VariableSpec("deg", "terrain slope", False),
    "aspect": VariableSpec("deg", "terrain aspect (downslope direction, clockwise from north)", False),
    "water": VariableSpec("1", "water mask (1 = water)", False),
    "layover": VariableSpec("1", "layover/shadow mask (1 = layover or shadow)", False),
    "los_east": VariableSpec("1", "east component of the ground-to-satellite unit vector", False),
    "los_north": VariableSpec("1", "north component of the ground-to-satellite unit vector", False),
    "los_up": VariableSpec("1", "up component of the ground-to-satellite unit vector", False),
}

PAIR_DIM = "pair"
DATE_FORMAT = "%Y%m%d"


def pair_label(reference_date: Any, secondary_date: Any) -> str:
    """Label of an interferogram, ``"YYYYMMDD_YYYYMMDD"``."""
    ref, sec = pd.Timestamp(reference_date), pd.Timestamp(secondary_date)
    return f"{ref.strftime(DATE_FORMAT)}_{sec.strftime(DATE_FORMAT)}"


def coords_from_transform(transform: Affine, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre ``(y, x)`` coordinates of a north-up grid with the given affine transform."""
    if transform.b != 0 or transform.d != 0:
        raise InputError("transform", "rotated grids are not supported (affine terms b, d must be 0)")
    x = transform.c + (np.arange(width) + 0.5) * transform.a
    y = transform.f + (np.arange(height) + 0.5) * transform.e
    return y, x


def default_transform(height: int, pixel_size: float = 30.0) -> Affine:
    """A north-up grid of ``pixel_size`` metres with its upper-left corner at (0, height*pixel)."""
    return Affine(pixel_size, 0.0, 0.0, 0.0, -pixel_size, height * pixel_size)


DATE_DTYPE = "datetime64[ns]"
"""The one resolution of every date coordinate (pandas 3 would otherwise infer [s] or [us])."""


def as_ns(date: Any) -> np.datetime64:
    """One date as ``numpy.datetime64[ns]``."""
    return np.datetime64(pd.Timestamp(date), "ns")


def as_ns_array(dates: Any) -> np.ndarray:
    """Dates (a sequence, or one string) as a ``datetime64[ns]`` array."""
    return (
        pd.to_datetime(list(dates) if not isinstance(dates, str) else [dates]).to_numpy().astype(DATE_DTYPE)
    )


def base_attrs(wavelength_m: float | None = None, sensor: str = "unknown") -> dict[str, Any]:
    """Dataset attrs every fringenet Dataset carries: sensor, LOS convention, wavelength and its source."""
    return {
        "sensor": sensor,
        "los_convention": LOS_SIGN_CONVENTION,
        "wavelength_m": float(wavelength_m) if wavelength_m is not None else SENTINEL1_WAVELENGTH_M,
        "wavelength_source": "metadata" if wavelength_m is not None else "default (Sentinel-1)",
    }


def georeference(ds: xr.Dataset, transform: Affine, crs: Any = None) -> xr.Dataset:
    """Attach the affine transform and (when given) the CRS through rioxarray."""
    ds = ds.rio.write_transform(transform)
    return ds.rio.write_crs(crs) if crs is not None else ds


def grid_dataset(
    height: int,
    width: int,
    transform: Affine | None = None,
    crs: Any = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """An empty Dataset on a georeferenced ``(y, x)`` grid, ready for ``.assign(...)`` of variables."""
    transform = transform if transform is not None else default_transform(height)
    y, x = coords_from_transform(transform, height, width)
    return georeference(xr.Dataset(coords={"y": y, "x": x}, attrs=dict(attrs or {})), transform, crs)


def make_dataset(
    variables: Mapping[str, np.ndarray],
    *,
    transform: Affine | None = None,
    crs: Any = None,
    reference_dates: Sequence[Any] | Any | None = None,
    secondary_dates: Sequence[Any] | Any | None = None,
    wavelength_m: float | None = None,
    sensor: str = "unknown",
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Build a fringenet Dataset from plain arrays.

    Parameters
    ----------
    variables
        Arrays keyed by vocabulary name (:data:`VARIABLES`). Per-pair variables are ``(y, x)``
        for one interferogram or ``(pair, y, x)`` for a stack; static ones are ``(y, x)``.
    transform, crs
        Affine transform of the grid and its CRS (anything rioxarray accepts, e.g.
        ``"EPSG:32632"``). Without a transform, a 30 m local grid is used; without a CRS none is set.
    reference_dates, secondary_dates
        One date each for a single interferogram, or one per pair for a stack.
    wavelength_m
        Radar wavelength (m). Defaults to Sentinel-1's, recorded in ``attrs["wavelength_source"]``.
    sensor
        Sensor name, e.g. ``"Sentinel-1"``.
    """
    if not variables:
        raise InputError("dataset", "no variables given")
    unknown = sorted(set(variables) - set(VARIABLES))
    if unknown:
        raise InputError("dataset", f"unknown variable(s) {unknown}; known: {sorted(VARIABLES)}")

    bad_dims = {name: np.shape(a) for name, a in variables.items() if np.ndim(a) not in (2, 3)}
    if bad_dims:
        raise InputError("dataset", f"variables must be 2-D (y, x) or 3-D (pair, y, x), got {bad_dims}")
    is_stack = any(np.ndim(a) == 3 for a in variables.values())
    spatial_shapes = {name: np.shape(a)[-2:] for name, a in variables.items()}
    if len(set(spatial_shapes.values())) != 1:
        raise InputError("dataset", f"variables have different grid shapes: {spatial_shapes}")
    height, width = next(iter(spatial_shapes.values()))
    transform = transform if transform is not None else default_transform(height)
    y, x = coords_from_transform(transform, height, width)

    data_vars: dict[str, tuple[tuple[str, ...], np.ndarray, dict[str, str]]] = {}
    n_pairs: int | None = None
    for name, array in variables.items():
        array = np.asarray(array)
        spec = VARIABLES[name]
        if array.ndim == 3:
            if not spec.per_pair:
                raise InputError("dataset", f"'{name}' is static and must be 2-D (y, x), got {array.shape}")
            if n_pairs is not None and array.shape[0] != n_pairs:
                raise InputError("dataset", f"'{name}' has {array.shape[0]} pairs, others have {n_pairs}")
            n_pairs = array.shape[0]
            dims: tuple[str, ...] = (PAIR_DIM, "y", "x")
        else:
            dims = ("y", "x")
        data_vars[name] = (dims, array, {"units": spec.units, "long_name": spec.long_name})

    coords: dict[str, Any] = {"y": y, "x": x}
    if is_stack:
        refs = _as_dates(reference_dates, n_pairs, "reference_dates")
        secs = _as_dates(secondary_dates, n_pairs, "secondary_dates")
        if refs is not None and secs is not None:
            coords[PAIR_DIM] = [pair_label(r, s) for r, s in zip(refs, secs, strict=True)]
            coords["reference_date"] = (PAIR_DIM, refs)
            coords["secondary_date"] = (PAIR_DIM, secs)
        else:
            coords[PAIR_DIM] = np.arange(n_pairs or 0)
    elif reference_dates is not None and secondary_dates is not None:
        coords["reference_date"] = as_ns(reference_dates)
        coords["secondary_date"] = as_ns(secondary_dates)

    ds_attrs = base_attrs(wavelength_m, sensor)
    ds_attrs.update(attrs or {})
    return georeference(xr.Dataset(data_vars, coords=coords, attrs=ds_attrs), transform, crs)


def _as_dates(dates: Any, n: int | None, name: str) -> np.ndarray | None:
    if dates is None:
        return None
    values = as_ns_array(dates)
    if n is not None and len(values) != n:
        raise InputError("dataset", f"{name} has {len(values)} entries for {n} pairs")
    return values


def is_stack(ds: xr.Dataset) -> bool:
    """True when the Dataset holds several interferograms (has a ``pair`` dim)."""
    return PAIR_DIM in ds.dims


def wavelength_of(ds: xr.Dataset) -> float:
    """The Dataset's radar wavelength (m), from its attrs."""
    try:
        return float(ds.attrs["wavelength_m"])
    except KeyError as err:
        raise InputError(ds.encoding.get("source", "dataset"), "no 'wavelength_m' attribute") from err


DATE_DIM = "date"


def make_timeseries_dataset(
    displacement_m: np.ndarray,
    dates: Sequence[Any] | np.ndarray,
    *,
    like: xr.Dataset,
    velocity_m_per_yr: np.ndarray | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
) -> xr.Dataset:
    """A displacement time series on the grid of ``like`` (its coords, CRS and attrs).

    Parameters
    ----------
    displacement_m
        ``(date, y, x)`` LOS displacement in metres (positive towards the satellite), relative to
        the first date.
    dates
        Acquisition dates, one per ``displacement_m`` slice.
    like
        The Dataset whose grid (``y``, ``x`` coords, transform, CRS) and attrs are copied.
    velocity_m_per_yr
        Optional ``(y, x)`` mean LOS velocity (m/yr).
    extra
        Optional further ``(y, x)`` variables, e.g. ``{"velocity_std": ...}`` (units m/yr).
    """
    displacement_m = np.asarray(displacement_m)
    if displacement_m.ndim != 3 or displacement_m.shape[1:] != (like.sizes["y"], like.sizes["x"]):
        raise InputError(
            "time series",
            f"displacement shape {displacement_m.shape} does not fit the grid "
            f"({like.sizes['y']}, {like.sizes['x']})",
        )
    if len(dates) != displacement_m.shape[0]:
        raise InputError("time series", f"{len(dates)} dates for {displacement_m.shape[0]} epochs")
    spec = VARIABLES["los_displacement"]
    data_vars: dict[str, Any] = {
        "los_displacement": (
            (DATE_DIM, "y", "x"),
            displacement_m,
            {"units": spec.units, "long_name": spec.long_name},
        )
    }
    if velocity_m_per_yr is not None:
        vspec = VARIABLES["los_velocity"]
        data_vars["los_velocity"] = (
            ("y", "x"),
            velocity_m_per_yr,
            {"units": vspec.units, "long_name": vspec.long_name},
        )
    for name, array in (extra or {}).items():
        data_vars[name] = (("y", "x"), array, {"units": "m/yr" if "velocity" in name else "1"})
    ds = xr.Dataset(
        data_vars,
        coords={
            DATE_DIM: as_ns_array(dates),
            "y": like.y.values,
            "x": like.x.values,
        },
        attrs={k: v for k, v in like.attrs.items() if k != "objects"},
    )
    return georeference(ds, like.rio.transform(), like.rio.crs)


EARTH_METRES_PER_DEGREE = 111_320.0
"""Length of one degree of latitude (m), used to size pixels of geographic grids."""


def pixel_size_m(ds: xr.Dataset | xr.DataArray) -> float:
    """Mean ground pixel size (m) of a georeferenced grid.

    Projected grids use their transform directly; geographic grids (degrees) are converted at the
    grid's central latitude, which is accurate to a fraction of a percent over a scene.
    """
    transform = ds.rio.transform()
    dx, dy = abs(transform.a), abs(transform.e)
    crs = ds.rio.crs
    if crs is not None and crs.is_geographic:
        lat = transform.f + transform.e * ds.sizes["y"] / 2.0
        dx *= EARTH_METRES_PER_DEGREE * np.cos(np.radians(lat))
        dy *= EARTH_METRES_PER_DEGREE
    return float((dx + dy) / 2.0)
