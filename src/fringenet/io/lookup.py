"""Geocoding of radar-geometry outputs with the processor's lookup table or latitude/longitude rasters.

A product without a CRS is scanned on its radar grid (:mod:`fringenet.pipeline.radar`); given where each
radar pixel lies on the ground, fringenet's outputs are geocoded: target polygons vertex by vertex
(:func:`geocode_polygons`, EPSG:4326) and rasters onto a regular longitude/latitude grid
(:func:`geocode_raster`, nearest radar pixel). What processors deliver:

- ISCE ``lat.rdr`` / ``lon.rdr`` (with ``.xml``/``.vrt``), or latitude/longitude GeoTIFFs: degrees per
  radar pixel, used as they are.
- MintPy ``geometryRadar.h5``: datasets ``latitude`` and ``longitude`` on the radar grid.
- GAMMA lookup tables (``*.lt``, ``lt_fine``): complex64 big-endian on the DEM grid of the DEM par beside
  them (``dem_seg.par``, ``*.dem_par``); real part = range sample, imaginary part = azimuth line of the
  radar grid (0 where the DEM pixel is not imaged). Inverted here to degrees per radar pixel by linear
  interpolation over the imaged DEM pixels.

All three become a :class:`RadarLookup`: latitude and longitude (deg, WGS84) of every radar pixel centre.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from numpy.typing import NDArray

from fringenet.errors import InputError

MIN_COVERAGE = 0.5
"""A lookup must place at least this fraction of the radar grid's pixels (else it is another grid's)."""
_GAMMA_POINTS = 400_000  # imaged DEM pixels the inversion interpolates over (the geometry is smooth)


@dataclass(frozen=True)
class RadarLookup:
    """Latitude and longitude (deg, WGS84) of every pixel centre of a radar grid; NaN where unknown."""

    latitude: NDArray[np.float64]
    longitude: NDArray[np.float64]
    source: str
    """The file(s) it came from, for notes."""

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.latitude.shape[0]), int(self.latitude.shape[1]))


def read_lookup(path: str | PathLike[str], radar_shape: tuple[int, int]) -> RadarLookup:
    """Read the lookup at ``path`` for a radar grid of ``radar_shape`` (rows, columns) and check it fits.

    ``path``: a GAMMA lookup table, an ISCE ``lat.rdr`` (``lon.rdr`` beside it) or a folder holding both,
    a latitude GeoTIFF (``lat*``, its ``lon*`` twin beside it), or MintPy's ``geometryRadar.h5``.
    Raises :class:`InputError` naming the file: unreadable, another grid's, or degrees out of range.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "lookup table not found")
    return _read_lookup(str(path.resolve()), path.stat().st_mtime_ns, tuple(radar_shape))


@functools.lru_cache(maxsize=2)  # a call over many pairs of one stack reads (and inverts) it once
def _read_lookup(path_name: str, mtime_ns: int, radar_shape: tuple[int, ...]) -> RadarLookup:
    path = Path(path_name)
    shape = (int(radar_shape[0]), int(radar_shape[1]))
    if path.is_dir():
        lookup = _from_folder(path, shape)
    elif path.suffix.lower() in (".h5", ".he5", ".hdf5"):
        lookup = _from_mintpy(path)
    elif path.name.lower().startswith("lat"):
        lookup = _from_lat_lon(path, _twin(path))
    else:
        lookup = _from_gamma(path, shape)
    _check(lookup, shape, path)
    return lookup


def _from_folder(folder: Path, shape: tuple[int, int]) -> RadarLookup:
    for name in ("lat.rdr", "lat.rdr.full", "lat.tif"):
        if (folder / name).exists():
            return _from_lat_lon(folder / name, _twin(folder / name))
    if (folder / "geometryRadar.h5").is_file():
        return _from_mintpy(folder / "geometryRadar.h5")
    tables = sorted(p for p in folder.iterdir() if p.name == "lt_fine" or p.suffix in (".lt", ".lt_fine"))
    if tables:
        return _from_gamma(tables[0], shape)
    raise InputError(
        folder, "holds no lookup (lat.rdr + lon.rdr, geometryRadar.h5 or a GAMMA *.lt / lt_fine)"
    )


