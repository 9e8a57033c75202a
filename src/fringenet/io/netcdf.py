"""NetCDF: fringenet's own files (round trip) and SNAP-style exports (bands as variables)."""

from __future__ import annotations

import json
import re
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from fringenet.errors import InputError
from fringenet.io.atomic import atomic_path
from fringenet.io.dates import parse_pair_dates
from fringenet.io.schema import PAIR_DIM, VARIABLES, as_ns, base_attrs

JSON_ATTRS_KEY = "fringenet_json_attrs"
"""Dataset attr listing the attrs stored as JSON text (NetCDF attrs cannot hold bools, dicts...)."""

FORMAT_ATTR = "fringenet_format"

# SNAP band-name prefixes (lower case) -> vocabulary; first match wins, so longer prefixes first.
_SNAP_PREFIXES: tuple[tuple[str, str], ...] = (
    ("unw_phase", "unwrapped_phase"),
    ("unwrapped_phase", "unwrapped_phase"),
    ("phase", "wrapped_phase"),
    ("coh", "coherence"),
    ("intensity", "amplitude"),
    ("amplitude", "amplitude"),
    ("displacement", "los_displacement"),
    ("elevation", "dem"),
    ("incident_angle", "incidence"),
    ("incidence_angle", "incidence"),
    ("localincidenceangle", "incidence"),
    ("local_incidence_angle", "incidence"),
)
_DATE_ATTRS = (("reference_date", "secondary_date"), ("first_date", "second_date"), ("master", "slave"))


def _open(path: Path, **kwargs: Any) -> xr.Dataset:
    if not path.exists():
        raise InputError(path, "file not found")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(path, "empty file (0 bytes)")
    try:
        return xr.open_dataset(path, decode_coords="all", **kwargs)
    except Exception as err:  # netCDF4/h5netcdf raise many unrelated types for a corrupt file
        raise InputError(path, f"not a readable NetCDF file ({_reason(err)})") from err


def _reason(err: Exception) -> str:
    """One line of why a NetCDF file did not open (xarray's own messages run over several lines)."""
    text = str(err).strip()
    if isinstance(err, ValueError) and text.startswith("did not find a match in any of xarray"):
        return "no NetCDF-3 or NetCDF-4/HDF5 signature: not a NetCDF file, or its header is damaged"
    first = text.splitlines()[0].strip() if text else ""
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def snap_variable(name: str) -> str | None:
    """Vocabulary name for a SNAP band name such as ``Phase_ifg_VV_01Jan2020_13Jan2020``."""
    lower = name.lower()
    for prefix, variable in _SNAP_PREFIXES:
        if lower.startswith(prefix):
            return variable
    return None


def _dates_from_attrs(*attr_sets: dict[str, Any]) -> tuple[Any, Any] | None:
    for attrs in attr_sets:
        lower = {str(k).lower(): v for k, v in attrs.items()}
        for ref_key, sec_key in _DATE_ATTRS:
            if ref_key in lower and sec_key in lower:
                try:
                    return as_ns(lower[ref_key]), as_ns(lower[sec_key])
                except ValueError:
                    continue
    return None


def read_snap_netcdf(path: str | PathLike[str], *, wavelength_m: float | None = None) -> xr.Dataset:
    """Read a SNAP NetCDF export (bands as variables) into a fringenet Dataset.

    Band names are mapped case-insensitively (``Phase_ifg_*`` wrapped, ``Unw_Phase_ifg_*``
    unwrapped, ``coh_*`` coherence, ``Intensity_*`` -> amplitude = sqrt(intensity),
    ``displacement``, ``elevation``, ``incident_angle``/``localIncidenceAngle``); pair dates come
    from the band name (``_01Jan2020_13Jan2020``) or from ``first_date``/``second_date``-style
    attrs. ``lat``/``lon`` coordinates mean EPSG:4326. Several pairs become a ``(pair, y, x)``
    stack; a second band with the same variable and dates (another polarisation) is ignored.

    SNAP's ``displacement`` is taken as given (SNAP's Phase-to-Displacement is positive towards
    the satellite); check the sign on a known signal before relying on it.
    """
    path = Path(path)
    raw = _open(path)
    renames = {old: new for old, new in (("lat", "y"), ("lon", "x"), ("latitude", "y"), ("longitude", "x"))}
    renames = {k: v for k, v in renames.items() if k in raw.dims}
    geographic = bool(renames)
    raw = raw.rename(renames)
    found: dict[str, dict[tuple[Any, Any] | None, xr.DataArray]] = {}
    skipped: list[str] = []
    for band_name, band in raw.data_vars.items():
        variable = snap_variable(str(band_name))
        if variable is None or set(band.dims) != {"y", "x"}:
            skipped.append(str(band_name))
            continue
        dates = parse_pair_dates(str(band_name)) or _dates_from_attrs(band.attrs, raw.attrs)
        key = (as_ns(dates[0]), as_ns(dates[1])) if dates else None
        values = band.transpose("y", "x").astype(np.float32)
        if variable == "amplitude" and str(band_name).lower().startswith("intensity"):
            values = values**0.5
        found.setdefault(variable, {}).setdefault(key, values)
    if not found:
        raise InputError(path, f"no recognised SNAP bands (variables: {sorted(map(str, raw.data_vars))})")
    data_vars: dict[str, xr.DataArray] = {}
    pair_keys = sorted({k for v, d in found.items() if VARIABLES[v].per_pair for k in d if k is not None})
    for variable, by_pair in found.items():
        spec = VARIABLES[variable]
        if spec.per_pair and len(pair_keys) > 1:
            if None in by_pair:
                # an undated per-pair band (e.g. the reference scene's Intensity) fits no pair
                undated = by_pair.pop(None)
                skipped.append(f"{undated.name} (no dates)")
                if not by_pair:
                    continue
            template = next(iter(by_pair.values()))
            layers = [by_pair.get(k, xr.full_like(template, np.nan)) for k in pair_keys]
            da = xr.concat(layers, dim=PAIR_DIM, coords="minimal", compat="override", join="override")
        else:
            da = next(iter(by_pair.values()))
        da.attrs = {"units": spec.units, "long_name": spec.long_name}
        data_vars[variable] = da.drop_vars([c for c in da.coords if c not in ("y", "x")])
    ds = xr.Dataset(data_vars)
    if len(pair_keys) > 1:
        ds = ds.assign_coords(
            {
                PAIR_DIM: [
                    f"{np.datetime_as_string(r, 'D')}_{np.datetime_as_string(s, 'D')}".replace("-", "")
                    for r, s in pair_keys
                ],
                "reference_date": (PAIR_DIM, [k[0] for k in pair_keys]),
                "secondary_date": (PAIR_DIM, [k[1] for k in pair_keys]),
            }
        )
    elif len(pair_keys) == 1:
        ds = ds.assign_coords(reference_date=pair_keys[0][0], secondary_date=pair_keys[0][1])
    if ds["y"].size > 1 and float(ds["y"][1] - ds["y"][0]) > 0:
        ds = ds.isel(y=slice(None, None, -1))  # north-up: y decreasing downwards
    crs = raw.rio.crs or ("EPSG:4326" if geographic else None)
    if crs is not None:
        ds = ds.rio.write_crs(crs)
    ds = ds.rio.write_transform(ds.rio.transform(recalc=True))
    ds.attrs = base_attrs(wavelength_m or _snap_wavelength(raw.attrs), "unknown")
    if skipped:
        ds.attrs["snap_skipped_bands"] = ", ".join(skipped)
    ds.encoding["source"] = str(path)
    ds.encoding["source_format"] = "SNAP NetCDF"
    return ds


