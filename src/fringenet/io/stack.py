"""Stacks of interferograms: a folder of per-pair GeoTIFFs, lists of Datasets, headerless binaries."""

from __future__ import annotations

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
from fringenet.io.geotiff import infer_variable, read_geotiff
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


Pair = tuple[pd.Timestamp, pd.Timestamp]

COMPANIONS = ("coherence", "amplitude")
"""Per-pair layers a folder may hold beside its interferograms, each paired with its pair by the dates
in the file names (``*_cc.tif``, ``*_coh.tif``, ``*.cor.tif``, ``*_amp.tif``)."""

_STATIC_NAMES = "dem.tif, *_dem.tif, *.hgt.tif, geo_*.dem.tif"


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

    A folder as processors write it (PyRate's ``geotiffs/``, GAMMA/ROI_PAC exports) is read whole: the
    interferograms, each with its coherence (``*_cc.tif``, ``*_coh.tif``, or a raw ``*.cc``/``*.cor``
    binary, with its parameter file or headerless big-endian float32 on the interferograms' grid) and
    amplitude matched by the pair dates in the names, and static layers named by what they hold (a DEM:
    ``dem.tif``, ``*_dem.tif``, ``*.hgt.tif``, ``geo_*.dem.tif``; ``*_inc.tif``...). What was paired,
    and the pairs left without coherence (NaN there), are said in ``encoding["notes"]``. A folder whose
    GeoTIFFs are only static layers beside raw binaries named by pair is read with
    :func:`~fringenet.io.binary.read_binary_folder` and the layers added.

    Parameters
    ----------
    folder, pattern
        Where the files are and which GeoTIFFs to take (glob, non-recursive).
    variable
        Vocabulary name of the interferogram rasters; inferred from the names (all must agree) if None,
        or from the first file's values when the names carry only dates (see
        :func:`~fringenet.io.geotiff.read_geotiff`). Files named as coherence, amplitude or a static
        layer keep what their names say.
    nodata
        Extra no-data value of the per-pair rasters (e.g. ``0`` for PyRate/ROI_PAC unwrapped phase)
        -> NaN; static layers use only their own nodata value.
    wavelength_m, sensor
        Radar wavelength (m) and sensor name; the wavelength is also taken from file tags.
    chunks
        Dask chunks per file; data stay on disk until computed, so a stack larger than memory
        can be opened.

    Returns
    -------
    xarray.Dataset
        ``(pair, y, x)`` float32 dask-backed variables, pairs sorted by (reference, secondary),
        with ``reference_date``/``secondary_date`` coords; static layers ``(y, x)``. All-NaN members
        are not detected here (that would read every file).

    Raises
    ------
    InputError
        Naming the file: no pair dates in an interferogram's name (and no static layer named), a
        duplicate pair, coherence or static layer, or a file (interferogram, coherence, DEM) on
        another grid or CRS than the first interferogram.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "folder not found")
    files = sorted(p for p in folder.glob(pattern) if p.is_file())
    if not files:
        raise InputError(folder, f"no files matching '{pattern}'")
    main, companions, static = _sort_files(files, variable)
    if not main:
        return _binary_folder_with_layers(folder, static, variable, nodata, wavelength_m)
    dated = sorted(main.items())
    first_path = dated[0][1]
    first_grid = grid_of(first_path)
    for _, path in dated[1:]:
        diff = grid_difference(first_grid, grid_of(path))
        if diff is not None:
            raise InputError(path, f"not on the stack's grid ({first_path.name}): {diff}")
    for what, path in [*((k, p) for k, by in companions.items() for p in by.values()), *static.items()]:
        diff = grid_difference(first_grid, grid_of(path))
        if diff is not None:
            raise InputError(
                path, f"{what} file not on the grid of the interferograms ({first_path.name}): {diff}"
            )
    options: dict[str, Any] = {
        "nodata": nodata, "chunks": chunks, "sensor": sensor, "wavelength_m": wavelength_m, "check_data": False
    }  # fmt: skip
    first = read_geotiff(first_path, variable, **options)
    notes = [f"{note}, and so every file of {folder.name}" for note in first.encoding.get("notes", [])]
    if notes:  # the names say nothing: the first file's values decide for all (read once, not per file)
        variable = str(next(iter(first.data_vars)))
    members = [first, *(read_geotiff(path, variable, **options) for _, path in dated[1:])]
    names = {str(next(iter(m.data_vars))) for m in members}
    if len(names) != 1:
        raise InputError(folder, f"files hold different variables {sorted(names)}; pass variable=...")
    name = names.pop()
    binaries = _companion_binaries(folder, companions)
    pairs = [pair for pair, _ in dated]
    layers: dict[Pair, list[xr.Dataset]] = {pair: [] for pair in pairs}
    for kind, by_pair in companions.items():
        for pair, path in by_pair.items():
            if pair in layers:
                layers[pair].append(read_geotiff(path, kind, **options))
    headerless: list[str] = []
    for pair, path in binaries.items():
        if pair in layers:
            like = members[pairs.index(pair)][name]
            layers[pair].append(_coherence_binary(path, first_grid, first_path, like, nodata, headerless))
    notes.extend(dict.fromkeys(headerless))
    for kind in COMPANIONS:
        given = {**companions.get(kind, {}), **(binaries if kind == "coherence" else {})}
        if given:
            notes.extend(_pairing_notes(kind, given, pairs, main))
    datasets = []
    for member, pair in zip(members, pairs, strict=True):
        if layers[pair]:
            merged = xr.merge(
                [member, *layers[pair]], compat="override", join="override", combine_attrs="override"
            )
            merged.encoding["source"] = member.encoding["source"]
            member = merged
        datasets.append(member)
    statics = [read_geotiff(path, kind, chunks=chunks, check_data=False) for kind, path in static.items()]
    notes.extend(f"{kind}: {path.name} is the stack's {kind} (static layer)" for kind, path in static.items())
    stack = stack_from_datasets([*datasets, *statics])
    stack.encoding["source"] = str(folder)
    if notes:
        stack.encoding["notes"] = notes
    stack.encoding["source_format"] = "folder of GeoTIFF pairs"
    return stack