def _twin(lat_path: Path) -> Path:
    lon = lat_path.with_name("lon" + lat_path.name[3:])
    if not lon.exists():
        raise InputError(lat_path, f"latitude raster without its longitude twin ({lon.name} not found)")
    return lon


def _raster(path: Path) -> NDArray[np.float64]:
    """One band of a raster GDAL reads (GeoTIFF, ISCE image with .xml/.vrt), no-data as NaN."""
    import rasterio
    from rasterio.errors import RasterioError

    vrt = path.with_name(path.name + ".vrt")
    try:
        with rasterio.open(vrt if vrt.is_file() else path) as src:
            values = np.asarray(src.read(1, masked=True).filled(np.nan), dtype=np.float64)
    except (RasterioError, OSError) as err:
        return _isce_binary(path, err)
    return values


def _isce_binary(path: Path, err: Exception) -> NDArray[np.float64]:
    """An ISCE float64/float32 image from its ``.xml`` when GDAL cannot open it."""
    from fringenet.io.binary import _block, check_size, isce_header, layout

    xml = path.with_name(path.name + ".xml")
    if not xml.is_file():
        raise InputError(path, f"not a readable raster and no ISCE .xml beside it ({err})") from err
    header = isce_header(xml)
    rows = check_size(path, header)
    offset, line, pixel = layout(header, rows)
    return np.asarray(
        _block(str(path), header.dtype, offset, line, pixel, 0, rows, header.width), dtype=np.float64
    )


def _from_lat_lon(lat_path: Path, lon_path: Path) -> RadarLookup:
    lat, lon = _raster(lat_path), _raster(lon_path)
    if lat.shape != lon.shape:
        raise InputError(lon_path, f"is {lon.shape[0]} x {lon.shape[1]} px, its latitude twin {lat.shape}")
    return RadarLookup(_no_zeros(lat, lon), _no_zeros(lon, lat), f"{lat_path.name} + {lon_path.name}")


def _no_zeros(values: NDArray[np.float64], other: NDArray[np.float64]) -> NDArray[np.float64]:
    """ISCE writes 0 in both rasters where a pixel was not geolocated."""
    return np.where((values == 0) & (other == 0), np.nan, values)


def _from_mintpy(path: Path) -> RadarLookup:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            missing = [k for k in ("latitude", "longitude") if k not in h5]
            if missing:
                raise InputError(path, f"has no {' or '.join(missing)} dataset (MintPy geometryRadar.h5)")
            lat = np.asarray(h5["latitude"][()], dtype=np.float64)
            lon = np.asarray(h5["longitude"][()], dtype=np.float64)
    except OSError as err:
        raise InputError(path, f"not a readable HDF5 file ({err})") from err
    if lat.ndim != 2 or lat.shape != lon.shape:
        raise InputError(path, f"latitude {lat.shape} and longitude {lon.shape} are not one 2-D grid")
    return RadarLookup(_no_zeros(lat, lon), _no_zeros(lon, lat), path.name)


def _dem_par_beside(table: Path) -> Path:
    from fringenet.io.binary import read_par

    folder = table.parent
    named = [table.with_suffix(".dem_par"), table.with_name(table.name.split(".")[0] + ".dem_par")]
    found = [*named, *sorted(folder.glob("*.dem_par")), *sorted(folder.glob("*dem*.par"))]
    for par in dict.fromkeys(found):
        if par.is_file() and {"width", "nlines"} <= set(read_par(par)):
            return par
    raise InputError(table, "GAMMA lookup table without a DEM par beside it (dem_seg.par, *.dem_par)")


