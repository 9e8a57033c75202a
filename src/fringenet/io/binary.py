"""Raw binary rasters with a parameter file beside them: GAMMA, ISCE and plain float32 + text par.

Pure steps: a parameter file -> a header (:class:`BinaryHeader`: grid, byte layout, georeferencing,
wavelength); the header is checked against the file size before a byte of data is read; the data are
then read lazily (Dask blocks of rows through ``numpy.memmap``) into a fringenet Dataset.

Formats (the product kind comes from the name: ``.diff``/``.int`` wrapped, ``.unw`` unwrapped,
``.cc``/``.cor`` coherence, modifiers such as ``.ml``, ``.sm``, ``.filt`` skipped from the end):

- **GAMMA**: interferograms complex64 big-endian (phase = angle; 0+0j is no data), ``.unw`` and
  ``.cc``/``.cor`` float32 big-endian (rad, 1). Width and lines from a par beside the data: ``*.off``
  / ``*.diff_par`` (``interferogram_width``, ``interferogram_azimuth_lines``), ``*.mli.par`` /
  ``*.rmli.par`` / ``*.slc.par`` (``range_samples``, ``azimuth_lines``; ``radar_frequency`` Hz gives the
  wavelength) or a DEM par (``width``, ``nlines``, ``corner_lat/lon`` = centre of the upper-left pixel,
  ``post_lat/lon``: an EPSG:4326 grid).
- **ISCE**: ``<file>.xml`` (``width``, ``length``, ``number_bands``, ``data_type``, ``scheme``
  BIL/BIP/BSQ, ``byte_order``, ``coordinate1/2``) or a GDAL ``<file>.vrt``. ``.unw`` (and a 2-band
  ``.cor``) is amplitude + value, the second band is read; ``.int`` is complex64.
- **Plain float32 + par** (the COMET/LiCSAR coseismic practical): little-endian float32 rows,
  ``<name>.par`` with ``ifg_width``, ``ifg_length``, ``corner_x``, ``corner_y``, ``x_spacing``,
  ``y_spacing`` (metres, a local grid without CRS). ``corner_*`` is the centre of the first stored
  pixel; a positive ``y_spacing`` means row 0 is the south edge, and the rows are flipped north-up.
  ``.diff`` is wrapped phase (rad), ``.unw`` LOS displacement in metres with LiCSAR's sign
  (positive = away from the satellite), negated to fringenet's (positive = towards).

Rasters without a map projection are in radar geometry: the grid is the pixel grid (``x`` = range
sample, ``y`` = azimuth line, identity transform: pixel centres at 0.5, 1.5, ...), no CRS, and a note says so.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from affine import Affine

from fringenet.errors import InputError
from fringenet.io.dates import parse_pair_dates
from fringenet.io.schema import VARIABLES, as_ns, base_attrs, coords_from_transform, georeference

SPEED_OF_LIGHT_M_PER_S = 299_792_458.0

KINDS: dict[str, str] = {
    "diff": "wrapped_phase",
    "int": "wrapped_phase",
    "unw": "unwrapped_phase",
    "cc": "coherence",
    "cor": "coherence",
}
"""Product kind (a name suffix) -> vocabulary variable."""

_MODIFIERS = {"ml", "sm", "filt", "adf", "geo", "rdr", "full", "utm", "flat", "bil", "bip", "bsq"}
_ISCE_TYPES = {
    "byte": "u1",
    "short": "i2",
    "int": "i4",
    "float": "f4",
    "double": "f8",
    "cfloat": "c8",
}
_GDAL_TYPES = {"Byte": "u1", "Int16": "i2", "Int32": "i4", "Float32": "f4", "Float64": "f8", "CFloat32": "c8"}
_BLOCK_BYTES = 64 * 2**20  # one Dask block of rows reads about this much


@dataclass(frozen=True)
class BinaryHeader:
    """What a parameter file says about one raw raster.

    ``dtype`` carries the byte order (``">c8"``: GAMMA complex64). Band ``band`` (0-based) of
    ``bands`` is read; a pixel (row, col) starts at byte
    ``offset + row * line_stride + col * pixel_stride`` (see :func:`layout`).
    """

    width: int
    lines: int | None
    """Rows; None when the par gives only the width (then the file size decides)."""
    dtype: str
    par: Path
    """The parameter file the grid came from."""
    fmt: str
    """``"GAMMA"``, ``"ISCE"`` or ``"plain float32 + par"``."""
    bands: int = 1
    band: int = 0
    scheme: str = "BIL"
    transform: Affine | None = None
    """Affine of the north-up grid after :attr:`flip_rows`; None = radar geometry (pixel grid)."""
    crs: str | None = None
    flip_rows: bool = False
    """The rows are stored south-up (row 0 = south edge) and are reversed on reading."""
    wavelength_m: float | None = None
    sensor: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    geometry: tuple[tuple[str, float], ...] = ()
    """Pixel spacing (m) and incidence (deg) of a radar grid, as ``ds.attrs`` names
    (``range_pixel_spacing_m``, ``azimuth_pixel_spacing_m``, ``incidence_angle_deg``)."""


# ------------------------------------------------------------------ parameter files


def read_par(path: str | PathLike[str]) -> dict[str, str]:
    """``key: value`` lines of a GAMMA-style text par (title lines without a colon are skipped)."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as err:
        raise InputError(path, f"cannot read the parameter file ({err.strerror or err})") from err
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.lstrip().startswith(("#", "%")):
            out[key.strip()] = value.strip()
    return out


