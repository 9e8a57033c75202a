"""Open any supported product by looking at what the path is, and describe a Dataset in words."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from fringenet.errors import InputError
from fringenet.io.binary import binary_kind, is_binary_folder, read_binary, read_binary_folder
from fringenet.io.geotiff import _LICSAR, LICSAR_KINDS, gdal_messages, read_geotiff, read_licsar_folder
from fringenet.io.netcdf import is_fringenet_netcdf, read_netcdf, read_snap_netcdf
from fringenet.io.schema import PAIR_DIM, VARIABLES
from fringenet.io.stack import open_stack_folder
from fringenet.io.zarr_store import read_zarr

_TIFF = (".tif", ".tiff")
_NETCDF = (".nc", ".nc4", ".netcdf", ".cdf")
_HDF5 = (".h5", ".hdf5", ".he5")


def open_product(
    path: str | PathLike[str],
    *,
    nodata: float | None = None,
    wavelength_m: float | None = None,
    variable: str | None = None,
) -> xr.Dataset:
    """Open a GeoTIFF, NetCDF (SNAP or fringenet), Zarr store, MintPy HDF5 file, LiCSAR frame
    folder, folder of per-pair GeoTIFFs, raw GAMMA/ISCE/plain-par binary (``.diff``, ``.int``,
    ``.unw``, ``.cc``, ``.cor`` with its parameter file, see :mod:`fringenet.io.binary`) or folder
    of such binaries named by pair as a fringenet Dataset.

    ``nodata`` (a value read as NaN, e.g. 0 for ROI_PAC/PyRate products), ``wavelength_m``
    (when the files carry none) and ``variable`` (the vocabulary name of rasters whose file names
    do not say, e.g. ``ifg_20200101_20200113.tif``) apply to GeoTIFF products and folders of them;
    ``nodata`` and ``wavelength_m`` also to raw binaries and ``variable`` to a single one; the
    other formats name their variables themselves. What was inferred instead of given is in
    ``encoding["notes"]``, and so are GDAL's warnings about a damaged but readable file (never printed).
    """
    path = Path(path)
    with gdal_messages() as messages:
        ds = _open_product(path, nodata, wavelength_m, variable)
    if messages:
        notes = ds.encoding.get("notes", [])
        more = f" (and {len(messages) - 3} more)" if len(messages) > 3 else ""
        warned = f"GDAL warned while reading {path.name} (damaged?): {'; '.join(messages[:3])}{more}"
        ds.encoding["notes"] = [*notes, warned]
    return ds


def _open_product(
    path: Path, nodata: float | None, wavelength_m: float | None, variable: str | None
) -> xr.Dataset:
    if not path.exists():
        raise InputError(path, "no such file or folder")
    suffix = path.suffix.lower()
    binary = (
        path.is_file() and suffix not in (*_TIFF, *_NETCDF, *_HDF5) and binary_kind(path.name) is not None
    )
    if variable is not None and not (
        suffix in _TIFF or binary or (path.is_dir() and _plain_tif_folder(path))
    ):
        raise InputError(
            path, "variable (--variable) applies to GeoTIFF files, folders of them and raw binaries only"
        )
    if path.is_dir():
        if (path / "zarr.json").exists() or (path / ".zgroup").exists():
            return read_zarr(path)
        if _licsar_folder(path):
            return read_licsar_folder(path)
        if any(path.glob("*.tif")):
            return open_stack_folder(path, "*.tif", variable, nodata=nodata, wavelength_m=wavelength_m)
        if any(path.glob("*.tiff")):
            return open_stack_folder(path, "*.tiff", variable, nodata=nodata, wavelength_m=wavelength_m)
        if is_binary_folder(path):
            return read_binary_folder(path, nodata=nodata, wavelength_m=wavelength_m)
        raise InputError(
            path, "folder holds no Zarr store, LiCSAR products, GeoTIFF pairs or raw binaries named by pair"
        )
    if suffix in _TIFF:
        return read_geotiff(path, variable, nodata=nodata, wavelength_m=wavelength_m)
    if suffix in _NETCDF:
        return read_netcdf(path) if is_fringenet_netcdf(path) else read_snap_netcdf(path)
    if suffix in _HDF5:
        # here, not at import: h5py is not needed for other formats
        from fringenet.io.mintpy import (
            mintpy_file_type,
            read_mintpy_ifgram_stack,
            read_mintpy_timeseries,
            read_mintpy_velocity,
        )

        kind = mintpy_file_type(path)
        readers = {
            "ifgramStack": read_mintpy_ifgram_stack,
            "timeseries": read_mintpy_timeseries,
            "velocity": read_mintpy_velocity,
        }
        if kind not in readers:
            raise InputError(
                path, f"unsupported HDF5 file type {kind!r} (expected ifgramStack, timeseries, velocity)"
            )
        return readers[kind](path)
    if binary:
        return read_binary(path, variable, nodata=nodata, wavelength_m=wavelength_m)
    raise InputError(
        path,
        f"unsupported file type '{suffix}' (GeoTIFF, NetCDF, Zarr, MintPy .h5, a GAMMA/ISCE binary "
        "(.diff, .int, .unw, .cc, .cor) or a folder)",
    )


def _licsar_folder(path: Path) -> bool:
    """A LiCSAR frame folder: per-pair LiCSAR products somewhere below it (a lone ``*.geo.hgt.tif`` DEM
    beside plain pairs is a static layer of a plain folder, see :func:`~fringenet.io.stack.open_stack_folder`)."""
    for p in path.rglob("*.geo.*.tif*"):
        match = _LICSAR.search(p.name)
        if match and VARIABLES[LICSAR_KINDS[match[1].lower()]].per_pair:
            return True
    return False


def _plain_tif_folder(path: Path) -> bool:
    """A folder of per-pair GeoTIFFs (not a Zarr store or LiCSAR frame, whose names say the variable)."""
    zarr = (path / "zarr.json").exists() or (path / ".zgroup").exists()
    return not zarr and not _licsar_folder(path) and any(path.glob("*.tif*"))


def describe(ds: xr.Dataset) -> str:
    """A short human summary of a Dataset (for ``fringenet info``)."""
    lines = []
    source = ds.encoding.get("source")
    if source:
        lines.append(f"source: {source} ({ds.encoding.get('source_format', 'unknown format')})")
    dims = ", ".join(f"{d}={n}" for d, n in ds.sizes.items())
    lines.append(f"dims: {dims}")
    crs = ds.rio.crs
    transform = ds.rio.transform() if "x" in ds.dims and "y" in ds.dims else None
    grid = f"grid: {ds.sizes.get('y', '?')} x {ds.sizes.get('x', '?')} px"
    if transform is not None:
        unit = "deg" if crs is not None and crs.is_geographic else "m" if crs is not None else "units"
        grid += f", pixel {abs(transform.a):.6g} x {abs(transform.e):.6g} {unit}"
        grid += f", upper-left ({transform.c:.6f}, {transform.f:.6f})"
    lines.append(grid)
    lines.append(f"crs: {crs.to_string() if crs is not None else 'none'}")
    if PAIR_DIM in ds.dims and "reference_date" in ds.coords:
        refs = pd.to_datetime(ds["reference_date"].values)
        secs = pd.to_datetime(ds["secondary_date"].values)
        spans = (secs - refs).days
        lines.append(
            f"pairs: {ds.sizes[PAIR_DIM]} from {refs.min():%Y-%m-%d} to {secs.max():%Y-%m-%d}, "
            f"{len(set(refs) | set(secs))} dates, spans {spans.min()}-{spans.max()} days"
        )
    elif "reference_date" in ds.coords:
        ref, sec = pd.Timestamp(ds["reference_date"].values), pd.Timestamp(ds["secondary_date"].values)
        lines.append(f"pair: {ref:%Y-%m-%d} -> {sec:%Y-%m-%d} ({(sec - ref).days} days)")
    if "date" in ds.coords:
        dates = pd.to_datetime(ds["date"].values)
        lines.append(f"dates: {len(dates)} from {dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}")
    if "wavelength_m" in ds.attrs:
        lines.append(
            f"wavelength: {float(ds.attrs['wavelength_m']):.6g} m ({ds.attrs.get('wavelength_source', 'unknown')}), "
            f"sensor: {ds.attrs.get('sensor', 'unknown')}"
        )
    lines.append("variables:")
    for name, var in ds.data_vars.items():
        nan = _nan_fraction(var)
        nan_text = f", {100 * nan:.1f}% NaN" if nan is not None else ""
        lines.append(
            f"  {name} [{var.attrs.get('units', '?')}] ({', '.join(map(str, var.dims))}) {var.dtype}{nan_text}"
        )
    return "\n".join(lines)


def _nan_fraction(var: xr.DataArray) -> float | None:
    if not np.issubdtype(var.dtype, np.floating):
        return None
    if var.size > 50_000_000:  # do not read a huge lazy stack just to describe it
        return None
    with gdal_messages():  # a lazy read reopens the file: GDAL's warnings again, noted when it was opened
        return float(var.isnull().mean())