def _sort_files(
    files: Sequence[Path], variable: str | None
) -> tuple[dict[Pair, Path], dict[str, dict[Pair, Path]], dict[str, Path]]:
    """The folder's interferograms by pair, its companion layers by kind and pair, its static layers by kind.

    A file is static when its name (or tags) names a static variable (a DEM...), a companion when its
    name names coherence or amplitude (unless that is ``variable``), else an interferogram, which must
    carry pair dates. A folder of companions only (all ``*_cc.tif``) is a stack of them.
    """
    main: dict[Pair, Path] = {}
    companions: dict[str, dict[Pair, Path]] = {}
    static: dict[str, Path] = {}
    for path in files:
        kind = infer_variable(path.name)
        dates = parse_pair_dates(path.name)
        if kind is None and dates is None:
            kind = infer_variable(path.name, _tags(path))  # e.g. a DEM tagged DATA_TYPE=DEM
        if kind is not None and kind != variable and not VARIABLES[kind].per_pair:
            if kind in static:
                raise InputError(path, f"second {kind} file (first: {static[kind].name})")
            static[kind] = path
            continue
        if dates is None:
            raise InputError(
                path,
                "no pair dates (YYYYMMDD_YYYYMMDD or YYMMDD-YYMMDD) in the file name, and the name names no "
                f"static layer (a DEM is found by its name: {_STATIC_NAMES})",
            )
        if kind in COMPANIONS and kind != variable:
            by_pair = companions.setdefault(kind, {})
            if dates in by_pair:
                raise InputError(
                    path, f"second {kind} file for pair {pair_label(*dates)} (first: {by_pair[dates].name})"
                )
            by_pair[dates] = path
            continue
        if dates in main:
            raise InputError(path, f"duplicate pair {pair_label(*dates)} (also in {main[dates].name})")
        main[dates] = path
    if not main and len(companions) == 1:  # a folder of coherence (or amplitude) rasters only
        main = companions.popitem()[1]
    return main, companions, static


def _tags(path: Path) -> dict[str, str]:
    try:
        with rasterio.open(path) as src:
            return dict(src.tags())
    except (RasterioError, OSError):
        return {}  # read_geotiff names the problem


