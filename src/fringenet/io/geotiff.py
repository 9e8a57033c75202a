"""Single-band GeoTIFF products (LiCSAR, PyRate/ROI_PAC, generic) to and from fringenet Datasets."""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import re
import threading
import warnings
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
import rioxarray
import xarray as xr
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.io import DatasetReader
from rasterio.windows import Window

from fringenet.errors import InputError
from fringenet.io.atomic import atomic_path
from fringenet.io.dates import parse_pair_dates
from fringenet.io.guard import guarded
from fringenet.io.schema import VARIABLES, as_ns, base_attrs

# LiCSAR product suffixes (``<pair or frame>.geo.<kind>.tif``).
LICSAR_KINDS: dict[str, str] = {
    "diff_pha": "wrapped_phase",
    "diff_unfiltered_pha": "wrapped_phase",
    "cc": "coherence",
    "unw": "unwrapped_phase",
    "hgt": "dem",
    "e": "los_east",
    "n": "los_north",
    "u": "los_up",
}
_LICSAR = re.compile(r"\.geo\.(diff_pha|diff_unfiltered_pha|cc|unw|hgt|E|N|U)\.tiff?$", re.IGNORECASE)

# Generic hints, matched against the name's tokens from the end (the last token is usually
# the product kind: ``x_utm.unw.cc`` is coherence, ``geo_060619-061002_unw.tif`` unwrapped).
_HINTS: dict[str, str] = {
    "unw": "unwrapped_phase",
    "unwrapped": "unwrapped_phase",
    "pha": "wrapped_phase",
    "phase": "wrapped_phase",
    "wrapped": "wrapped_phase",
    "int": "wrapped_phase",
    "cc": "coherence",
    "coh": "coherence",
    "cor": "coherence",
    "coherence": "coherence",
    "dem": "dem",
    "hgt": "dem",
    "height": "dem",
    "elevation": "dem",
    "amp": "amplitude",
    "mli": "amplitude",
    "amplitude": "amplitude",
    "inc": "incidence",
    "incidence": "incidence",
    "disp": "los_displacement",
    "displacement": "los_displacement",
    "vel": "los_velocity",
    "velocity": "los_velocity",
    "label": "label",
    "mask": "label",
}
_EXTENSIONS = {"tif", "tiff", "geo", "utm"}

TAG_VARIABLE = "FRINGENET_VARIABLE"
_MASKS = ("label", "valid", "water", "layover", "decorrelation")


def infer_variable(name: str, tags: dict[str, str] | None = None) -> str | None:
    """Vocabulary variable for a product named ``name`` (LiCSAR names first, then hints and tags)."""
    tags = tags or {}
    if tags.get(TAG_VARIABLE) in VARIABLES:
        return tags[TAG_VARIABLE]
    licsar = _LICSAR.search(name)
    if licsar:
        return LICSAR_KINDS[licsar[1].lower()]
    tokens = [t for t in re.split(r"[^a-z0-9]+", Path(name).name.lower()) if t and t not in _EXTENSIONS]
    for token in reversed(tokens):
        if token in _HINTS:
            found = _HINTS[token]
            if found == "wrapped_phase" and {"unw", "unwrapped"} & set(tokens):
                return "unwrapped_phase"
            return found
    # PyRate/ROI_PAC tags: DATA_TYPE=ORIGINAL_IFG with DATA_UNITS=RADIANS is unwrapped phase.
    if tags.get("DATA_TYPE", "").upper().endswith("IFG") and tags.get("DATA_UNITS", "").upper() == "RADIANS":
        return "unwrapped_phase"
    if tags.get("DATA_TYPE", "").upper() == "DEM":
        return "dem"
    return None


def _tag_dates(tags: dict[str, str]) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    for ref_key, sec_key in (("REFERENCE_DATE", "SECONDARY_DATE"), ("FIRST_DATE", "SECOND_DATE")):
        if ref_key in tags and sec_key in tags:
            try:
                return pd.Timestamp(tags[ref_key]), pd.Timestamp(tags[sec_key])
            except ValueError:
                continue
    return None


def gdal_reason(err: BaseException) -> str:
    """The innermost message of a GDAL error chain: rasterio's outer one says only "See previous
    exception for details"."""
    while err.__cause__ is not None or err.__context__ is not None:
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    return str(err).strip() or type(err).__name__


