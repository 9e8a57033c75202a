"""Vector inventories: reading, and burning them onto a product grid with reprojection."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import Polygon, box

from fringenet.errors import InputError
from fringenet.io.labels import rasterize_inventory, read_inventory
from fringenet.io.schema import make_dataset

UTM = "EPSG:32633"
TOP, LEFT, PIXEL = 4_500_000.0, 500_000.0, 10.0
GRID = make_dataset(
    {"coherence": np.ones((50, 60))}, transform=Affine(PIXEL, 0, LEFT, 0, -PIXEL, TOP), crs=UTM
)


def _utm_square_in_wgs84(rows: slice, cols: slice) -> gpd.GeoDataFrame:
    """The pixel window ``rows x cols`` of GRID as a polygon, converted to EPSG:4326."""
    square = box(
        LEFT + cols.start * PIXEL, TOP - rows.stop * PIXEL, LEFT + cols.stop * PIXEL, TOP - rows.start * PIXEL
    )
    utm = gpd.GeoDataFrame({"name": ["sinkhole"]}, geometry=[square.segmentize(1.0)], crs=UTM)
    return utm.to_crs("EPSG:4326")


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".shp", ".kml"])
def test_wgs84_polygon_lands_on_the_right_utm_pixels(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"inventory{suffix}"
    _utm_square_in_wgs84(slice(10, 20), slice(20, 35)).to_file(path)
    inventory = read_inventory(path)
    assert inventory.crs.to_epsg() == 4326 and len(inventory) == 1
    label = rasterize_inventory(path, GRID)
    expected = np.zeros((50, 60), np.uint8)
    expected[10:20, 20:35] = 1
    np.testing.assert_array_equal(label.values, expected)
    assert label.dtype == np.uint8 and label.name == "label" and label.rio.crs == UTM
    np.testing.assert_array_equal(label["x"].values, GRID["x"].values)


def test_all_touched_burns_every_pixel_a_polygon_touches() -> None:
    # a triangle whose edges cut through pixels: all_touched can only add pixels
    tri = Polygon([(LEFT + 55, TOP - 55), (LEFT + 255, TOP - 55), (LEFT + 55, TOP - 255)])
    gdf = gpd.GeoDataFrame(geometry=[tri], crs=UTM)
    centres = rasterize_inventory(gdf, GRID).values
    touched = rasterize_inventory(gdf, GRID["coherence"], all_touched=True).values
    assert centres.sum() > 0 and touched.sum() > centres.sum()
    assert np.all(touched >= centres)
    # area check: 200 m x 200 m / 2 = 20000 m2 = 200 pixels of 100 m2, to within the edge pixels
    assert abs(int(centres.sum()) - 200) < 25


def test_inventory_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_inventory(tmp_path / "absent.geojson")
    (tmp_path / "corrupt.geojson").write_text("{ not json")
    with pytest.raises(InputError, match=r"corrupt\.geojson: not a readable vector file"):
        read_inventory(tmp_path / "corrupt.geojson")
    (tmp_path / "empty.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(InputError, match=r"empty\.geojson.*no features"):
        read_inventory(tmp_path / "empty.geojson")
    no_crs = gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)])
    with pytest.raises(InputError, match="inventory has no CRS"):
        rasterize_inventory(no_crs, GRID)
    bare = make_dataset({"coherence": np.ones((4, 4))})
    with pytest.raises(InputError, match="product has no CRS"):
        rasterize_inventory(gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)], crs=UTM), bare)
