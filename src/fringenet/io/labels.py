"""Deformation inventories (polygons) read from vector files and burnt onto a product's grid."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio.features
import xarray as xr

from fringenet.errors import InputError
from fringenet.io.schema import VARIABLES


def read_inventory(path: str | PathLike[str], *, layer: str | int | None = None) -> gpd.GeoDataFrame:
    """Read a vector inventory (GeoJSON, Shapefile, GeoPackage, KML, ...) with pyogrio.

    Rows with empty or missing geometry are dropped; an inventory left with none raises
    :class:`InputError`, as do missing and unreadable files.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found")
    try:
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as err:  # pyogrio/GDAL raise several types for a corrupt file
        raise InputError(path, f"not a readable vector file ({type(err).__name__}: {err})") from err
    if not isinstance(gdf, gpd.GeoDataFrame) or "geometry" not in gdf:
        raise InputError(path, "file holds no geometries")
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if gdf.empty:
        raise InputError(path, "inventory holds no features with geometry")
    return gdf


def rasterize_inventory(
    inventory_or_path: gpd.GeoDataFrame | str | PathLike[str],
    like: xr.Dataset | xr.DataArray,
    all_touched: bool = False,
) -> xr.DataArray:
    """Burn inventory polygons onto the grid of ``like`` as a uint8 ``label`` (1 inside, 0 outside).

    Parameters
    ----------
    inventory_or_path
        A GeoDataFrame or a vector file for :func:`read_inventory`.
    like
        A georeferenced product; its CRS, transform and ``(y, x)`` shape define the grid.
    all_touched
        Burn every pixel a polygon touches (True) or only those whose centre is inside (False).

    Returns
    -------
    xarray.DataArray
        ``(y, x)`` uint8 named ``label``, with ``like``'s coords and CRS. Vectors in another CRS
        are reprojected first; either side lacking a CRS raises :class:`InputError`.
    """
    if isinstance(inventory_or_path, gpd.GeoDataFrame):
        gdf, source = inventory_or_path, "inventory"
    else:
        gdf, source = read_inventory(inventory_or_path), str(inventory_or_path)
    if gdf.crs is None:
        raise InputError(source, "inventory has no CRS; cannot place it on the product's grid")
    grid_crs = like.rio.crs
    if grid_crs is None:
        raise InputError(
            like.encoding.get("source", "product"), "product has no CRS; cannot place the inventory"
        )
    if gdf.crs != grid_crs:
        gdf = gdf.to_crs(grid_crs.to_wkt())
    height, width = like.sizes["y"], like.sizes["x"]
    shapes = [(geom, 1) for geom in gdf.geometry if geom is not None and not geom.is_empty]
    burnt = rasterio.features.rasterize(
        shapes,
        out_shape=(height, width),
        transform=like.rio.transform(),
        fill=0,
        all_touched=all_touched,
        dtype=np.uint8,
    )
    spec = VARIABLES["label"]
    da = xr.DataArray(
        burnt,
        dims=("y", "x"),
        coords={"y": like["y"].values, "x": like["x"].values},
        name="label",
        attrs={"units": spec.units, "long_name": spec.long_name},
    )
    return da.rio.write_crs(grid_crs).rio.write_transform(like.rio.transform())