def _number(par: dict[str, str], key: str, path: Path) -> float:
    try:
        return float(par[key].split()[0])
    except (KeyError, IndexError, ValueError) as err:
        raise InputError(path, f"parameter '{key}' missing or not a number") from err


def _count(par: dict[str, str], key: str, path: Path) -> int:
    value = _number(par, key, path)
    if not np.isfinite(value) or value != int(value) or value <= 0:  # int(nan) and int(inf) raise
        raise InputError(path, f"parameter '{key}' = {par[key]!r} is not a positive whole number")
    return int(value)


def gamma_header(par_path: str | PathLike[str], dtype: str) -> BinaryHeader:
    """The grid of a GAMMA par (``.off``/``.diff_par``, ``.mli/.slc.par`` or a DEM par) for ``dtype`` data."""
    par_path = Path(par_path)
    par = read_par(par_path)
    notes: list[str] = []
    if "interferogram_width" in par:
        width, lines = _count(par, "interferogram_width", par_path), None
        if "interferogram_azimuth_lines" in par:
            lines = _count(par, "interferogram_azimuth_lines", par_path)
        transform, crs = None, None
    elif "range_samp_1" in par:  # DIFF par of older GAMMA versions
        width = _count(par, "range_samp_1", par_path)
        lines = _count(par, "az_samp_1", par_path) if "az_samp_1" in par else None
        transform, crs = None, None
    elif "range_samples" in par:
        width = _count(par, "range_samples", par_path)
        lines = _count(par, "azimuth_lines", par_path) if "azimuth_lines" in par else None
        transform, crs = None, None
    elif "width" in par and "nlines" in par:
        width, lines = _count(par, "width", par_path), _count(par, "nlines", par_path)
        transform, crs = _dem_par_grid(par, par_path)
    else:
        raise InputError(
            par_path,
            "not a GAMMA parameter file (no interferogram_width, range_samples or width/nlines)",
        )
    wavelength = None
    if "radar_frequency" in par:
        frequency = _number(par, "radar_frequency", par_path)
        if frequency > 0:
            wavelength = SPEED_OF_LIGHT_M_PER_S / frequency
            notes.append(
                f"wavelength {wavelength:.6g} m from radar_frequency {frequency:.6g} Hz in {par_path.name}"
            )
    sensor = par.get("sensor", "").split()[0] if par.get("sensor", "").split() else None
    return BinaryHeader(
        width, lines, dtype, par_path, "GAMMA", transform=transform, crs=crs,
        wavelength_m=wavelength, sensor=sensor, notes=tuple(notes),
        geometry=_gamma_geometry(par) if transform is None else (),
    )  # fmt: skip


_GAMMA_GEOMETRY = {
    "range_pixel_spacing_m": ("interferogram_range_pixel_spacing", "range_pixel_spacing"),
    "azimuth_pixel_spacing_m": ("interferogram_azimuth_pixel_spacing", "azimuth_pixel_spacing"),
    "incidence_angle_deg": ("incidence_angle",),
}