def _snap_wavelength(attrs: dict[str, Any]) -> float | None:
    for key, value in attrs.items():
        if re.fullmatch(r"(radar_)?wavelength(_m)?", str(key).lower()):
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


def encode_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attrs a NetCDF/Zarr file can hold: non-scalar/bool/None values become JSON text."""
    out: dict[str, Any] = {}
    encoded: list[str] = []
    for key, value in attrs.items():
        if isinstance(value, (str, int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.bool_)
        ):
            out[key] = value
        else:
            out[key] = json.dumps(value.tolist() if isinstance(value, np.ndarray) else value)
            encoded.append(key)
    if encoded:
        out[JSON_ATTRS_KEY] = json.dumps(encoded)
    return out


def decode_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`encode_attrs`."""
    out = dict(attrs)
    for key in json.loads(out.pop(JSON_ATTRS_KEY, "[]")):
        out[key] = json.loads(out[key])
    for key, value in out.items():
        if isinstance(value, np.generic):
            out[key] = value.item()
    return out


def prepare_for_file(ds: xr.Dataset) -> xr.Dataset:
    """Copy of ``ds`` with file-safe attrs and stale read encodings (fill values, chunks) dropped."""
    out = ds.copy()
    for name in list(out.variables):
        keep = {k: v for k, v in out[name].encoding.items() if k in ("units", "calendar", "dtype")}
        if "dtype" in keep and np.dtype(keep["dtype"]) != out[name].dtype:
            keep.pop("dtype")
        out[name].encoding = keep
        out[name].attrs = encode_attrs(dict(out[name].attrs))
    out.attrs = encode_attrs({**ds.attrs, FORMAT_ATTR: "fringenet"})
    return out


def restore_from_file(ds: xr.Dataset, path: Path, source_format: str) -> xr.Dataset:
    """Undo :func:`prepare_for_file` on a Dataset just opened from ``path``."""
    ds.attrs = decode_attrs(ds.attrs)
    ds.attrs.pop(FORMAT_ATTR, None)
    for name in ds.variables:
        ds[name].attrs = decode_attrs(dict(ds[name].attrs))
    if not ds.data_vars:
        raise InputError(path, "file holds no data variables")
    ds.encoding["source"] = str(path)
    ds.encoding["source_format"] = source_format
    return ds


def write_netcdf(ds: xr.Dataset, path: str | PathLike[str]) -> Path:
    """Write a fringenet Dataset to NetCDF-4 (compressed, atomic), keeping CRS, dates and attrs."""
    path = Path(path)
    out = prepare_for_file(ds)
    encoding = {
        str(name): {"zlib": True, "complevel": 4}
        for name, var in out.data_vars.items()
        if var.dtype.kind in "fiu" and var.ndim >= 2
    }
    with atomic_path(path) as tmp:
        out.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
    return path


def read_netcdf(path: str | PathLike[str], *, chunks: Any = None) -> xr.Dataset:
    """Read a NetCDF written by :func:`write_netcdf` (lazy with ``chunks``, else loaded)."""
    path = Path(path)
    ds = _open(path, chunks=chunks)
    if chunks is None:
        try:
            ds = ds.load()
        except Exception as err:  # a damaged data chunk: netCDF4's RuntimeError("NetCDF: HDF error"), ...
            raise InputError(path, f"corrupt or truncated NetCDF file ({_reason(err)})") from err
        finally:
            ds.close()
    return restore_from_file(ds, path, "fringenet NetCDF")


def is_fringenet_netcdf(path: str | PathLike[str]) -> bool:
    """True when the NetCDF file was written by fringenet."""
    with _open(Path(path)) as ds:
        return ds.attrs.get(FORMAT_ATTR) == "fringenet"