class _Collect(logging.Handler):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        # "CPLE_AppDefined in x.tif: TIFFFetchNormalTag:..." or "x.tif: TIFF...": the reader names the file
        message = re.sub(r"^(CPLE_\w+ in )?(\S+\.tiff?: )?", "", record.getMessage(), flags=re.I).strip()
        if message not in self.messages:
            self.messages.append(message)


@contextlib.contextmanager
def gdal_messages() -> Iterator[list[str]]:
    """Collect GDAL's warnings about a file instead of letting them reach stderr; yields the list.

    Outside a rasterio environment (rioxarray's opener, lazy reads) GDAL prints ``Warning 1: ...`` and
    ``ERROR 1: ...`` itself; inside one, rasterio logs them, and Python prints logged warnings when no
    handler is set. Either way a bad file's one-line error came after lines that name no file.
    :func:`~fringenet.io.open.open_product` turns what was collected into notes when it reads the file and
    drops it when it refuses the file (the error says why).
    ``NotGeoreferencedWarning`` is ignored: a raster without geotransform is a pixel grid without CRS.
    """
    messages: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        # a Dask worker thread: the logger, warning filters and sys.stderr are process-wide, not ours
        with rasterio.Env():
            yield messages
        return
    logger = logging.getLogger("rasterio")  # rasterio._env (GDAL's messages), rasterio._base (tags)
    handler, propagate = _Collect(messages), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    printed = io.StringIO()  # rasterio prints a traceback for a GDAL message that is not UTF-8 text
    try:
        with rasterio.Env(), warnings.catch_warnings(), contextlib.redirect_stderr(printed):
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
        if "UnicodeDecodeError" in printed.getvalue():
            messages.append("a message that is not UTF-8 text (damaged metadata?)")
        elif printed.getvalue().strip():
            messages.append(printed.getvalue().strip().splitlines()[-1])


def truncation(src: DatasetReader, path: Path) -> str | None:
    """Why the open GeoTIFF ``src`` at ``path`` is cut short, or None when every pixel block is in the file.

    Reads only the block table (microseconds per block) and, on a block past the end of the file,
    that block for GDAL's own reason. A lazy reader calls this up front, so a truncated member of a
    stack fails when the stack is opened, naming the file, not later inside a computation.
    """
    size = path.stat().st_size
    height, width = src.block_shapes[0]
    for band in src.indexes:
        for row, col in itertools.product(range(0, src.height, height), range(0, src.width, width)):
            key = f"{col // width}_{row // height}"
            offset = src.get_tag_item(f"BLOCK_OFFSET_{key}", "TIFF", bidx=band)
            nbytes = src.get_tag_item(f"BLOCK_SIZE_{key}", "TIFF", bidx=band)
            if offset is None or nbytes is None:
                return None  # not a GeoTIFF block table (another driver)
            if int(offset) + int(nbytes) > size:
                window = Window(col, row, min(width, src.width - col), min(height, src.height - row))
                try:
                    src.read(band, window=window)
                except Exception as err:  # GDAL's CPLE_* errors are not all RasterioError
                    return gdal_reason(err)
                return f"{size} bytes, but pixel block {key} of band {band} ends at byte {int(offset) + int(nbytes)}"
    return None


def phase_from_values(path: Path, nodata: float | None = None) -> tuple[str | None, str]:
    """The phase variable of an interferogram raster whose name and tags do not say, from its values.

    Wrapped phase in radians fills most of [-π, π] (range over π); values beyond ±π are unwrapped phase,
    unless they look like wrapped phase in degrees (±180) or milliradians (±3142). Anything else (values
    in [0, 1]: coherence or a weak phase; integer rasters: scaled values) is not guessed. Returns the
    name (None when not guessed) and a note saying what was inferred from which range.
    """
    try:
        with rasterio.open(path) as src:
            if not np.issubdtype(np.dtype(src.dtypes[0]), np.floating):
                return None, f" (integer raster, {src.dtypes[0]})"
            band = src.read(1, masked=True)
    except Exception as err:  # GDAL's CPLE_* errors for damaged pixel blocks are not all RasterioError
        raise InputError(path, f"corrupt or truncated GeoTIFF ({gdal_reason(err)})") from err
    values = band.compressed().astype(np.float64)
    values = values[np.isfinite(values) & (values != (np.nan if nodata is None else nodata))]
    if values.size == 0:
        return None, " (no valid pixel)"
    lo, hi = float(values.min()), float(values.max())
    largest, span = max(abs(lo), abs(hi)), hi - lo
    seen = f" (values {lo:.4g} to {hi:.4g})"
    if largest <= np.pi * 1.001 and span >= np.pi:
        name = "wrapped_phase"
    elif largest > np.pi * 1.001 and not any(
        largest <= k * np.pi * 1.001 and span >= k * np.pi for k in (180 / np.pi, 1000.0)
    ):
        name = "unwrapped_phase"
    else:
        return None, seen
    kind = name.replace("_", " ")
    return name, f"{path.name}: the name gives no variable; read as {kind}{seen} (--variable overrides)"


