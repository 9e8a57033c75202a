"""Stacks of interferograms: a folder of per-pair GeoTIFFs, lists of Datasets, headerless binaries."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
import xarray as xr
from rasterio.errors import RasterioError

from fringenet.errors import InputError
from fringenet.io.dates import parse_pair_dates
from fringenet.io.geotiff import read_geotiff
from fringenet.io.schema import PAIR_DIM, VARIABLES, as_ns, pair_label


def grid_of(path: Path) -> tuple[tuple[int, int], Any, Any]:
    """``((height, width), transform, crs)`` of a raster, read from its header only."""
    try:
        with rasterio.open(path) as src:
            return (src.height, src.width), src.transform, src.crs
    except (RasterioError, OSError) as err:
        raise InputError(path, f"not a readable raster ({err})") from err


def grid_of_dataset(ds: xr.Dataset) -> tuple[tuple[int, int], Any, Any]:
    """``((height, width), transform, crs)`` of a Dataset's ``(y, x)`` grid."""
    return (ds.sizes["y"], ds.sizes["x"]), ds.rio.transform(), ds.rio.crs


def grid_difference(a: tuple[tuple[int, int], Any, Any], b: tuple[tuple[int, int], Any, Any]) -> str | None:
    """How grid ``b`` differs from grid ``a`` (shape, transform, CRS), or None if they match."""
    if a[0] != b[0]:
        return f"grid shape {b[0][0]} x {b[0][1]} differs from {a[0][0]} x {a[0][1]}"
    if not b[1].almost_equals(a[1], precision=1e-9 * max(1.0, abs(a[1].c), abs(a[1].f))):
        return f"transform {tuple(b[1])[:6]} differs from {tuple(a[1])[:6]}"
    if (a[2] is None) != (b[2] is None) or (a[2] is not None and a[2] != b[2]):
        return f"CRS {b[2]} differs from {a[2]}"
    return None


