"""MintPy HDF5 files: read ``ifgramStack.h5``; write ``timeseries.h5`` and ``velocity.h5``.

Layout follows MintPy's ``docs/api/data_structure.md``: datasets and attributes at the root,
attribute values written as text (as MintPy's ``writefile`` does), ``X_FIRST``/``Y_FIRST`` the
outer corner of the upper-left pixel, dates as ``|S8`` ``YYYYMMDD``.

Sign convention: MintPy's interferogram phase is positive for motion away from the satellite
(range increase) and its time series / velocity are positive towards the satellite, with
``displacement = -phase * wavelength / (4 pi)``. That is exactly fringenet's convention
(:mod:`fringenet.conventions`), so phases and displacements pass through with **no sign flip**.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np
import pandas as pd
import xarray as xr
from affine import Affine
from pyproj import CRS

from fringenet.errors import InputError
from fringenet.io.atomic import atomic_path
from fringenet.io.schema import as_ns, base_attrs, grid_dataset, make_dataset


def _open_h5(path: Path) -> h5py.File:
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise InputError(path, f"not a readable HDF5 file ({err})") from err


F = TypeVar("F", bound=Callable[..., Any])


def _damage_named(reader: F) -> F:
    """A damaged file (h5py's KeyError/RuntimeError/OSError on reading, garbage attributes or dates) raises
    :class:`InputError` naming it, not a traceback."""

    @functools.wraps(reader)
    def wrapper(path: str | PathLike[str], *args: Any, **kwargs: Any) -> Any:
        try:
            return reader(path, *args, **kwargs)
        except InputError:
            raise
        except (KeyError, RuntimeError, OSError, ValueError, TypeError, IndexError) as err:
            text = str(err.args[0] if isinstance(err, KeyError) and err.args else err).strip()
            reason = f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__
            raise InputError(path, f"corrupt or truncated MintPy HDF5 file ({reason})") from err

    return wrapper  # type: ignore[return-value]


def _attrs(f: h5py.File) -> dict[str, str]:
    return {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in f.attrs.items()}


def _grid(attrs: dict[str, str], path: Path) -> tuple[Affine | None, CRS | None]:
    """Transform and CRS of a geocoded MintPy file (None, None in radar coordinates)."""
    if not all(k in attrs for k in ("X_FIRST", "Y_FIRST", "X_STEP", "Y_STEP")):
        return None, None
    try:
        x0, y0, dx, dy = (float(attrs[k]) for k in ("X_FIRST", "Y_FIRST", "X_STEP", "Y_STEP"))
    except ValueError as err:
        raise InputError(path, f"unreadable X/Y_FIRST/STEP attributes ({err})") from err
    crs: CRS | None = None
    epsg = attrs.get("EPSG", "").strip()
    if epsg and epsg.lower() not in ("none", "nan"):
        crs = CRS.from_epsg(int(float(epsg)))
    elif attrs.get("X_UNIT", "").lower().startswith("deg") or (abs(dx) < 1 and -90 <= y0 <= 90):
        crs = CRS.from_epsg(4326)
    return Affine(dx, 0.0, x0, 0.0, dy, y0), crs


def _dates(raw: np.ndarray) -> list[pd.Timestamp]:
    return [pd.Timestamp((d.decode() if isinstance(d, bytes) else str(d)).strip()) for d in raw]


@_damage_named
def read_mintpy_ifgram_stack(path: str | PathLike[str], *, keep_dropped: bool = False) -> xr.Dataset:
    """Read MintPy's ``ifgramStack.h5`` into a fringenet ``(pair, y, x)`` stack.

    ``unwrapPhase`` -> unwrapped_phase (rad, same sign), ``coherence`` -> coherence,
    ``wrapPhase`` -> wrapped_phase, ``connectComponent`` -> valid (component > 0). Pairs with
    ``dropIfgram`` False are left out unless ``keep_dropped``. The grid comes from
    ``X_FIRST``/``Y_FIRST``/``X_STEP``/``Y_STEP`` and ``EPSG`` (degrees mean EPSG:4326); files in
    radar coordinates get a pixel grid without CRS. The data are read into memory.
    """
    path = Path(path)
    with _open_h5(path) as f:
        attrs = _attrs(f)
        if "unwrapPhase" not in f or "date" not in f:
            raise InputError(path, "not an ifgramStack file (needs 'unwrapPhase' and 'date' datasets)")
        dates = np.asarray(f["date"][()])
        if dates.ndim != 2 or dates.shape[1] != 2 or dates.shape[0] != f["unwrapPhase"].shape[0]:
            raise InputError(
                path, f"'date' has shape {dates.shape}, expected ({f['unwrapPhase'].shape[0]}, 2)"
            )
        keep = (
            np.ones(len(dates), bool)
            if keep_dropped or "dropIfgram" not in f
            else f["dropIfgram"][()].astype(bool)
        )
        if not keep.any():
            raise InputError(path, "every interferogram is marked as dropped (dropIfgram)")
        index = np.flatnonzero(keep)
        variables: dict[str, np.ndarray] = {"unwrapped_phase": f["unwrapPhase"][index].astype(np.float32)}
        if "coherence" in f:
            variables["coherence"] = f["coherence"][index].astype(np.float32)
        if "wrapPhase" in f:
            variables["wrapped_phase"] = f["wrapPhase"][index].astype(np.float32)
        if "connectComponent" in f:
            variables["valid"] = (f["connectComponent"][index] > 0).astype(np.uint8)
    transform, crs = _grid(attrs, path)
    wavelength = float(attrs["WAVELENGTH"]) if "WAVELENGTH" in attrs else None
    ds = make_dataset(
        variables,
        transform=transform,
        crs=crs,
        reference_dates=_dates(dates[index, 0]),
        secondary_dates=_dates(dates[index, 1]),
        wavelength_m=wavelength,
        sensor=attrs.get("PLATFORM", "unknown"),
    )
    ds.encoding["source"] = str(path)
    ds.encoding["source_format"] = "MintPy ifgramStack"
    return ds


def _grid_attrs(transform: Affine, crs: Any, length: int, width: int) -> dict[str, str]:
    out = {"LENGTH": str(length), "WIDTH": str(width)}
    if transform is not None:
        out.update(X_FIRST=repr(transform.c), Y_FIRST=repr(transform.f))
        out.update(X_STEP=repr(transform.a), Y_STEP=repr(transform.e))
    if crs is not None:
        crs = CRS.from_user_input(crs)
        unit = "degrees" if crs.is_geographic else "meters"
        out.update(X_UNIT=unit, Y_UNIT=unit)
        epsg = crs.to_epsg()
        if epsg is not None:
            out["EPSG"] = str(epsg)
    return out


def _write_h5(path: Path, datasets: dict[str, np.ndarray], attrs: dict[str, str]) -> Path:
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name, data in datasets.items():
            f.create_dataset(name, data=data)
        for key, value in attrs.items():
            f.attrs[key] = value
    return path


def _yyyymmdd(dates: Sequence[Any]) -> list[str]:
    return [pd.Timestamp(d).strftime("%Y%m%d") for d in dates]


def write_mintpy_timeseries(
    path: str | PathLike[str],
    displacement_m: np.ndarray,
    dates: Sequence[Any],
    transform: Affine,
    crs: Any,
    wavelength_m: float,
    reference_date: Any = None,
    *,
    bperp_m: Sequence[float] | None = None,
    extra_attrs: dict[str, Any] | None = None,
) -> Path:
    """Write a LOS displacement time series as MintPy's ``timeseries.h5``.

    Parameters
    ----------
    displacement_m
        ``(date, y, x)`` LOS displacement (m, positive towards the satellite), relative to
        ``reference_date`` (stored as-is: MintPy uses the same sign).
    dates
        One acquisition date per layer.
    transform, crs
        Grid of the layers (``X_FIRST``/``Y_FIRST`` are the upper-left corner).
    wavelength_m
        Radar wavelength (m).
    reference_date
        Date at which the series is zero (``REF_DATE``); the first date by default.
    bperp_m
        Perpendicular baselines (m) per date; zeros if unknown.
    """
    path = Path(path)
    data = np.asarray(displacement_m, dtype=np.float32)
    if data.ndim != 3 or data.shape[0] != len(dates):
        raise InputError(path, f"displacement shape {data.shape} does not match {len(dates)} dates")
    labels = _yyyymmdd(dates)
    ref = _yyyymmdd([reference_date])[0] if reference_date is not None else labels[0]
    if ref not in labels:
        raise InputError(path, f"reference date {ref} is not one of the dates")
    bperp = np.zeros(len(dates), np.float32) if bperp_m is None else np.asarray(bperp_m, np.float32)
    attrs = {
        "FILE_TYPE": "timeseries",
        "UNIT": "m",
        "DATA_TYPE": "float32",
        "REF_DATE": ref,
        "START_DATE": labels[0],
        "END_DATE": labels[-1],
        "WAVELENGTH": repr(float(wavelength_m)),
        "PROCESSOR": "fringenet",
        **_grid_attrs(transform, crs, data.shape[1], data.shape[2]),
        **{k: str(v) for k, v in (extra_attrs or {}).items()},
    }
    datasets = {"timeseries": data, "date": np.array(labels, dtype="S8"), "bperp": bperp}
    return _write_h5(path, datasets, attrs)


def write_mintpy_velocity(
    path: str | PathLike[str],
    velocity_m_per_yr: np.ndarray,
    start_date: Any,
    end_date: Any,
    transform: Affine,
    crs: Any,
    wavelength_m: float,
    reference_date: Any = None,
    *,
    velocity_std_m_per_yr: np.ndarray | None = None,
    extra_attrs: dict[str, Any] | None = None,
) -> Path:
    """Write a ``(y, x)`` LOS velocity (m/yr, positive towards the satellite) as ``velocity.h5``."""
    path = Path(path)
    data = np.asarray(velocity_m_per_yr, dtype=np.float32)
    if data.ndim != 2:
        raise InputError(path, f"velocity must be 2-D (y, x), got shape {data.shape}")
    start, end = _yyyymmdd([start_date, end_date])
    attrs = {
        "FILE_TYPE": "velocity",
        "UNIT": "m/year",
        "DATA_TYPE": "float32",
        "START_DATE": start,
        "END_DATE": end,
        "DATE12": f"{start}_{end}",
        "REF_DATE": _yyyymmdd([reference_date])[0] if reference_date is not None else start,
        "WAVELENGTH": repr(float(wavelength_m)),
        "PROCESSOR": "fringenet",
        **_grid_attrs(transform, crs, data.shape[0], data.shape[1]),
        **{k: str(v) for k, v in (extra_attrs or {}).items()},
    }
    datasets = {"velocity": data}
    if velocity_std_m_per_yr is not None:
        datasets["velocityStd"] = np.asarray(velocity_std_m_per_yr, dtype=np.float32)
    return _write_h5(path, datasets, attrs)


def _grid_dataset(
    data_vars: dict[str, Any], attrs: dict[str, str], path: Path, height: int, width: int
) -> xr.Dataset:
    transform, crs = _grid(attrs, path)
    wavelength_m = float(attrs["WAVELENGTH"]) if "WAVELENGTH" in attrs else None
    ds = grid_dataset(height, width, transform, crs, base_attrs(wavelength_m)).assign(data_vars)
    ds.encoding["source"] = str(path)
    return ds


@_damage_named
def read_mintpy_timeseries(path: str | PathLike[str]) -> xr.Dataset:
    """Read MintPy's ``timeseries.h5``: variable ``los_displacement`` with dims ``(date, y, x)`` (m).

    The ``date`` coord holds acquisition dates; attrs ``reference_date`` (``REF_DATE``) and the
    wavelength are kept. Values are as MintPy stores them (positive towards the satellite).
    """
    path = Path(path)
    with _open_h5(path) as f:
        attrs = _attrs(f)
        if "timeseries" not in f or "date" not in f:
            raise InputError(path, "not a MintPy timeseries file (needs 'timeseries' and 'date' datasets)")
        data = f["timeseries"][()].astype(np.float32)
        dates = [as_ns(d) for d in _dates(f["date"][()])]
        bperp = f["bperp"][()].astype(np.float32) if "bperp" in f else np.zeros(len(dates), np.float32)
    if data.ndim != 3 or data.shape[0] != len(dates):
        raise InputError(path, f"'timeseries' shape {data.shape} does not match {len(dates)} dates")
    da = xr.DataArray(data, dims=("date", "y", "x"), attrs={"units": "m", "long_name": "LOS displacement"})
    ds = _grid_dataset({"los_displacement": da}, attrs, path, data.shape[1], data.shape[2])
    ds = ds.assign_coords(date=("date", dates), bperp=("date", bperp))
    if attrs.get("UNIT", "m") not in ("m", "meter", "meters"):
        raise InputError(path, f"time series unit is '{attrs['UNIT']}', expected metres")
    ds.attrs["reference_date"] = attrs.get("REF_DATE", pd.Timestamp(dates[0]).strftime("%Y%m%d"))
    ds.encoding["source_format"] = "MintPy timeseries"
    return ds


@_damage_named
def read_mintpy_velocity(path: str | PathLike[str]) -> xr.Dataset:
    """Read MintPy's ``velocity.h5`` as ``los_velocity`` (m/yr, positive towards the satellite)."""
    path = Path(path)
    with _open_h5(path) as f:
        attrs = _attrs(f)
        if "velocity" not in f:
            raise InputError(path, "not a MintPy velocity file (needs a 'velocity' dataset)")
        data = f["velocity"][()].astype(np.float32)
    if attrs.get("UNIT", "m/year") not in ("m/year", "m/yr"):
        raise InputError(path, f"velocity unit is '{attrs['UNIT']}', expected m/year")
    da = xr.DataArray(data, dims=("y", "x"), attrs={"units": "m/yr", "long_name": "mean LOS velocity"})
    ds = _grid_dataset({"los_velocity": da}, attrs, path, *data.shape)
    for key in ("START_DATE", "END_DATE", "REF_DATE"):
        if key in attrs:
            ds.attrs[key.lower()] = attrs[key]
    ds.encoding["source_format"] = "MintPy velocity"
    return ds


@_damage_named
def mintpy_file_type(path: str | PathLike[str]) -> str | None:
    """MintPy's ``FILE_TYPE`` attribute of an HDF5 file (e.g. ``"ifgramStack"``), or None."""
    with _open_h5(Path(path)) as f:
        return _attrs(f).get("FILE_TYPE")