def _companion_binaries(folder: Path, companions: dict[str, dict[Pair, Path]]) -> dict[Pair, Path]:
    """Raw coherence binaries (``*.cc``, ``*.cor``) named by pair, for the pairs without a coherence GeoTIFF."""
    from fringenet.io.binary import binary_kind

    given = companions.get("coherence", {})
    found: dict[Pair, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or binary_kind(path.name) not in ("cc", "cor"):
            continue
        dates = parse_pair_dates(path.name)
        if dates is None or dates in given:
            continue
        if dates in found:
            raise InputError(
                path, f"second coherence file for pair {pair_label(*dates)} (first: {found[dates].name})"
            )
        found[dates] = path
    return found


def _coherence_binary(
    path: Path, grid: tuple[tuple[int, int], Any, Any], first: Path, like: xr.DataArray, nodata: float | None,
    notes: list[str],
) -> xr.Dataset:  # fmt: skip
    """A raw coherence binary as a Dataset on the interferograms' grid.

    Read with its parameter file when one fits (its grid must then be the interferograms'), else as a
    headerless float32 raster (PyRate/ROI_PAC ``*_utm.unw.cc``) when its size fits the grid: big-endian
    as GAMMA writes, little-endian when only that gives values in [0, 1].
    """
    from fringenet.io.binary import read_binary

    try:
        ds = read_binary(path, "coherence", nodata=nodata, check_data=False)
    except InputError as err:
        (height, width), size = grid[0], path.stat().st_size
        if size != height * width * 4:
            raise InputError(
                path,
                f"{err.problem}; nor is it a headerless float32 raster on the interferograms' {height} x {width} "
                f"grid ({height * width * 4:,} bytes, it has {size:,})",
            ) from err
        return _headerless(path, (height, width), like, nodata, notes)
    diff = grid_difference(grid, grid_of_dataset(ds))
    if diff is not None:
        raise InputError(path, f"coherence file not on the grid of the interferograms ({first.name}): {diff}")
    notes.extend(ds.encoding.get("notes", []))
    return ds.drop_vars([c for c in ds.coords if c not in ("reference_date", "secondary_date")])


def _headerless(
    path: Path, shape: tuple[int, int], like: xr.DataArray, nodata: float | None, notes: list[str]
) -> xr.Dataset:
    import dask
    import dask.array as darray

    sample = np.fromfile(path, dtype=np.uint8, count=min(shape[0] * shape[1], 65_536) * 4)
    shares = {}
    for dtype in (">f4", "<f4"):
        values = sample.view(dtype)
        with np.errstate(invalid="ignore"):
            shares[dtype] = float((np.isnan(values) | ((values >= 0) & (values <= 1.0001))).mean())
    dtype = ">f4" if shares[">f4"] >= 0.9 or shares["<f4"] < 0.9 else "<f4"
    if shares[dtype] < 0.9:
        raise InputError(
            path,
            f"read as a headerless float32 raster (no parameter file fits), only {100 * shares[dtype]:.0f}% of "
            "its values are coherence in [0, 1] in either byte order",
        )
    order = "big" if dtype == ">f4" else "little"
    notes.append(
        f"coherence binaries without a parameter file (e.g. {path.name}) read as headerless {order}-endian "
        f"float32 on the interferograms' {shape[0]} x {shape[1]} grid, which their size fits"
    )
    data = darray.from_delayed(
        dask.delayed(read_gamma_float, pure=True)(str(path), shape, dtype), shape, np.float32
    )
    if nodata is not None:
        data = darray.where(data == np.float32(nodata), np.float32(np.nan), data)
    spec = VARIABLES["coherence"]
    da = xr.DataArray(
        data, coords=like.coords, dims=like.dims, attrs={"units": spec.units, "long_name": spec.long_name}
    )
    return da.to_dataset(name="coherence")


def _pairing_notes(
    kind: str, given: dict[Pair, Path], pairs: list[Pair], main: dict[Pair, Path]
) -> list[str]:
    """What was paired with what, which pairs have no ``kind`` file (NaN there), which files fit no pair."""
    paired = [pair for pair in pairs if pair in given]
    notes = []
    if paired:
        example = paired[0]
        notes.append(
            f"{kind}: {len(paired)} of {len(pairs)} interferograms paired with their {kind} file by the pair "
            f"dates (e.g. {main[example].name} with {given[example].name})"
        )
    missing = [pair_label(*pair) for pair in pairs if pair not in given]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        notes.append(f"{kind}: no {kind} file for {len(missing)} pair(s) ({shown}): {kind} is NaN there")
    unused = [path.name for pair, path in sorted(given.items()) if pair not in main]
    if unused:
        shown = ", ".join(unused[:5]) + (f" and {len(unused) - 5} more" if len(unused) > 5 else "")
        notes.append(
            f"{kind}: {len(unused)} file(s) match no interferogram by their dates, not used ({shown})"
        )
    return notes


def _binary_folder_with_layers(
    folder: Path,
    static: dict[str, Path],
    variable: str | None,
    nodata: float | None,
    wavelength_m: float | None,
) -> xr.Dataset:
    """Raw binaries named by pair (:func:`~fringenet.io.binary.read_binary_folder`) plus the folder's static
    GeoTIFF layers, which must be on the binaries' grid."""
    from fringenet.io.binary import is_binary_folder, read_binary_folder

    if not static or not is_binary_folder(folder):
        raise InputError(
            folder, "no interferograms named by pair among its GeoTIFFs (nor raw binaries named by pair)"
        )
    if variable is not None:
        raise InputError(
            folder, "variable (--variable) applies to GeoTIFF interferograms; these are raw binaries"
        )
    stack = read_binary_folder(folder, nodata=nodata, wavelength_m=wavelength_m)
    grid = grid_of_dataset(stack)
    notes = list(stack.encoding.get("notes", []))
    for kind, path in static.items():
        diff = grid_difference(grid, grid_of(path))
        if diff is not None:
            raise InputError(path, f"{kind} file not on the grid of the raw binaries: {diff}")
        layer = read_geotiff(path, kind, chunks="auto", check_data=False)
        stack[kind] = layer[kind].assign_coords(y=stack["y"], x=stack["x"])
        notes.append(f"{kind}: {path.name} is the stack's {kind} (static layer)")
    stack.encoding["notes"] = notes
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
