"""Detection masks to target polygons with per-target attributes, and GeoJSON export.

Connected components of the detection mask (8-connected: pixels touching at a corner are one
target) become one polygon each, a MultiPolygon where parts only touch diagonally. Attributes
follow the inventory contract (:data:`fringenet.io.inventory.TARGET_COLUMNS`).
"""

from __future__ import annotations

import datetime as dt
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
from affine import Affine
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS, Transformer
from scipy import ndimage

from fringenet.detect.filters import EIGHT_CONNECTED, remove_small_objects
from fringenet.errors import InputError
from fringenet.io.atomic import atomic_path
from fringenet.io.inventory import TARGET_COLUMNS, check_iso_date, empty_targets, format_target_id
from fringenet.io.schema import EARTH_METRES_PER_DEGREE

FloatArray = NDArray[np.float64]
PIXEL_AREA_COLUMN = "area_px"
"""Pixel count of a target in radar geometry (no CRS), where ``area_m2`` needs a known pixel spacing."""
PIXEL_LAYER = "targets"
"""Layer of ``detections.gpkg``, the targets of a radar-geometry run (pixel coordinates, no CRS)."""


def _layer(values: ArrayLike | None, shape: tuple[int, ...], name: str) -> FloatArray | None:
    if values is None:
        return None
    array = np.asarray(values, dtype=float)
    if array.shape != shape:
        raise InputError(name, f"shape {array.shape} does not match the mask's {shape}")
    return array


def _label_sums(values: ArrayLike, lab: NDArray[np.int32], n: int) -> FloatArray:
    """Sum of ``values`` (one per labelled pixel) in each component ``1..n``."""
    return np.asarray(
        np.bincount(lab, weights=np.asarray(values, dtype=float), minlength=n + 1)[1:], dtype=float
    )