def _gamma_geometry(par: dict[str, str]) -> tuple[tuple[str, float], ...]:
    """Slant-range / azimuth pixel spacing (m) and incidence (deg) a radar-geometry GAMMA par gives."""
    out = []
    for name, keys in _GAMMA_GEOMETRY.items():
        for key in keys:
            try:
                value = float(par[key].split()[0])
            except (KeyError, IndexError, ValueError):
                continue
            if value > 0:
                out.append((name, value))
                break
    return tuple(out)


def _dem_par_grid(par: dict[str, str], path: Path) -> tuple[Affine, str]:
    """Affine + CRS of a GAMMA DEM par; ``corner_*`` is the centre of the upper-left pixel."""
    projection = par.get("DEM_projection", "EQA").split()[0].upper() if par.get("DEM_projection") else "EQA"
    if projection == "EQA":
        lat, lon = _number(par, "corner_lat", path), _number(par, "corner_lon", path)
        dlat, dlon = _number(par, "post_lat", path), _number(par, "post_lon", path)
        return Affine(dlon, 0.0, lon - dlon / 2.0, 0.0, dlat, lat - dlat / 2.0), "EPSG:4326"
    if projection == "UTM":
        north, east = _number(par, "corner_north", path), _number(par, "corner_east", path)
        dn, de = _number(par, "post_north", path), _number(par, "post_east", path)
        zone = _count(par, "projection_zone", path)
        if zone > 60:
            raise InputError(path, f"projection_zone {zone} is not a UTM zone (1-60)")
        south = "false_northing" in par and _number(par, "false_northing", path) >= 1e6
        crs = f"EPSG:{32700 + zone if south else 32600 + zone}"
        return Affine(de, 0.0, east - de / 2.0, 0.0, dn, north - dn / 2.0), crs
    raise InputError(path, f"DEM_projection {projection} is not supported (EQA or UTM)")


def plain_header(par_path: str | PathLike[str]) -> BinaryHeader:
    """The grid of a plain par (``ifg_width``, ``ifg_length``, ``corner_x/y``, ``x/y_spacing`` in m)."""
    par_path = Path(par_path)
    par = read_par(par_path)
    width, lines = _count(par, "ifg_width", par_path), _count(par, "ifg_length", par_path)
    notes = []
    transform = None
    flip = False
    if all(k in par for k in ("corner_x", "corner_y", "x_spacing", "y_spacing")):
        x0, y0 = _number(par, "corner_x", par_path), _number(par, "corner_y", par_path)
        dx, dy = _number(par, "x_spacing", par_path), _number(par, "y_spacing", par_path)
        flip = dy > 0  # y grows with the row: row 0 is the south edge
        top = y0 + (lines - 1) * dy if flip else y0  # centre of the northernmost row
        transform = Affine(abs(dx), 0.0, x0 - abs(dx) / 2.0, 0.0, -abs(dy), top + abs(dy) / 2.0)
        notes.append(
            f"local metric grid: no CRS; {abs(dx):g} x {abs(dy):g} m pixels from {par_path.name}"
            + ("; rows stored south-up (positive y_spacing), flipped north-up" if flip else "")
        )
    return BinaryHeader(
        width, lines, "<f4", par_path, "plain float32 + par", transform=transform, flip_rows=flip,
        notes=tuple(notes),
    )  # fmt: skip