def _from_gamma(table: Path, shape: tuple[int, int]) -> RadarLookup:
    """Invert a GAMMA lookup table (DEM grid -> radar coordinates) to degrees per radar pixel."""
    from scipy.interpolate import LinearNDInterpolator

    from fringenet.io.binary import _block, check_size, gamma_header, layout

    par = _dem_par_beside(table)
    header = gamma_header(par, ">c8")
    if header.transform is None or header.crs is None:
        raise InputError(par, "is not a DEM par (no map grid)")
    rows = check_size(table, header)
    offset, line, pixel = layout(header, rows)
    values = _block(str(table), header.dtype, offset, line, pixel, 0, rows, header.width)
    radar_col = np.asarray(values.real, dtype=np.float64)
    radar_row = np.asarray(values.imag, dtype=np.float64)
    imaged = np.isfinite(radar_col) & np.isfinite(radar_row) & ((radar_col > 0) | (radar_row > 0))
    ys, xs = np.nonzero(imaged)
    if ys.size < 3:
        raise InputError(table, "images no DEM pixel (all 0): not a lookup table?")
    step = max(1, int(np.ceil(ys.size / _GAMMA_POINTS)))
    ys, xs = ys[::step], xs[::step]
    lon, lat = _map_to_lonlat(header.transform, str(header.crs), xs, ys)
    points = np.column_stack([radar_row[ys, xs], radar_col[ys, xs]])
    interpolate = LinearNDInterpolator(points, np.column_stack([lat, lon]))
    grid_rows, grid_cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    latlon = interpolate(grid_rows.ravel(), grid_cols.ravel()).reshape(*shape, 2)
    return RadarLookup(latlon[..., 0], latlon[..., 1], f"{table.name} + {par.name}")