def _nanmean_labels(
    values: FloatArray | None, inside: NDArray[np.bool_], lab: NDArray[np.int32], n: int
) -> FloatArray:
    """Mean of the finite ``values`` in each component; NaN where none are finite.

    Statistics read only the labelled pixels (``inside``; ``lab`` their labels): a scene has far more
    pixels than detections.
    """
    if values is None:
        return np.full(n, np.nan)
    v = values[inside]
    finite = np.isfinite(v)
    total, count = _label_sums(np.where(finite, v, 0.0), lab, n), _label_sums(finite, lab, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _circular_mean_deg(
    values: FloatArray | None, inside: NDArray[np.bool_], lab: NDArray[np.int32], n: int
) -> FloatArray:
    """Circular mean of angles in degrees (0-360) per component; NaN if none or if they cancel out."""
    if values is None:
        return np.full(n, np.nan)
    v = values[inside]
    finite = np.isfinite(v)
    radians = np.radians(np.where(finite, v, 0.0))
    sin = _label_sums(np.where(finite, np.sin(radians), 0.0), lab, n)
    cos = _label_sums(np.where(finite, np.cos(radians), 0.0), lab, n)
    count = _label_sums(finite, lab, n)
    mean = np.degrees(np.arctan2(sin, cos)) % 360.0
    # A mean just below 0 wraps to 359.999...; report it as 0 so "north" reads as north.
    mean = np.where(np.isclose(mean, 360.0, rtol=0.0, atol=1e-9), 0.0, mean)
    # Opposite aspects cancel (resultant ~0): there is no meaningful mean direction.
    undefined = (count == 0) | (np.hypot(sin, cos) <= 1e-9 * np.maximum(count, 1.0))
    return np.where(undefined, np.nan, mean)


def _pixel_area_m2(
    count: FloatArray,
    rows: NDArray[np.intp],
    cols: NDArray[np.intp],
    lab: NDArray[np.int32],
    n: int,
    transform: Affine,
    crs: CRS,
) -> FloatArray:
    """Ground area (m²) of each component: its pixel ``count`` times the pixel's area on the ground."""
    det = abs(transform.a * transform.e - transform.b * transform.d)
    if crs.is_geographic:
        # Degrees to metres as in fringenet.io.schema.pixel_size_m, but with each pixel's own latitude.
        lat = transform.d * (cols + 0.5) + transform.e * (rows + 0.5) + transform.f
        weight = EARTH_METRES_PER_DEGREE**2 * np.cos(np.radians(lat))
        return det * _label_sums(weight, lab, n)
    unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return count * det * unit**2


def _polygons(labels: NDArray[np.int32], n: int, transform: Affine) -> list[Any]:
    """One (Multi)Polygon per label ``1..n`` in map coordinates."""
    # 4-connected polygonising gives valid rings; 8-connected would join diagonal neighbours through
    # a self-touching ring, which is invalid. Diagonal parts are merged per label afterwards.
    parts = [
        (shapely.geometry.shape(geom), int(value))
        for geom, value in rasterio.features.shapes(
            labels, mask=labels > 0, transform=transform, connectivity=4
        )
    ]
    grouped: list[list[Any]] = [[] for _ in range(n)]
    for geom, value in parts:
        grouped[value - 1].append(geom)
    polygons = []
    for group in grouped:
        geom = group[0] if len(group) == 1 else shapely.union_all(group)
        polygons.append(geom if geom.is_valid else shapely.make_valid(geom))
    return polygons


def vectorise_detections(
    mask: ArrayLike,
    probability: ArrayLike,
    *,
    transform: Affine,
    crs: Any,
    dem: ArrayLike | None = None,
    slope: ArrayLike | None = None,
    aspect: ArrayLike | None = None,
    target_type: str = "deformation",
    detector: str = "fringenet",
    min_pixels: int = 1,
    seen: str | None = None,
    pixel_spacing_m: tuple[float, float] | None = None,
) -> gpd.GeoDataFrame:
    """Turn a detection mask into target polygons with the inventory's attribute columns.

    Parameters
    ----------
    mask
        ``(H, W)`` detections (truthy = detected), after any post-filters.
    probability
        ``(H, W)`` deformation probability in [0, 1]; NaN pixels are ignored in the scores.
    transform, crs
        Georeferencing of the grid (``affine.Affine``; anything :class:`pyproj.CRS` accepts). ``crs``
        None is radar geometry: polygons are then in the coordinates of ``transform`` (pass the identity
        for pixel coordinates, x = column, y = row), ``lon``/``lat`` are NaN and an ``area_px`` column
        (pixel count) follows the contract's columns.
    dem, slope, aspect
        Optional ``(H, W)`` elevation (m), slope (deg) and aspect (deg clockwise from north);
        their per-target means fill ``elevation_m``, ``slope_deg`` and ``aspect_deg`` (a circular
        mean in [0, 360)), NaN where a layer is absent.
    target_type, detector
        Written to every row.
    min_pixels
        Components smaller than this (pixels, 8-connected) are dropped before numbering.
    seen
        ISO date for ``first_seen`` and ``last_seen``; default today's UTC date.
    pixel_spacing_m
        Without a CRS only: ground metres per row and per column, for ``area_m2`` (NaN without it).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per component in label order (raster scan of each component's first pixel), with
        provisional ids ``T000001, T000002, ...``, in ``crs``. ``score_mean`` / ``score_max`` are over
        the component's pixels; ``area_m2`` is pixel count times ground pixel area (geographic grids
        converted at each pixel's latitude); ``lon`` / ``lat`` are the WGS84 position of the mean
        pixel centre; ``xmin..ymax`` the polygon bounds in ``crs``. An empty mask gives an empty
        frame with the same columns and CRS.
    """
    detected = np.asarray(mask)
    if detected.ndim != 2:
        raise InputError("mask", f"expected a 2-D (H, W) mask, got shape {detected.shape}")
    shape = detected.shape
    prob = _layer(probability, shape, "probability")
    assert prob is not None
    dem_a, slope_a, aspect_a = (
        _layer(v, shape, n) for v, n in ((dem, "dem"), (slope, "slope"), (aspect, "aspect"))
    )
    layer_crs = None if crs is None else CRS.from_user_input(crs)
    date = check_iso_date(seen if seen is not None else dt.datetime.now(dt.UTC).date().isoformat())

    kept = remove_small_objects(detected, min_pixels)
    labels, n = ndimage.label(kept, structure=EIGHT_CONNECTED, output=np.int32)
    if n == 0:
        empty = empty_targets(layer_crs)
        if layer_crs is None:
            empty[PIXEL_AREA_COLUMN] = pd.Series(dtype=float)
        return empty
    index = np.arange(1, n + 1)

    inside = labels > 0
    rows, cols = np.nonzero(inside)  # row-major, the order of labels[inside]
    lab = labels[inside]
    score_mean = _nanmean_labels(prob, inside, lab, n)
    finite = np.isfinite(prob)
    # ndimage.maximum sorts what it is given: only the labelled pixels, not the scene
    score_max = np.asarray(ndimage.maximum(np.where(finite, prob, -np.inf)[inside], lab, index), dtype=float)
    score_max[~np.isfinite(score_max)] = np.nan

    # Mean pixel centre (col + 0.5, row + 0.5) mapped through the affine transform.
    count = _label_sums(np.ones(lab.size), lab, n)
    col = _label_sums(cols, lab, n) / count + 0.5
    row = _label_sums(rows, lab, n) / count + 0.5
    x = transform.a * col + transform.b * row + transform.c
    y = transform.d * col + transform.e * row + transform.f
    if layer_crs is None:  # radar geometry: no position on the Earth, areas only from a given spacing
        lon = lat = np.full(n, np.nan)
        spacing = pixel_spacing_m
        area = count * spacing[0] * spacing[1] if spacing is not None else np.full(n, np.nan)
    else:
        to_wgs84 = Transformer.from_crs(layer_crs, CRS.from_epsg(4326), always_xy=True)
        lon, lat = to_wgs84.transform(np.asarray(x), np.asarray(y))
        area = _pixel_area_m2(count, rows, cols, lab, n, transform, layer_crs)

    geometry = gpd.GeoSeries(_polygons(labels, n, transform), crs=layer_crs)
    bounds = geometry.bounds
    columns: dict[str, Any] = {
        "target_id": [format_target_id(k) for k in index],
        "score_mean": score_mean,
        "score_max": score_max,
        "area_m2": area,
        "lon": np.asarray(lon, dtype=float),
        "lat": np.asarray(lat, dtype=float),
        "xmin": bounds["minx"].to_numpy(),
        "ymin": bounds["miny"].to_numpy(),
        "xmax": bounds["maxx"].to_numpy(),
        "ymax": bounds["maxy"].to_numpy(),
        "elevation_m": _nanmean_labels(dem_a, inside, lab, n),
        "slope_deg": _nanmean_labels(slope_a, inside, lab, n),
        "aspect_deg": _circular_mean_deg(aspect_a, inside, lab, n),
        "target_type": [target_type] * n,
        "detector": [detector] * n,
        "first_seen": [date] * n,
        "last_seen": [date] * n,
    }
    assert tuple(columns) == TARGET_COLUMNS
    if layer_crs is None:
        columns[PIXEL_AREA_COLUMN] = count
    table = gpd.GeoDataFrame(columns, geometry=geometry, crs=layer_crs)
    for name in ("target_id", "target_type", "detector", "first_seen", "last_seen"):
        table[name] = table[name].astype(object)
    return table


def to_geojson(gdf: gpd.GeoDataFrame, path: str | PathLike[str]) -> Path:
    """Write targets to ``path`` as EPSG:4326 GeoJSON (RFC 7946: lon/lat order), atomically.

    Raises :class:`InputError` when ``gdf`` has no CRS (radar geometry: see :func:`write_detections`).

    Notes
    -----
    GDAL's GeoJSON reader guesses field types and reads ids like ``"T000001"`` as times; read the
    file back with ``geopandas.read_file(path, engine="pyogrio", DATE_AS_STRING="YES")``.
    """
    if gdf.crs is None:
        raise InputError("detections", "have no CRS; cannot write GeoJSON in EPSG:4326")
    path = Path(path)
    wgs84 = gdf.to_crs(epsg=4326)
    with atomic_path(path) as tmp:
        wgs84.to_file(
            tmp, layer=path.stem, driver="GeoJSON", engine="pyogrio", geometry_type="Unknown", RFC7946="YES"
        )
    return path


def write_detections(gdf: gpd.GeoDataFrame, out_dir: str | PathLike[str]) -> Path:
    """Write a run's targets into ``out_dir``: ``detections.geojson`` (EPSG:4326) for a grid with a CRS,
    ``detections.gpkg`` (layer ``targets``, no CRS, pixel coordinates) in radar geometry.

    GeoJSON has no way to say "not EPSG:4326" (RFC 7946; readers assume lon/lat), so pixel-coordinate
    polygons go into a GeoPackage, whose layer records the undefined CRS. The other file of the pair is
    removed, so a folder never holds both.
    """
    out = Path(out_dir)
    geojson, gpkg = out / "detections.geojson", out / "detections.gpkg"
    if gdf.crs is not None:
        gpkg.unlink(missing_ok=True)
        return to_geojson(gdf, geojson)
    geojson.unlink(missing_ok=True)
    with atomic_path(gpkg) as tmp:
        gdf.to_file(
            tmp, layer=PIXEL_LAYER, driver="GPKG", engine="pyogrio", promote_to_multi=True,
            geometry_type="MultiPolygon", layer_metadata={"fringenet_coordinates": "pixel (column, row)"},
        )  # fmt: skip
    return gpkg


def detections_path(run_dir: str | PathLike[str]) -> Path | None:
    """The targets file of a run folder (``detections.geojson`` or ``detections.gpkg``), None if neither."""
    for name in ("detections.geojson", "detections.gpkg"):
        path = Path(run_dir) / name
        if path.is_file():
            return path
    return None


def read_detections(path: str | PathLike[str]) -> gpd.GeoDataFrame:
    """Read a file of :func:`write_detections` (ids kept as strings; no CRS for pixel coordinates)."""
    path = Path(path)
    if path.suffix == ".gpkg":
        return gpd.read_file(path, layer=PIXEL_LAYER, engine="pyogrio")
    return gpd.read_file(path, engine="pyogrio", DATE_AS_STRING="YES")