def isce_header(xml_path: str | PathLike[str]) -> BinaryHeader:
    """The layout of an ISCE image from its ``.xml`` (``<imageFile>`` with ``<property>`` values)."""
    xml_path = Path(xml_path)
    try:
        root = ET.parse(xml_path).getroot()
    except (ET.ParseError, OSError) as err:
        raise InputError(xml_path, f"not a readable ISCE .xml ({err})") from err
    props = {
        str(p.get("name", "")).lower(): (p.findtext("value") or p.text or "").strip()
        for p in root.findall("property")
    }
    coords: dict[str, dict[str, str]] = {}
    for comp in root.findall("component"):
        name = str(comp.get("name", "")).lower()
        coords[name] = {
            str(p.get("name", "")).lower(): (p.findtext("value") or p.text or "").strip()
            for p in comp.findall("property")
        }
    props.setdefault("width", coords.get("coordinate1", {}).get("size", ""))
    props.setdefault("length", coords.get("coordinate2", {}).get("size", ""))
    width = _count(props, "width", xml_path)
    lines = _count(props, "length", xml_path)
    bands = _count(props, "number_bands", xml_path) if props.get("number_bands") else 1
    kind = props.get("data_type", "").lower()
    if kind not in _ISCE_TYPES:
        raise InputError(
            xml_path, f"data_type {props.get('data_type')!r} not supported ({sorted(_ISCE_TYPES)})"
        )
    order = ">" if props.get("byte_order", "l").lower().startswith("b") else "<"
    scheme = (props.get("scheme") or "BIL").upper()
    if scheme not in ("BIL", "BIP", "BSQ"):
        raise InputError(xml_path, f"scheme {scheme!r} not supported (BIL, BIP, BSQ)")
    transform = crs = None
    c1, c2 = coords.get("coordinate1", {}), coords.get("coordinate2", {})
    try:
        dx, dy = float(c1["delta"]), float(c2["delta"])
        x0, y0 = float(c1["startingvalue"]), float(c2["startingvalue"])
    except (KeyError, ValueError):
        dx = dy = 1.0
    if 1e-7 < abs(dx) < 1.0 and 1e-7 < abs(dy) < 1.0:  # degrees: geocoded (MintPy's rule)
        # startingValue is the centre of the first pixel (as MintPy reads it).
        transform, crs = Affine(dx, 0.0, x0 - dx / 2.0, 0.0, dy, y0 - dy / 2.0), "EPSG:4326"
    return BinaryHeader(
        width, lines, order + _ISCE_TYPES[kind], xml_path, "ISCE", bands=bands, scheme=scheme,
        transform=transform, crs=crs,
    )  # fmt: skip


def vrt_header(vrt_path: str | PathLike[str]) -> BinaryHeader:
    """Layout, transform and CRS of a GDAL ``.vrt`` of raw bands (as ISCE writes beside its images)."""
    import rasterio
    from rasterio.errors import RasterioError

    vrt_path = Path(vrt_path)
    try:
        root = ET.parse(vrt_path).getroot()
        with rasterio.open(vrt_path) as src:
            transform, crs = src.transform, src.crs
    except (ET.ParseError, OSError, RasterioError) as err:
        raise InputError(vrt_path, f"not a readable GDAL .vrt ({err})") from err
    band_nodes = root.findall("VRTRasterBand")
    if not band_nodes:
        raise InputError(vrt_path, "no VRTRasterBand")
    first = band_nodes[0]
    gdal_type = str(first.get("dataType", "Float32"))
    if gdal_type not in _GDAL_TYPES:
        raise InputError(vrt_path, f"dataType {gdal_type} not supported ({sorted(_GDAL_TYPES)})")
    item = np.dtype(_GDAL_TYPES[gdal_type]).itemsize
    try:
        width, lines = int(root.get("rasterXSize", "0")), int(root.get("rasterYSize", "0"))
        pixel = int(first.findtext("PixelOffset") or item)
        line = int(first.findtext("LineOffset") or width * pixel)
    except ValueError as err:
        raise InputError(vrt_path, f"raster size or offsets are not whole numbers ({err})") from err
    if width <= 0 or lines <= 0:
        raise InputError(vrt_path, f"raster size {width} x {lines} is empty")
    bands = len(band_nodes)
    scheme = (
        "BIP"
        if pixel == bands * item and bands > 1
        else "BSQ"
        if line == width * item and bands > 1
        else "BIL"
    )
    order = ">" if (first.findtext("ByteOrder") or "LSB").upper() == "MSB" else "<"
    geo = crs is not None and not transform.is_identity
    return BinaryHeader(
        width, lines, order + _GDAL_TYPES[gdal_type], vrt_path, "ISCE", bands=bands, scheme=scheme,
        transform=transform if geo else None, crs=crs.to_string() if geo and crs is not None else None,
    )  # fmt: skip


# ------------------------------------------------------------------ layout and checks


def layout(header: BinaryHeader, lines: int) -> tuple[int, int, int]:
    """``(offset, line_stride, pixel_stride)`` in bytes of the band that is read."""
    item = np.dtype(header.dtype).itemsize
    b, n, w = header.band, header.bands, header.width
    if header.scheme == "BIP":
        return b * item, n * w * item, n * item
    if header.scheme == "BSQ":
        return b * w * lines * item, w * item, item
    return b * w * item, n * w * item, item  # BIL