def read_geotiff(
    path: str | PathLike[str],
    variable: str | None = None,
    *,
    nodata: float | None = None,
    chunks: Any = None,
    sensor: str | None = None,
    wavelength_m: float | None = None,
    check_data: bool = True,
) -> xr.Dataset:
    """Read a single-band GeoTIFF product into a fringenet Dataset with dims ``(y, x)``.

    Parameters
    ----------
    path
        The GeoTIFF. LiCSAR names (``*.geo.diff_pha.tif``, ``*.geo.cc.tif``, ``*.geo.unw.tif``,
        ``*.geo.hgt.tif``, ``*.geo.[ENU].tif``) and generic hints (``unw``, ``pha``, ``cc``,
        ``dem``, ``amp``...) give the variable; pair dates come from the name or from tags.
    variable
        Vocabulary name to use instead of inferring it. A generic name with pair dates but no hint
        (``ifg_20200101_20200113.tif``) is read as wrapped or unwrapped phase from its value range
        (:func:`phase_from_values`), with a note in ``encoding["notes"]``.
    nodata
        An extra value meaning "no data" (e.g. ``0`` for ROI_PAC/PyRate unwrapped phase);
        the file's own nodata value is always masked. Masked pixels become NaN.
    chunks
        Dask chunks for a lazy read (e.g. ``"auto"``); None reads lazily without dask.
    sensor, wavelength_m
        Override the sensor name / radar wavelength (m); otherwise taken from tags
        (``WAVELENGTH_METRES``) or defaulted by :func:`make_dataset`.
    check_data
        Read the band once to reject an all-NaN raster (stack readers turn this off to stay lazy).

    Returns
    -------
    xarray.Dataset
        One float variable (coherence scaled to [0, 1] when stored as uint8 0-255), scalar
        ``reference_date``/``secondary_date`` coords when dates are known, CRS and transform.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    with gdal_messages():  # open_product turns them into notes
        return _read_geotiff(path, variable, nodata, chunks, sensor, wavelength_m, check_data)


def _read_geotiff(
    path: Path,
    variable: str | None,
    nodata: float | None,
    chunks: Any,
    sensor: str | None,
    wavelength_m: float | None,
    check_data: bool,
) -> xr.Dataset:
    try:
        with rasterio.open(path) as src:
            tags = src.tags()
            count, dtype, file_nodata = src.count, src.dtypes[0], src.nodata
            damage = truncation(src, path)
        if isinstance(chunks, (str, int)):
            chunks = {"band": 1, "y": chunks, "x": chunks}
        da = rioxarray.open_rasterio(path, chunks=chunks, masked=True)
        if isinstance(da, xr.DataArray) and da.chunks is not None:  # (``.data`` would read a lazy one)
            # a damaged pixel block fails where a lazy stack is computed, naming the file (and quietly)
            lazy = rioxarray.open_rasterio(path, masked=True)
            assert isinstance(lazy, xr.DataArray)
            what = "corrupt or truncated GeoTIFF"
            da = da.copy(data=guarded(lazy.variable, da.chunks, path, what, gdal_messages))
    except (RasterioError, OSError, ValueError) as err:
        raise InputError(path, f"not a readable GeoTIFF ({gdal_reason(err)})") from err
    if damage is not None:
        raise InputError(path, f"corrupt or truncated GeoTIFF ({damage})")
    if not isinstance(da, xr.DataArray) or count != 1:
        raise InputError(path, f"expected a single-band raster, found {count} bands")
    # The parent folder is a last hint (e.g. PyRate's ``dem/roipac_test_trimmed.tif``).
    name = variable or infer_variable(path.name, tags) or infer_variable(path.parent.name + ".tif")
    note = None
    if name is None and parse_pair_dates(path.name) is not None:
        name, note = phase_from_values(path, nodata)
    if name is None:
        raise InputError(
            path, f"cannot tell which variable this raster holds{note or ''}; pass variable=... (--variable)"
        )
    if name not in VARIABLES:
        raise InputError(path, f"unknown variable '{name}'; known: {sorted(VARIABLES)}")

    try:
        da = da.squeeze("band", drop=True)
        if nodata is not None:
            da = da.where(da != nodata)
        if name == "coherence" and dtype == "uint8":
            if file_nodata is None and _LICSAR.search(path.name):
                da = da.where(da != 0)  # LiCSAR marks pixels outside the frame with 0
            da = da / 255.0
        if name in _MASKS:
            da = da.fillna(0).astype(np.uint8)
        elif da.dtype != np.float64:
            da = da.astype(np.float32)
        da.attrs = {"units": VARIABLES[name].units, "long_name": VARIABLES[name].long_name}
        da.encoding.pop("_FillValue", None)
        if check_data and bool(da.isnull().all()):
            raise InputError(path, "raster holds no valid pixels (all no-data/NaN)")
    except InputError:
        raise
    except Exception as err:  # GDAL's CPLE_* errors for damaged files are not all RasterioError
        raise InputError(path, f"corrupt or truncated GeoTIFF ({gdal_reason(err)})") from err

    if wavelength_m is None and "WAVELENGTH_METRES" in tags:
        wavelength_m = float(tags["WAVELENGTH_METRES"])
    ds = da.to_dataset(name=name)
    ds.attrs = base_attrs(wavelength_m, sensor or tags.get("SENSOR", "unknown"))
    dates = parse_pair_dates(path.name) or _tag_dates(tags)
    if dates is not None and VARIABLES[name].per_pair:
        ds = ds.assign_coords(reference_date=as_ns(dates[0]), secondary_date=as_ns(dates[1]))
    ds.encoding["source"] = str(path)
    ds.encoding["source_format"] = "LiCSAR GeoTIFF" if _LICSAR.search(path.name) else "GeoTIFF"
    if note is not None:
        ds.encoding["notes"] = [note]
    return ds


def write_layer(
    layer: np.ndarray,
    path: str | PathLike[str],
    *,
    crs: Any,
    transform: Any,
    tags: dict[str, str] | None = None,
) -> Path:
    """One ``(y, x)`` array as a deflate GeoTIFF on the grid ``crs``/``transform``, atomically: a mask as
    uint8, else float32 with NaN as nodata; ``tags`` go on its band."""
    path = Path(path)
    is_mask = layer.dtype == np.bool_
    profile = {
        "driver": "GTiff", "height": layer.shape[0], "width": layer.shape[1], "count": 1,
        "dtype": "uint8" if is_mask else "float32", "crs": crs, "transform": transform,
        "compress": "deflate", **({} if is_mask else {"nodata": np.nan}),
    }  # fmt: skip
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(layer.astype(np.uint8 if is_mask else np.float32), 1)
        if tags:
            dst.update_tags(1, **tags)
    return path


def write_geotiff(
    ds_or_da: xr.Dataset | xr.DataArray, path: str | PathLike[str], variable: str | None = None
) -> Path:
    """Write one 2-D variable as a tiled, deflate-compressed GeoTIFF (atomically).

    CRS and transform are kept; the variable name, units, pair dates, wavelength and sensor
    go into GeoTIFF tags so :func:`read_geotiff` restores them. Booleans are stored as uint8,
    float NaN as the nodata value.
    """
    path = Path(path)
    if isinstance(ds_or_da, xr.Dataset):
        names = [variable] if variable else list(ds_or_da.data_vars)
        if len(names) != 1:
            raise InputError(path, f"several variables {names}; choose one with variable=...")
        if names[0] not in ds_or_da:
            raise InputError(path, f"variable '{names[0]}' not in the dataset")
        da, attrs = ds_or_da[names[0]], ds_or_da.attrs
    else:
        da, attrs = ds_or_da, {}
    name = variable or str(da.name)
    if "pair" in da.dims:
        if da.sizes["pair"] != 1:
            raise InputError(path, "GeoTIFF holds one pair; select one or write NetCDF/Zarr for a stack")
        da = da.squeeze("pair")
    if set(da.dims) != {"y", "x"}:
        raise InputError(path, f"expected dims (y, x), got {da.dims}")
    da = da.transpose("y", "x")
    if da.dtype == bool:
        da = da.astype(np.uint8)
    tags: dict[str, str] = {TAG_VARIABLE: name, "UNITS": str(da.attrs.get("units", ""))}
    for key in ("reference_date", "secondary_date"):
        if key in da.coords and da.coords[key].size == 1:
            tags[key.upper()] = pd.Timestamp(da.coords[key].values.item()).strftime("%Y-%m-%d")
    if "wavelength_m" in attrs:
        tags["WAVELENGTH_METRES"] = repr(float(attrs["wavelength_m"]))
    if "sensor" in attrs:
        tags["SENSOR"] = str(attrs["sensor"])
    floating = np.issubdtype(da.dtype, np.floating)
    da = da.rio.write_nodata(np.nan if floating else None, encoded=False)
    options = {"tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    options["predictor"] = 3 if floating else 2
    with atomic_path(path) as tmp:
        try:
            da.rio.to_raster(tmp, driver="GTiff", tags=tags, **options)
        except (RasterioError, OSError) as err:
            raise InputError(path, f"cannot write GeoTIFF ({err})") from err
    return path


def read_licsar_folder(
    folder: str | PathLike[str],
    *,
    chunks: Any = "auto",
    wavelength_m: float | None = None,
    sensor: str = "Sentinel-1",
) -> xr.Dataset:
    """Read a LiCSAR frame folder into a lazy ``(pair, y, x)`` stack.

    Looks (recursively) for ``<ref>_<sec>.geo.diff_pha.tif`` (wrapped phase), ``.geo.cc.tif``
    (coherence, scaled to [0, 1]) and ``.geo.unw.tif`` (unwrapped phase), usually in
    ``interferograms/<ref>_<sec>/``, and the static ``<frame>.geo.hgt.tif`` (DEM) and
    ``<frame>.geo.[ENU].tif`` (LOS unit vector), usually in ``metadata/``. A per-pair variable
    absent for some pairs is NaN there. All files must share one grid.
    """
    from fringenet.io.stack import grid_difference, grid_of, stack_from_datasets

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "folder not found")
    files = sorted(p for p in folder.rglob("*.geo.*.tif*") if _LICSAR.search(p.name))
    if not files:
        raise InputError(folder, "no LiCSAR products (*.geo.diff_pha.tif, *.geo.unw.tif, ...) found")
    grid = grid_of(files[0])
    for path in files[1:]:
        diff = grid_difference(grid, grid_of(path))
        if diff is not None:
            raise InputError(path, f"not on the frame's grid ({files[0].name}): {diff}")
    per_pair: dict[tuple[pd.Timestamp, pd.Timestamp], list[xr.Dataset]] = {}
    static: dict[str, xr.Dataset] = {}
    for path in files:
        ds = read_geotiff(path, chunks=chunks, sensor=sensor, wavelength_m=wavelength_m, check_data=False)
        name = str(next(iter(ds.data_vars)))
        if VARIABLES[name].per_pair:
            dates = parse_pair_dates(path.name)
            if dates is None:
                raise InputError(path, "no pair dates (YYYYMMDD_YYYYMMDD) in the LiCSAR file name")
            group = per_pair.setdefault(dates, [])
            if any(name in member for member in group):
                raise InputError(path, f"duplicate {name} for pair {dates[0]:%Y%m%d}_{dates[1]:%Y%m%d}")
            group.append(ds)
        elif name in static:
            raise InputError(path, f"second static {name} file (first: {static[name].encoding['source']})")
        else:
            static[name] = ds
    if not per_pair:
        raise InputError(folder, "no per-pair LiCSAR products (diff_pha, cc, unw) found")
    pairs = []
    for group in per_pair.values():
        merged = xr.merge(group, compat="override", join="override", combine_attrs="override")
        merged.encoding["source"] = group[0].encoding["source"]
        pairs.append(merged)
    stack = stack_from_datasets([*pairs, *static.values()])
    stack.encoding["source"] = str(folder)
    stack.encoding["source_format"] = "LiCSAR frame folder"
    return stack