def open_stack_folder(
    folder: str | PathLike[str],
    pattern: str = "*.tif",
    variable: str | None = None,
    *,
    nodata: float | None = None,
    wavelength_m: float | None = None,
    sensor: str = "unknown",
    chunks: Any = "auto",
) -> xr.Dataset:
    """Open a folder of per-pair single-band GeoTIFFs as a lazy ``(pair, y, x)`` stack.

    Parameters
    ----------
    folder, pattern
        Where the files are and which ones to take (glob, non-recursive).
    variable
        Vocabulary name of the rasters; inferred from the names (all must agree) if None, or from the
        first file's values when the names carry only dates (see :func:`~fringenet.io.geotiff.read_geotiff`).
    nodata
        Extra no-data value (e.g. ``0`` for PyRate/ROI_PAC unwrapped phase) -> NaN.
    wavelength_m, sensor
        Radar wavelength (m) and sensor name; the wavelength is also taken from file tags.
    chunks
        Dask chunks per file; data stay on disk until computed, so a stack larger than memory
        can be opened.

    Returns
    -------
    xarray.Dataset
        ``(pair, y, x)`` float32 dask-backed variable, pairs sorted by (reference, secondary),
        with ``reference_date``/``secondary_date`` coords. All-NaN members are not detected
        here (that would read every file).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "folder not found")
    files = sorted(p for p in folder.glob(pattern) if p.is_file())
    if not files:
        raise InputError(folder, f"no files matching '{pattern}'")
    dated: list[tuple[pd.Timestamp, pd.Timestamp, Path]] = []
    for path in files:
        dates = parse_pair_dates(path.name)
        if dates is None:
            raise InputError(path, "no pair dates (YYYYMMDD_YYYYMMDD or YYMMDD-YYMMDD) in the file name")
        dated.append((dates[0], dates[1], path))
    dated.sort(key=lambda item: (item[0], item[1]))
    for (r0, s0, p0), (r1, s1, p1) in itertools.pairwise(dated):
        if (r0, s0) == (r1, s1):
            raise InputError(p1, f"duplicate pair {pair_label(r1, s1)} (also in {p0.name})")
    first_grid = grid_of(dated[0][2])
    for _, _, path in dated[1:]:
        diff = grid_difference(first_grid, grid_of(path))
        if diff is not None:
            raise InputError(path, f"not on the stack's grid ({dated[0][2].name}): {diff}")
    options: dict[str, Any] = {
        "nodata": nodata, "chunks": chunks, "sensor": sensor, "wavelength_m": wavelength_m, "check_data": False
    }  # fmt: skip
    first = read_geotiff(dated[0][2], variable, **options)
    notes = [f"{note}, and so every file of {folder.name}" for note in first.encoding.get("notes", [])]
    if notes:  # the names say nothing: the first file's values decide for all (read once, not per file)
        variable = str(next(iter(first.data_vars)))
    members = [first, *(read_geotiff(path, variable, **options) for _, _, path in dated[1:])]
    names = {str(next(iter(m.data_vars))) for m in members}
    if len(names) != 1:
        raise InputError(folder, f"files hold different variables {sorted(names)}; pass variable=...")
    stack = stack_from_datasets(members)
    stack.encoding["source"] = str(folder)
    if notes:
        stack.encoding["notes"] = notes
    stack.encoding["source_format"] = "folder of GeoTIFF pairs"
    return stack


def _as_pair_stack(ds: xr.Dataset) -> xr.Dataset:
    source = ds.encoding.get("source", "dataset")
    if PAIR_DIM in ds.dims:
        return ds
    per_pair = [name for name in ds.data_vars if VARIABLES.get(str(name), VARIABLES["label"]).per_pair]
    if not per_pair:
        return ds[[]]
    if "reference_date" not in ds.coords or "secondary_date" not in ds.coords:
        raise InputError(source, "interferogram has no reference/secondary dates")
    ref, sec = ds.coords["reference_date"].values, ds.coords["secondary_date"].values
    out = (
        ds[per_pair]
        .drop_vars(["reference_date", "secondary_date"])
        .expand_dims({PAIR_DIM: [pair_label(ref, sec)]})
    )
    return out.assign_coords(reference_date=(PAIR_DIM, [as_ns(ref)]), secondary_date=(PAIR_DIM, [as_ns(sec)]))


def stack_from_datasets(datasets: Sequence[xr.Dataset]) -> xr.Dataset:
    """Concatenate single interferograms (or stacks) on one grid into a ``(pair, y, x)`` stack.

    Pairs are sorted by (reference, secondary); a variable missing from some pairs is NaN
    there; static variables (DEM, ...) are taken from the first dataset that has them.
    Raises :class:`InputError` for grid/CRS mismatches, missing dates and duplicate pairs.
    """
    if not datasets:
        raise InputError("stack", "no datasets to stack")
    first = datasets[0]
    first_grid = grid_of_dataset(first)
    for ds in datasets[1:]:
        diff = grid_difference(first_grid, grid_of_dataset(ds))
        if diff:
            raise InputError(ds.encoding.get("source", "dataset"), f"{diff} (the first dataset's)")
    static: dict[str, xr.DataArray] = {}
    for ds in datasets:
        for name in ds.data_vars:
            if not VARIABLES.get(str(name), VARIABLES["label"]).per_pair and PAIR_DIM not in ds[name].dims:
                static.setdefault(str(name), ds[name])
    parts = [_as_pair_stack(ds) for ds in datasets]
    parts = [p for p in parts if p.data_vars]
    if not parts:
        raise InputError("stack", "no per-pair variables to stack")
    stack = xr.concat(
        parts, dim=PAIR_DIM, data_vars="all", coords="minimal", compat="override", join="override"
    )
    labels = pd.Index(stack[PAIR_DIM].values)
    if labels.has_duplicates:
        raise InputError("stack", f"duplicate pairs {sorted(set(labels[labels.duplicated()]))}")
    order = np.lexsort((stack["secondary_date"].values, stack["reference_date"].values))
    stack = stack.isel({PAIR_DIM: order})
    for name, da in static.items():
        stack[name] = da
    stack.attrs = dict(first.attrs)
    crs = first.rio.crs
    if crs is not None:
        stack = stack.rio.write_crs(crs)
    return stack.rio.write_transform(first.rio.transform())


def read_gamma_float(path: str | PathLike[str], shape: tuple[int, int], dtype: str = ">f4") -> np.ndarray:
    """Read a headerless GAMMA/ROI_PAC binary raster (e.g. PyRate's ``*_utm.unw.cc`` coherence).

    Parameters
    ----------
    path
        The binary file (no header; row-major, ``shape[0]`` lines of ``shape[1]`` samples).
    shape
        ``(height, width)`` in pixels; the file size must equal ``height * width * itemsize``.
    dtype
        NumPy dtype string; GAMMA writes big-endian float32 (``">f4"``).

    Returns
    -------
    numpy.ndarray
        ``(height, width)`` array in native byte order.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    dt = np.dtype(dtype)
    expected = int(shape[0]) * int(shape[1]) * dt.itemsize
    size = path.stat().st_size
    if size != expected:
        raise InputError(
            path,
            f"file has {size} bytes but a {shape[0]} x {shape[1]} raster of {dt} needs {expected}",
        )
    data = np.fromfile(path, dtype=dt).reshape(shape)
    return data.astype(dt.newbyteorder("="))


def drop_empty_pairs(ds: xr.Dataset, variable: str, notes: list[str]) -> xr.Dataset:
    """``ds`` without the pairs whose ``variable`` has no finite pixel, each named in ``notes``.

    Such a pair (a failed product, a file of no-data) carries nothing; left in, it empties the set of
    pixels valid in every pair. Every pair may go: the caller refuses a stack left with none.
    """
    others = [d for d in ds[variable].dims if d != PAIR_DIM]
    finite = np.asarray(xr.apply_ufunc(np.isfinite, ds[variable], dask="allowed").any(others))
    if finite.all():
        return ds
    labels = ds[PAIR_DIM].values[~finite]
    if finite.any():
        notes.extend(
            f"pair {label}: {variable} has no valid pixel (NaN everywhere); left out" for label in labels
        )
    return ds.isel({PAIR_DIM: np.flatnonzero(finite)})