def check_size(path: Path, header: BinaryHeader) -> int:
    """The number of rows of ``path`` under ``header``; InputError when the size does not fit."""
    size = path.stat().st_size
    dt = np.dtype(header.dtype)
    row = header.width * header.bands * dt.itemsize
    kind = f"{header.width}-px {_type_name(dt)} rows" + (
        f" of {header.bands} bands" if header.bands > 1 else ""
    )
    origin = f" (width from {header.par.name})"
    if size == 0:
        raise InputError(path, "empty file (0 bytes)")
    if size % row:
        raise InputError(path, f"{size:,} bytes is not a whole number of {kind}{origin}")
    rows = size // row
    if header.lines is not None and rows != header.lines:
        why = "truncated file or wrong parameter file" if rows < header.lines else "wrong parameter file?"
        raise InputError(
            path,
            f"{size:,} bytes hold {rows:,} {kind}, but {header.par.name} gives {header.lines:,} lines "
            f"({header.lines * row:,} bytes): {why}",
        )
    return rows


def _type_name(dt: np.dtype[Any]) -> str:
    return (
        f"{dt.kind}{dt.itemsize}".replace("f4", "float32").replace("c8", "complex64").replace("f8", "float64")
    )


def _block(
    path: str, dtype: str, offset: int, line: int, pixel: int, r0: int, r1: int, width: int
) -> np.ndarray:
    """Rows ``r0:r1`` of one band as native-order values (the per-block task of the lazy read)."""
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    view: np.ndarray = np.ndarray(
        (r1 - r0, width), dtype=np.dtype(dtype), buffer=mm, offset=offset + r0 * line, strides=(line, pixel)
    )
    return np.array(view, dtype=np.dtype(dtype).newbyteorder("="))