def _map_to_lonlat(
    transform: Affine, crs: str, xs: NDArray[np.intp], ys: NDArray[np.intp]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Longitude and latitude (deg) of the centres of DEM pixels (column ``xs``, row ``ys``)."""
    east, north = _apply(transform, xs + 0.5, ys + 0.5)
    if crs == "EPSG:4326":
        return east, north
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(east, north)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def _apply(
    transform: Affine, columns: NDArray[Any], rows: NDArray[Any]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Map coordinates of pixel coordinates (``columns``, ``rows``) under ``transform``."""
    t = transform
    x = t.a * np.asarray(columns, dtype=np.float64) + t.b * np.asarray(rows, dtype=np.float64) + t.c
    y = t.d * np.asarray(columns, dtype=np.float64) + t.e * np.asarray(rows, dtype=np.float64) + t.f
    return x, y


def _check(lookup: RadarLookup, shape: tuple[int, int], path: Path) -> None:
    if lookup.shape != shape:
        raise InputError(
            path, f"the lookup is {lookup.shape[0]} x {lookup.shape[1]} px, the product's radar grid "
            f"{shape[0]} x {shape[1]}: give the lookup of this grid (same multilooking)",
        )  # fmt: skip
    known = np.isfinite(lookup.latitude) & np.isfinite(lookup.longitude)
    if known.mean() < MIN_COVERAGE:
        raise InputError(
            path, f"places only {known.mean():.0%} of the radar grid's pixels: the lookup of another grid?"
        )
    lat, lon = lookup.latitude[known], lookup.longitude[known]
    if np.abs(lat).max() > 90.0 or np.abs(lon).max() > 360.0:
        raise InputError(path, "latitude/longitude out of range (not degrees?)")


def _filled(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """``values`` with every NaN replaced by its nearest known neighbour (for interpolation at edges)."""
    from scipy import ndimage

    missing = ~np.isfinite(values)
    if not missing.any():
        return values
    index = ndimage.distance_transform_edt(missing, return_distances=False, return_indices=True)
    return np.asarray(values[tuple(index)], dtype=np.float64)


def lonlat_at(
    lookup: RadarLookup, columns: NDArray[np.floating], rows: NDArray[np.floating]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Longitude and latitude (deg) of points in pixel coordinates (x = column, y = row, pixel edges at
    integers, as target polygons in radar geometry), bilinear between pixel centres."""
    from scipy import ndimage

    coords = np.vstack(
        [np.asarray(rows, dtype=np.float64) - 0.5, np.asarray(columns, dtype=np.float64) - 0.5]
    )
    lat = ndimage.map_coordinates(_filled(lookup.latitude), coords, order=1, mode="nearest")
    lon = ndimage.map_coordinates(_filled(lookup.longitude), coords, order=1, mode="nearest")
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def geocode_polygons(gdf: Any, lookup: RadarLookup) -> Any:
    """Target polygons in pixel coordinates -> the same targets in EPSG:4326 (attributes kept)."""
    import shapely

    def to_lonlat(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        lon, lat = lonlat_at(lookup, xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    pixel = np.asarray(gdf.geometry.values)
    out = gdf.copy().set_geometry(list(shapely.transform(pixel, to_lonlat)), crs="EPSG:4326")
    if len(out) == 0:
        return out
    centre = shapely.get_coordinates(shapely.centroid(pixel))  # the targets' centres of mass, in pixels
    lon, lat = lonlat_at(lookup, centre[:, 0], centre[:, 1])
    bounds = out.geometry.bounds
    updates = {"lon": lon, "lat": lat, "xmin": bounds["minx"], "ymin": bounds["miny"],
               "xmax": bounds["maxx"], "ymax": bounds["maxy"]}  # fmt: skip
    for column, values in updates.items():
        if column in out:
            out[column] = np.asarray(values, dtype=float)
    return out


def lonlat_grid(lookup: RadarLookup) -> tuple[Affine, tuple[int, int]]:
    """A north-up longitude/latitude grid covering the radar grid at about its pixel spacing."""
    lat, lon = lookup.latitude, lookup.longitude
    cos = float(np.cos(np.deg2rad(np.nanmedian(lat))))
    steps = []
    for axis in (0, 1):  # ground distance (deg of latitude) between neighbouring radar pixels
        d = np.hypot(np.diff(lat, axis=axis), np.diff(lon, axis=axis) * cos)
        steps.append(float(np.nanmedian(d)))
    usable = [s for s in steps if np.isfinite(s) and s > 0]
    if not usable:
        raise InputError(lookup.source, "gives no pixel spacing (constant latitude/longitude)")
    dlat = min(usable)
    dlon = dlat / max(cos, 1e-6)
    west, east = float(np.nanmin(lon)), float(np.nanmax(lon))
    south, north = float(np.nanmin(lat)), float(np.nanmax(lat))
    width = int(np.ceil((east - west) / dlon)) + 1
    height = int(np.ceil((north - south) / dlat)) + 1
    transform = Affine(dlon, 0.0, west - dlon / 2.0, 0.0, -dlat, north + dlat / 2.0)
    return transform, (height, width)


def geocode_raster(
    values: NDArray[Any], lookup: RadarLookup, fill: float = np.nan
) -> tuple[NDArray[Any], Affine]:
    """``values`` on the radar grid -> a north-up lon/lat grid (EPSG:4326) by the nearest radar pixel.

    A map pixel farther than about one radar pixel from every radar pixel centre gets ``fill``.
    Returns the raster and its transform (:func:`lonlat_grid`).
    """
    from scipy.spatial import cKDTree

    if values.shape != lookup.shape:
        raise InputError(lookup.source, f"raster {values.shape} is not on the lookup's grid {lookup.shape}")
    transform, (height, width) = lonlat_grid(lookup)
    cos = float(np.cos(np.deg2rad(np.nanmedian(lookup.latitude))))
    known = np.isfinite(lookup.latitude) & np.isfinite(lookup.longitude)
    tree = cKDTree(np.column_stack([lookup.latitude[known], lookup.longitude[known] * cos]))
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    lon, lat = _apply(transform, cols.ravel(), rows.ravel())
    distance, index = tree.query(np.column_stack([lat, np.asarray(lon) * cos]), workers=-1)
    out = values[known][index].reshape(height, width)
    far = (distance > 1.5 * abs(transform.e)).reshape(height, width)
    out = np.where(far, fill, out).astype(np.result_type(values.dtype, np.min_scalar_type(fill)))
    return out, transform


def write_geocoded(
    values: NDArray[Any], lookup: RadarLookup, path: str | PathLike[str], fill: Any = np.nan
) -> Path:
    """Write ``values`` (on the radar grid) geocoded by :func:`geocode_raster` to the GeoTIFF ``path``
    (EPSG:4326, deflate), atomically; ``fill`` is the no-data of map pixels no radar pixel reaches."""
    import rasterio

    from fringenet.io.atomic import atomic_path

    grid, transform = geocode_raster(values, lookup, fill=fill)
    nodata = float(fill) if np.isnan(fill) or fill != 0 else None  # a 0/1 mask needs none
    profile = {
        "driver": "GTiff", "height": grid.shape[0], "width": grid.shape[1], "count": 1, "dtype": grid.dtype.name,
        "crs": "EPSG:4326", "transform": transform, "compress": "deflate", "nodata": nodata,
    }  # fmt: skip
    path = Path(path)
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(grid, 1)
    return path
