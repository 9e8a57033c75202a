"""Detection masks to target polygons (attributes, georeferencing), and the slope / size post-filters."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio.features
from affine import Affine
from pyproj import Transformer

from fringenet.detect.filters import (
    DEFAULT_MIN_SLOPE_DEG,
    default_min_slope,
    detection_mask,
    remove_small_objects,
    slope_filter,
)
from fringenet.detect.vectorise import to_geojson, vectorise_detections
from fringenet.errors import InputError
from fringenet.io.inventory import TARGET_COLUMNS

UTM = "EPSG:32632"
LEFT, TOP, PIXEL = 500_000.0, 5_000_000.0, 30.0
TRANSFORM = Affine(PIXEL, 0.0, LEFT, 0.0, -PIXEL, TOP)
SHAPE = (20, 24)
SEEN = "2024-06-01"


def _two_blobs() -> tuple[np.ndarray, np.ndarray]:
    """Blob A: rows 2-4 x cols 3-6 (12 px). Blob B: an L (6 px) plus a diagonal-only pixel (7 px)."""
    mask = np.zeros(SHAPE, bool)
    mask[2:5, 3:7] = True
    mask[10:14, 10] = True
    mask[13, 11:13] = True
    mask[14, 13] = True  # touches B only at a corner: same target under 8-connectivity
    probability = np.full(SHAPE, 0.1)
    probability[2:5, 3:7] = np.linspace(0.5, 0.9, 12).reshape(3, 4)
    probability[mask & (np.arange(SHAPE[0])[:, None] >= 10)] = 0.7
    probability[14, 13] = np.nan  # no-data pixel inside a target: ignored by the scores
    return mask, probability


def test_two_blobs_give_two_targets_with_contract_attributes() -> None:
    mask, probability = _two_blobs()
    gdf = vectorise_detections(
        mask, probability, transform=TRANSFORM, crs=UTM, target_type="landslide", detector="unet", seen=SEEN
    )
    assert list(gdf.columns) == [*TARGET_COLUMNS, "geometry"]
    assert gdf.crs.to_epsg() == 32632
    assert gdf["target_id"].tolist() == ["T000001", "T000002"]
    np.testing.assert_allclose(gdf["area_m2"], [12 * 900.0, 7 * 900.0])
    np.testing.assert_allclose(gdf["score_mean"], [0.7, 0.7])
    np.testing.assert_allclose(gdf["score_max"], [0.9, 0.7])
    # Bounding boxes in the layer CRS, from pixel edges.
    np.testing.assert_allclose(
        gdf.loc[0, ["xmin", "ymin", "xmax", "ymax"]].astype(float),
        [LEFT + 3 * PIXEL, TOP - 5 * PIXEL, LEFT + 7 * PIXEL, TOP - 2 * PIXEL],
    )
    np.testing.assert_allclose(
        gdf.loc[1, ["xmin", "ymin", "xmax", "ymax"]].astype(float),
        [LEFT + 10 * PIXEL, TOP - 15 * PIXEL, LEFT + 14 * PIXEL, TOP - 10 * PIXEL],
    )
    # Centroid = mean pixel centre, in WGS84.
    to_wgs84 = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    rows, cols = np.nonzero(mask[:6])
    lon, lat = to_wgs84.transform(LEFT + (cols.mean() + 0.5) * PIXEL, TOP - (rows.mean() + 0.5) * PIXEL)
    assert gdf.loc[0, "lon"] == pytest.approx(lon, abs=1e-9)
    assert gdf.loc[0, "lat"] == pytest.approx(lat, abs=1e-9)
    assert gdf["target_type"].tolist() == ["landslide"] * 2 and gdf["detector"].tolist() == ["unet"] * 2
    assert gdf["first_seen"].tolist() == [SEEN, SEEN] and gdf["last_seen"].tolist() == [SEEN, SEEN]
    assert gdf[["elevation_m", "slope_deg", "aspect_deg"]].isna().all().all()


def test_polygons_cover_exactly_the_component_pixels() -> None:
    mask, probability = _two_blobs()
    gdf = vectorise_detections(mask, probability, transform=TRANSFORM, crs=UTM, seen=SEEN)
    assert gdf.geometry.is_valid.all()
    assert gdf.geom_type.tolist() == ["Polygon", "MultiPolygon"]  # B's corner pixel is a separate part
    np.testing.assert_allclose(gdf.geometry.area, gdf["area_m2"])
    for k, geom in enumerate(gdf.geometry, start=1):
        burnt = rasterio.features.rasterize([(geom, 1)], out_shape=SHAPE, transform=TRANSFORM).astype(bool)
        rows = slice(0, 6) if k == 1 else slice(6, None)
        expected = np.zeros(SHAPE, bool)
        expected[rows] = mask[rows]
        np.testing.assert_array_equal(burnt, expected)


def test_terrain_means_with_circular_aspect() -> None:
    mask, probability = _two_blobs()
    dem = np.full(SHAPE, 1000.0)
    dem[2, 3] = np.nan  # DEM void: left out of the mean, not counted as 0
    dem[mask & (np.arange(SHAPE[0])[:, None] >= 10)] = 2000.0
    slope = np.full(SHAPE, 20.0)
    aspect = np.full(SHAPE, 90.0)
    aspect[2:5, 3:5], aspect[2:5, 5:7] = 350.0, 10.0  # arithmetic mean 180, circular mean 0 (north)
    gdf = vectorise_detections(
        mask, probability, transform=TRANSFORM, crs=UTM, dem=dem, slope=slope, aspect=aspect, seen=SEEN
    )
    np.testing.assert_allclose(gdf["elevation_m"], [1000.0, 2000.0])
    np.testing.assert_allclose(gdf["slope_deg"], [20.0, 20.0])
    np.testing.assert_allclose(gdf["aspect_deg"], [0.0, 90.0], atol=1e-9)


def test_empty_mask_gives_empty_frame_with_columns_and_crs() -> None:
    gdf = vectorise_detections(
        np.zeros(SHAPE, bool), np.zeros(SHAPE), transform=TRANSFORM, crs=UTM, seen=SEEN
    )
    assert len(gdf) == 0
    assert list(gdf.columns) == [*TARGET_COLUMNS, "geometry"]
    assert gdf.crs.to_epsg() == 32632


def test_min_pixels_drops_small_targets_and_renumbers() -> None:
    mask, probability = _two_blobs()
    gdf = vectorise_detections(mask, probability, transform=TRANSFORM, crs=UTM, min_pixels=8, seen=SEEN)
    assert gdf["target_id"].tolist() == ["T000001"]
    assert gdf.loc[0, "area_m2"] == pytest.approx(12 * 900.0)


def test_geographic_grid_area_matches_equal_area_projection() -> None:
    mask = np.zeros((40, 40), bool)
    mask[5:30, 8:33] = True
    transform = Affine(0.001, 0.0, 10.0, 0.0, -0.001, 60.0)
    gdf = vectorise_detections(mask, mask.astype(float), transform=transform, crs="EPSG:4326", seen=SEEN)
    equal_area = gdf.to_crs("+proj=laea +lat_0=60 +lon_0=10 +datum=WGS84").geometry.area.iloc[0]
    assert gdf.loc[0, "area_m2"] == pytest.approx(equal_area, rel=0.01)
    assert gdf.loc[0, "lon"] == pytest.approx(10.0 + 0.001 * 20.5)


def test_bad_inputs_raise_input_error() -> None:
    mask, probability = _two_blobs()
    with pytest.raises(InputError, match="probability"):
        vectorise_detections(mask, probability[:5], transform=TRANSFORM, crs=UTM, seen=SEEN)
    with pytest.raises(InputError, match="ISO date"):
        vectorise_detections(mask, probability, transform=TRANSFORM, crs=UTM, seen="1 June")


def test_to_geojson_writes_wgs84(tmp_path: Path) -> None:
    mask, probability = _two_blobs()
    gdf = vectorise_detections(mask, probability, transform=TRANSFORM, crs=UTM, seen=SEEN)
    path = to_geojson(gdf, tmp_path / "detections.geojson")
    back = gpd.read_file(path, engine="pyogrio", DATE_AS_STRING="YES")
    assert back.crs.to_epsg() == 4326
    assert back["target_id"].tolist() == ["T000001", "T000002"]
    np.testing.assert_allclose(back.geometry.to_crs(UTM).area, gdf["area_m2"], rtol=1e-4)
    assert [p.name for p in tmp_path.iterdir()] == ["detections.geojson"]


def test_slope_filter_drops_flat_pixels_and_keeps_unknown_slope() -> None:
    mask = np.array([[True, True, True, True, False]])
    slope = np.array([[5.0, 15.0, np.nan, 10.0, 30.0]])
    np.testing.assert_array_equal(slope_filter(mask, slope, 10.0), [[False, True, True, True, False]])
    np.testing.assert_array_equal(slope_filter(mask, slope, None), mask)
    with pytest.raises(InputError, match="slope"):
        slope_filter(mask, slope[:, :3])
    assert DEFAULT_MIN_SLOPE_DEG["landslide"] == 10.0 and DEFAULT_MIN_SLOPE_DEG["subsidence"] is None
    assert default_min_slope("Rock-Glacier") == 10.0 and default_min_slope("unknown") is None


def test_remove_small_objects_is_eight_connected() -> None:
    mask = np.zeros((6, 6), bool)
    mask[0, 0] = mask[1, 1] = True  # diagonal pair: one 2-pixel object
    mask[4, 4] = True  # single pixel
    mask[3:5, 0:2] = True  # 4-pixel square
    kept = remove_small_objects(mask, 2)
    expected = mask.copy()
    expected[4, 4] = False
    np.testing.assert_array_equal(kept, expected)
    square_only = np.zeros_like(mask)
    square_only[3:5, 0:2] = True
    np.testing.assert_array_equal(remove_small_objects(mask, 3), square_only)
    np.testing.assert_array_equal(remove_small_objects(mask, 2, connectivity=4), square_only)


def test_detection_mask_grows_seeds_over_connected_weaker_pixels_only() -> None:
    p = np.zeros((6, 8), np.float32)
    p[1, 1], p[1, 2], p[2, 2] = 0.9, 0.6, 0.55  # a seed and its weaker, connected edge
    p[4, 6] = 0.6  # weak, alone: no seed reaches it
    p[0, 7] = np.nan
    alone = detection_mask(p, 0.7)
    assert alone.sum() == 1 and alone[1, 1]
    grown = detection_mask(p, 0.7, 0.5)
    assert grown.sum() == 3 and grown[1, 1] and grown[1, 2] and grown[2, 2] and not grown[4, 6]
    np.testing.assert_array_equal(detection_mask(p, 0.7, 0.8), alone)  # a grow threshold above: no growth
    np.testing.assert_array_equal(detection_mask(p, 0.5), np.nan_to_num(p) >= 0.5)


def test_detection_mask_is_skimages_hysteresis() -> None:
    from scipy import ndimage
    from skimage.filters import apply_hysteresis_threshold

    field = ndimage.gaussian_filter(np.random.default_rng(5).normal(size=(120, 90)), 3)
    p = (field - field.min()) / (field.max() - field.min())
    np.testing.assert_array_equal(detection_mask(p, 0.8, 0.5), apply_hysteresis_threshold(p, 0.5, 0.8))