def _lazy(path: Path, header: BinaryHeader, rows: int) -> Any:
    """The band as a Dask array of blocks of rows (picklable: each task opens the file itself)."""
    import dask  # here, not at import: reading a GeoTIFF needs no dask.array (0.5 s)
    import dask.array as darray

    offset, line, pixel = layout(header, rows)
    dt = np.dtype(header.dtype)
    step = max(1, min(rows, _BLOCK_BYTES // max(1, line)))
    blocks = []
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        task = dask.delayed(_block, pure=True)(
            str(path), header.dtype, offset, line, pixel, r0, r1, header.width
        )
        blocks.append(darray.from_delayed(task, shape=(r1 - r0, header.width), dtype=dt.newbyteorder("=")))
    return darray.concatenate(blocks, axis=0)


def _phase(block: np.ndarray) -> np.ndarray:
    """The phase of complex values, NaN where they are 0+0j (no data); inf/NaN values (damaged
    bytes) give NaN without numpy's warnings on stderr."""
    with np.errstate(invalid="ignore"):
        return np.where(block == 0, np.nan, np.angle(block)).astype(np.float32)


def _plausible(values: np.ndarray) -> float:
    """Share of finite values of a sane magnitude (0 or 1e-10..1e10): wrong byte order gives few."""
    flat = values.ravel()
    if np.iscomplexobj(flat):
        flat = np.concatenate([flat.real, flat.imag])
    with np.errstate(invalid="ignore", over="ignore"):
        mag = np.abs(flat.astype(np.float64))
        ok = np.isfinite(mag) & ((mag == 0) | ((mag > 1e-10) & (mag < 1e10)))
    return float(ok.mean()) if flat.size else 1.0


def check_byte_order(path: Path, header: BinaryHeader, rows: int) -> BinaryHeader:
    """``header``, or the same with the other byte order when a sample of rows reads far more sanely that way."""
    dt = np.dtype(header.dtype)
    if dt.itemsize == 1:
        return header
    offset, line, pixel = layout(header, rows)
    r0 = rows // 2
    r1 = min(rows, r0 + max(1, 65_536 // header.width))
    sample = _block(str(path), header.dtype, offset, line, pixel, r0, r1, header.width)
    swapped_dtype = dt.newbyteorder("S").str
    swapped = _block(str(path), swapped_dtype, offset, line, pixel, r0, r1, header.width)
    as_given, other = _plausible(sample), _plausible(swapped)
    if as_given >= 0.5 or other < 0.9:
        return header
    given = "big" if dt.byteorder == ">" else "little"
    read = "little" if given == "big" else "big"
    note = (
        f"{path.name}: values read {given}-endian ({header.fmt}'s order) are implausible "
        f"({100 * as_given:.0f}% sane); read {read}-endian instead ({100 * other:.0f}% sane)"
    )
    return replace(header, dtype=swapped_dtype, notes=(*header.notes, note))


# ------------------------------------------------------------------ names and parameter files


def binary_kind(name: str) -> str | None:
    """The product kind (``diff``, ``int``, ``unw``, ``cc``, ``cor``) of a raw binary's name, or None."""
    tokens = [t.lower() for t in Path(name).name.split(".")[1:]]
    for token in reversed(tokens):
        if token in KINDS:
            return token
        if token not in _MODIFIERS:
            return None
    return None


def _companion(path: Path, suffix: str) -> Path | None:
    candidate = path.with_name(path.name + suffix)
    return candidate if candidate.is_file() else None


_IFG_PAR = re.compile(r"(\.off|\.diff_par|\.diff\.par)$", re.IGNORECASE)
_SAR_PAR = re.compile(r"\.(r?mli|r?slc|pwr\d?|amp)\.par$", re.IGNORECASE)
_DEM_PAR = re.compile(r"(dem_par|\.dem\.par|dem_seg\.par)$", re.IGNORECASE)


def _gamma_pars(path: Path) -> list[Path]:
    """GAMMA pars beside ``path``: those sharing its pair label or stem first, then interferogram, SAR, DEM pars."""
    folder = path.parent
    dates = parse_pair_dates(path.name)
    label = f"{dates[0]:%Y%m%d}_{dates[1]:%Y%m%d}" if dates else None
    stem = path.name.split(".")[0]
    geo = any(t in ("geo", "utm") for t in re.split(r"[._]", path.name.lower()))
    found = [
        p
        for p in folder.iterdir()
        if p.is_file() and (_IFG_PAR.search(p.name) or _SAR_PAR.search(p.name) or _DEM_PAR.search(p.name))
    ]

    def rank(p: Path) -> tuple[int, int, str]:
        kind = 0 if _IFG_PAR.search(p.name) else 1 if _SAR_PAR.search(p.name) else 2
        if geo:
            kind = (kind + 1) % 3 if kind != 2 else 0  # a geocoded product: the DEM par first
        shared = 0 if (label and label in p.name) or p.name.split(".")[0] == stem else 1
        return shared, kind, p.name

    return sorted(found, key=rank)


def _wavelength_beside(path: Path, pars: list[Path]) -> tuple[float | None, str | None, str | None]:
    """The wavelength (m), its note and the sensor from the first par beside ``path`` with ``radar_frequency``."""
    for par_path in pars:
        if not _SAR_PAR.search(par_path.name):
            continue
        par = read_par(par_path)
        if "radar_frequency" in par:
            try:
                frequency = float(par["radar_frequency"].split()[0])
            except (IndexError, ValueError):
                continue
            if frequency > 0:
                wavelength = SPEED_OF_LIGHT_M_PER_S / frequency
                sensor = par.get("sensor", "").split()[0] if par.get("sensor", "").split() else None
                note = f"wavelength {wavelength:.6g} m from radar_frequency {frequency:.6g} Hz in {par_path.name}"
                return wavelength, note, sensor
    return None, None, None


def header_for(path: str | PathLike[str]) -> BinaryHeader:
    """Find and parse the parameter file of the raw binary ``path``; its size is checked against it.

    ISCE when ``<path>.xml`` or ``<path>.vrt`` is beside it; the plain float32 format when a par with
    ``ifg_width`` is (``<stem>.par``); otherwise GAMMA pars in the same folder, the first whose grid
    fits the file size. Raises :class:`InputError` naming the file when none is found or none fits.
    """
    path = Path(path)
    kind = binary_kind(path.name)
    if kind is None:
        raise InputError(path, "not a raw binary product name (.diff, .int, .unw, .cc, .cor)")
    variable = KINDS[kind]
    xml, vrt = _companion(path, ".xml"), _companion(path, ".vrt")
    if xml is not None or vrt is not None:
        header = isce_header(xml) if xml is not None else vrt_header(vrt)  # type: ignore[arg-type]
        if xml is not None and vrt is not None and header.transform is None:
            geo = vrt_header(vrt)
            if geo.transform is not None:
                header = replace(header, transform=geo.transform, crs=geo.crs)
        if header.bands >= 2 and kind in ("unw", "cor"):
            header = replace(header, band=1)  # amplitude + value: the value is the second band
        if kind == "int" and np.dtype(header.dtype).kind != "c":
            raise InputError(
                path, f"ISCE .int should be complex (CFLOAT), {header.par.name} says {header.dtype}"
            )
        return header
    for par_path in (path.with_suffix(".par"), path.with_name(path.name.split(".")[0] + ".par")):
        if par_path.is_file() and "ifg_width" in read_par(par_path):
            return plain_header(par_path)
    pars = _gamma_pars(path)
    if not pars:
        raise InputError(
            path,
            "no parameter file beside it (GAMMA .off/.diff_par/.mli.par/dem_par, ISCE .xml/.vrt, "
            "or a .par with ifg_width)",
        )
    dtypes = [">c8", ">f4"] if variable == "wrapped_phase" else [">f4"]
    size = path.stat().st_size
    tried = []
    for par_path in pars:
        try:
            candidates = [gamma_header(par_path, dt) for dt in dtypes]
        except InputError:
            continue
        for header in candidates:
            try:
                check_size(path, header)
            except InputError as err:
                tried.append(err.problem)
                continue
            wavelength, note, sensor = (header.wavelength_m, None, header.sensor)
            if wavelength is None:
                wavelength, note, sensor = _wavelength_beside(path, pars)
            notes = list(header.notes) + ([note] if note else [])
            if header.dtype == ">f4" and variable == "wrapped_phase":
                notes.append(
                    f"{path.name}: size fits float32 phase (not complex64) rows; read as float32 radians"
                )
            return replace(header, wavelength_m=wavelength, sensor=sensor, notes=tuple(notes))
    if not tried:
        raise InputError(
            path, f"no usable GAMMA parameter file beside it (tried {', '.join(p.name for p in pars)})"
        )
    if len(tried) == 1:
        raise InputError(path, tried[0])
    raise InputError(path, f"{size:,} bytes fit none of the parameter files beside it: {'; '.join(tried)}")


# ------------------------------------------------------------------ the reader


def read_binary(
    path: str | PathLike[str],
    variable: str | None = None,
    *,
    nodata: float | None = None,
    wavelength_m: float | None = None,
    check_data: bool = True,
) -> xr.Dataset:
    """Read a raw GAMMA / ISCE / plain-par binary into a fringenet Dataset with dims ``(y, x)``.

    Parameters
    ----------
    path
        ``*.diff``, ``*.int`` (wrapped phase, rad), ``*.unw`` (unwrapped phase, rad; LOS displacement
        in m for the plain par format), ``*.cc``/``*.cor`` (coherence), with its parameter file beside
        it (see :func:`header_for`). Pair dates come from the name or the parent folder's name.
    variable
        Vocabulary name to use instead of the one the suffix gives (values are then not converted).
    nodata
        A value read as NaN (e.g. ``0`` for GAMMA's masked unwrapped pixels); NaN stays NaN and
        complex 0+0j is always no data.
    wavelength_m
        Radar wavelength (m) when the par gives none (GAMMA ``radar_frequency``).
    check_data
        Read the data once to reject an all-NaN raster and note a large share of exact zeros
        (stack readers turn this off to stay lazy).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    header = header_for(path)
    rows = check_size(path, header)
    header = check_byte_order(path, header, rows)
    kind = binary_kind(path.name) or ""
    name = variable or KINDS[kind]
    if name not in VARIABLES:
        raise InputError(path, f"unknown variable '{name}'; known: {sorted(VARIABLES)}")
    notes = list(header.notes)

    data = _lazy(path, header, rows)
    if np.dtype(header.dtype).kind == "c":
        data = data.map_blocks(_phase, dtype=np.float32)
        if name != "wrapped_phase":
            notes.append(f"{path.name}: complex values read as their phase (rad) for {name}")
    data = data.astype(np.float32)
    if nodata is not None:
        import dask.array as darray

        data = darray.where(data == np.float32(nodata), np.float32(np.nan), data)
    if header.fmt == "plain float32 + par" and kind == "unw" and variable is None:
        name = "los_displacement"
        data = -data
        notes.append(
            f"{path.name}: LOS displacement in m with LiCSAR's sign (+ away from the satellite), "
            "negated to fringenet's (+ towards); variable='unwrapped_phase' reads the values as they are"
        )
    if header.flip_rows:
        data = data[::-1]

    if header.transform is None:
        # GDAL's pixel grid (identity): pixel (line, sample) covers [sample, sample + 1] x [line, line + 1],
        # as the pixel-coordinate target polygons do
        transform = Affine.identity()
        notes.insert(
            0,
            f"radar geometry: no CRS; {path.name} is on its pixel grid (x = range sample, y = azimuth line; "
            f"{header.width} x {rows} from {header.par.name})",
        )
    else:
        transform = header.transform
    y, x = coords_from_transform(transform, rows, header.width)
    spec = VARIABLES[name]
    ds = xr.Dataset(
        {name: (("y", "x"), data, {"units": spec.units, "long_name": spec.long_name})},
        coords={"y": y, "x": x},
        attrs=base_attrs(
            wavelength_m if wavelength_m is not None else header.wavelength_m, header.sensor or "unknown"
        ),
    )
    ds = georeference(ds, transform, header.crs)
    ds.attrs.update(dict(header.geometry))
    dates = parse_pair_dates(path.name) or parse_pair_dates(path.parent.name)
    if dates is not None and spec.per_pair:
        ds = ds.assign_coords(reference_date=as_ns(dates[0]), secondary_date=as_ns(dates[1]))
    if check_data:
        import dask
        import dask.array as darray

        empty, zeros = dask.compute(darray.isnan(data).all(), (data == 0).mean())
        if bool(empty):
            raise InputError(path, "raster holds no valid pixels (all no-data/NaN)")
        if float(zeros) >= 0.01 and nodata is None and name != "los_displacement":
            notes.append(
                f"{path.name}: {100 * float(zeros):.1f}% of pixels are exactly 0 (no data?); nodata=0 masks them"
            )
    ds.encoding["source"] = str(path)
    ds.encoding["source_format"] = f"{header.fmt} binary ({header.par.name})"
    if notes:
        ds.encoding["notes"] = notes
    return ds


def read_binary_folder(
    folder: str | PathLike[str],
    *,
    nodata: float | None = None,
    wavelength_m: float | None = None,
) -> xr.Dataset:
    """A folder of raw binaries named by pair (``YYYYMMDD_YYYYMMDD.diff``, ``.cc``, ``.unw``) as a lazy stack.

    Every file is read with :func:`read_binary` (its own par, e.g. one ``.mli.par`` for all); the
    variables of a pair are merged and the pairs stacked on one grid. Files without pair dates are skipped.
    """
    from fringenet.io.stack import stack_from_datasets

    folder = Path(folder)
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and binary_kind(p.name) and parse_pair_dates(p.name)
    )
    if not files:
        raise InputError(folder, "no raw binaries named by pair (YYYYMMDD_YYYYMMDD.diff, .unw, .cc, ...)")
    per_pair: dict[tuple[pd.Timestamp, pd.Timestamp], list[xr.Dataset]] = {}
    notes: list[str] = []
    for path in files:
        ds = read_binary(path, nodata=nodata, wavelength_m=wavelength_m, check_data=False)
        name = str(next(iter(ds.data_vars)))
        dates = parse_pair_dates(path.name)
        assert dates is not None
        group = per_pair.setdefault(dates, [])
        if any(name in member for member in group):
            first = next(m for m in group if name in m).encoding["source"]
            raise InputError(
                path,
                f"second {name} for pair {dates[0]:%Y%m%d}_{dates[1]:%Y%m%d} (first: {Path(first).name})",
            )
        group.append(ds)
        for note in ds.encoding.get("notes", []):
            generic = (
                note.replace(path.name, "each file")
                if note.startswith(("radar geometry", "wavelength"))
                else note
            )
            if generic not in notes:
                notes.append(generic)
    pairs = []
    for group in per_pair.values():
        merged = xr.merge(group, compat="override", join="override", combine_attrs="override")
        merged.encoding["source"] = group[0].encoding["source"]
        pairs.append(merged)
    stack = stack_from_datasets(pairs)
    stack.encoding["source"] = str(folder)
    stack.encoding["source_format"] = f"folder of {len(files)} raw binaries"
    if notes:
        stack.encoding["notes"] = notes
    return stack


def is_binary_folder(folder: Path) -> bool:
    """True when ``folder`` holds raw binaries named by pair."""
    return any(p.is_file() and binary_kind(p.name) and parse_pair_dates(p.name) for p in folder.iterdir())


__all__ = [
    "KINDS",
    "BinaryHeader",
    "binary_kind",
    "check_size",
    "gamma_header",
    "header_for",
    "is_binary_folder",
    "isce_header",
    "plain_header",
    "read_binary",
    "read_binary_folder",
    "read_par",
    "vrt_header",
]
