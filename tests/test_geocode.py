"""Geocoding radar-geometry outputs with lookup tables (issue 14): ISCE lat/lon, MintPy geometryRadar.h5,
GAMMA lookup tables with their DEM par; detect and its targets in EPSG:4326."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import h5py
import numpy as np
import pytest
import rasterio
import shapely
from typer.testing import CliRunner

import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)
from bundles import tiny_bundle
from fringenet.cli import app
from fringenet.errors import InputError
from fringenet.io.lookup import geocode_polygons, geocode_raster, lonlat_at, read_lookup

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.filterwarnings("ignore::UserWarning")]

H, W = 40, 48  # not square: a swapped row/column shows
# a descending-track-like geometry: rows run south and a little east, columns east and a little north
LAT0, LON0 = 46.0, 7.0
D_LAT = np.array([-0.0009, 0.0002])  # per (row, column)
D_LON = np.array([0.0003, 0.0012])


def _truth(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude of the pixel centre (row, col)."""
    return LAT0 + D_LAT[0] * rows + D_LAT[1] * cols, LON0 + D_LON[0] * rows + D_LON[1] * cols


def _grid_truth() -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[0:H, 0:W].astype(float)
    return _truth(rows, cols)


def _write_isce(folder: Path) -> Path:
    lat, lon = _grid_truth()
    folder.mkdir(parents=True, exist_ok=True)
    for name, values in (("lat.rdr", lat), ("lon.rdr", lon)):
        values.astype("<f8").tofile(folder / name)
        (folder / f"{name}.xml").write_text(
            f"<imageFile><property name='width'><value>{W}</value></property>"
            f"<property name='length'><value>{H}</value></property>"
            "<property name='data_type'><value>DOUBLE</value></property>"
            "<property name='scheme'><value>BIL</value></property>"
            "<property name='number_bands'><value>1</value></property>"
            "<property name='byte_order'><value>l</value></property></imageFile>"
        )
    return folder / "lat.rdr"


def _write_mintpy(path: Path) -> Path:
    lat, lon = _grid_truth()
    with h5py.File(path, "w") as h5:
        h5["latitude"], h5["longitude"] = lat.astype(np.float32), lon.astype(np.float32)
        h5["height"] = np.zeros((H, W), np.float32)
    return path


def _write_gamma(folder: Path) -> Path:
    """A GAMMA lookup table on an EQA DEM grid: (range sample, azimuth line) of each DEM pixel, 0 outside."""
    folder.mkdir(parents=True, exist_ok=True)
    post_lat, post_lon = -0.0003, 0.0004
    lat, lon = _grid_truth()
    north, west = lat.max() + 0.001, lon.min() - 0.001
    nlines = int((north - lat.min() + 0.002) / -post_lat)
    width = int((lon.max() + 0.002 - west) / post_lon)
    dem_rows, dem_cols = np.mgrid[0:nlines, 0:width].astype(float)
    dem_lat, dem_lon = north + dem_rows * post_lat, west + dem_cols * post_lon
    jacobian = np.array([D_LAT, D_LON])  # d(lat, lon) / d(row, col)
    rc = np.linalg.solve(jacobian, np.stack([(dem_lat - LAT0).ravel(), (dem_lon - LON0).ravel()]))
    row, col = rc[0].reshape(nlines, width), rc[1].reshape(nlines, width)
    inside = (row >= 0) & (row <= H - 1) & (col >= 0) & (col <= W - 1)
    table = np.where(inside, col + 1j * row, 0).astype(">c8")
    table.tofile(folder / "20200101.lt_fine")
    (folder / "dem_seg.par").write_text(
        "Gamma DIFF&GEO DEM/MAP parameter file\n"
        "title: test\nDEM_projection:     EQA\ndata_format:        REAL*4\n"
        f"width:              {width}\nnlines:             {nlines}\n"
        f"corner_lat:     {north:.8f}  decimal degrees\ncorner_lon:     {west:.8f}  decimal degrees\n"
        f"post_lat:   {post_lat:.8e}  decimal degrees\npost_lon:   {post_lon:.8e}  decimal degrees\n"
    )
    return folder / "20200101.lt_fine"


@pytest.mark.parametrize("form", ["isce", "mintpy", "gamma"])
def test_every_form_gives_the_latitude_and_longitude_of_each_radar_pixel(tmp_path: Path, form: str) -> None:
    path = {"isce": _write_isce, "mintpy": lambda p: _write_mintpy(p / "geometryRadar.h5"),
            "gamma": _write_gamma}[form](tmp_path)  # fmt: skip
    lookup = read_lookup(path, (H, W))
    lat, lon = _grid_truth()
    # the GAMMA inversion interpolates over DEM pixels: exact for this affine geometry inside its hull
    known = np.isfinite(lookup.latitude)
    assert known.mean() > 0.9
    np.testing.assert_allclose(lookup.latitude[known], lat[known], atol=2e-6)
    np.testing.assert_allclose(lookup.longitude[known], lon[known], atol=2e-6)


def test_a_folder_is_searched_for_its_lookup(tmp_path: Path) -> None:
    _write_isce(tmp_path / "geom")
    assert read_lookup(tmp_path / "geom", (H, W)).source == "lat.rdr + lon.rdr"


def test_polygons_and_rasters_are_geocoded(tmp_path: Path) -> None:
    lookup = read_lookup(_write_isce(tmp_path), (H, W))
    # a pixel-edge vertex (col 10, row 20) lies half a pixel before the centre of pixel (20, 10)
    lon, lat = lonlat_at(lookup, np.array([10.5]), np.array([20.5]))
    true_lat, true_lon = _truth(np.array([20.0]), np.array([10.0]))
    np.testing.assert_allclose([lat[0], lon[0]], [true_lat[0], true_lon[0]], atol=1e-9)
    box = gpd.GeoDataFrame({"target_id": ["T1"], "lon": [np.nan], "lat": [np.nan]},
                           geometry=[shapely.box(10, 20, 20, 30)])  # fmt: skip
    geo = geocode_polygons(box, lookup)
    assert geo.crs.to_epsg() == 4326
    c_lat, c_lon = _truth(np.array([24.5]), np.array([14.5]))
    np.testing.assert_allclose([geo["lat"][0], geo["lon"][0]], [c_lat[0], c_lon[0]], atol=1e-9)
    mask = np.zeros((H, W), np.uint8)
    mask[20:30, 10:20] = 1
    grid, transform = geocode_raster(mask, lookup, fill=np.uint8(0))
    assert grid.dtype == np.uint8 and transform.e < 0 < transform.a
    rows, cols = np.nonzero(grid)
    lon_px, lat_px = transform * (cols + 0.5, rows + 0.5)
    inside = shapely.contains_xy(geo.geometry[0], lon_px, lat_px)
    assert inside.mean() > 0.9  # the geocoded mask falls inside the geocoded polygon (nearest-pixel edges)


def test_bad_lookups_are_refused_clearly(tmp_path: Path) -> None:
    lat = _write_isce(tmp_path / "isce")
    with pytest.raises(InputError, match="lookup is 40 x 48 px, the product's radar grid 20 x 24"):
        read_lookup(lat, (20, 24))
    (tmp_path / "isce" / "lon.rdr").unlink()
    with pytest.raises(InputError, match="without its longitude twin"):
        read_lookup(lat, (H, W))
    table = _write_gamma(tmp_path / "gamma")
    (tmp_path / "gamma" / "dem_seg.par").unlink()
    with pytest.raises(InputError, match="without a DEM par"):
        read_lookup(table, (H, W))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no lookup"):
        read_lookup(tmp_path / "empty", (H, W))
    with pytest.raises(InputError, match="not found"):
        read_lookup(tmp_path / "nothing.lt", (H, W))


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bundle(tmp_path_factory.mktemp("bundle") / "detector")


def _run_geocoded(
    command: str, product: Path, detector: Path, tmp_path: Path, *extra: str
) -> gpd.GeoDataFrame:
    """``command`` on a radar-geometry ``product`` with the MintPy lookup at threshold 0 (the whole scene is
    one target); its targets, checked to be that scene in EPSG:4326."""
    lookup = _write_mintpy(tmp_path / "geometryRadar.h5")
    result = CliRunner().invoke(app, [
        command, str(product), "--out", str(tmp_path / "run"), "--model", str(detector), "--mask", "none",
        "--threshold", "0", "--lookup", str(lookup), "--scheduler", "inline", *extra,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "geocoded with geometryRadar.h5" in result.output
    targets = gpd.read_file(tmp_path / "run" / "detections.geojson")
    assert targets.crs.to_epsg() == 4326 and len(targets) == 1
    lat, lon = _grid_truth()
    # pixel edges lie half a pixel (< 0.001 deg here) outside the outermost pixel centres
    np.testing.assert_allclose(targets.total_bounds, [lon.min(), lat.min(), lon.max(), lat.max()], atol=1e-3)
    return targets


def test_detect_with_a_lookup_writes_targets_and_rasters_in_lon_lat(detector: Path, tmp_path: Path) -> None:
    phase = np.random.default_rng(0).uniform(-3, 3, (H, W))
    _run_geocoded("detect", _radar_tif(tmp_path / "ifg_20200101_20200113.tif", phase), detector, tmp_path)
    assert not (tmp_path / "run" / "detections.gpkg").exists()
    with rasterio.open(tmp_path / "run" / "probability_geo.tif") as src:
        assert src.crs.to_epsg() == 4326
    with rasterio.open(tmp_path / "run" / "probability.tif") as src:
        assert src.crs is None  # the radar-grid rasters stay as they were


def test_a_lookup_of_another_grid_fails_before_the_scan(detector: Path, tmp_path: Path) -> None:
    product = tmp_path / "ifg_20200101_20200113.tif"
    phase = np.random.default_rng(0).uniform(-3, 3, (H + 4, W)).astype(np.float32)
    with rasterio.open(product, "w", driver="GTiff", height=H + 4, width=W, count=1, dtype="float32") as dst:
        dst.write(phase, 1)
    result = CliRunner().invoke(app, [
        "detect", str(product), "--out", str(tmp_path / "run"), "--model", str(detector), "--mask", "none",
        "--lookup", str(_write_mintpy(tmp_path / "geometryRadar.h5")), "--scheduler", "inline",
    ])  # fmt: skip
    assert result.exit_code == 2 and "the product's radar grid 44 x 48" in result.output
    assert not (tmp_path / "run").exists()


def _radar_tif(path: Path, data: np.ndarray) -> Path:
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=1, dtype="float32") as dst:
        dst.write(data.astype(np.float32), 1)
    return path


def test_timeseries_and_unwrap_write_geocoded_rasters_beside_the_radar_ones(tmp_path: Path) -> None:
    lookup = _write_mintpy(tmp_path / "geometryRadar.h5")
    rng = np.random.default_rng(1)
    stack = tmp_path / "stack"
    stack.mkdir()
    for pair in ("20200101_20200113", "20200113_20200125", "20200101_20200125"):
        _radar_tif(stack / f"{pair}_unw.tif", rng.normal(0, 0.3, (H, W)))
    result = CliRunner().invoke(
        app, ["timeseries", str(stack), "--out", str(tmp_path / "ts"), "--lookup", str(lookup)]
    )
    assert result.exit_code == 0, result.output
    assert "geocoded with geometryRadar.h5" in result.output
    with rasterio.open(tmp_path / "ts" / "velocity_geo.tif") as src:
        assert src.crs.to_epsg() == 4326 and np.isfinite(src.read(1)).any()
    assert (tmp_path / "ts" / "velocity_std_geo.tif").exists()
    pair = _radar_tif(tmp_path / "ifg_20200101_20200113_wrapped.tif", rng.uniform(-3, 3, (H, W)))
    out = tmp_path / "unw.tif"
    result = CliRunner().invoke(app, ["unwrap", str(pair), "--out", str(out), "--lookup", str(lookup)])
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "unw_geo.tif") as src:
        assert src.crs.to_epsg() == 4326
    with rasterio.open(out) as src:
        assert src.crs is None


def test_monitor_measures_on_the_radar_grid_and_stores_lon_lat_targets(
    detector: Path, tmp_path: Path
) -> None:
    rng = np.random.default_rng(2)
    stack = tmp_path / "stack"
    stack.mkdir()
    for pair in ("20200101_20200113", "20200113_20200125", "20200101_20200125"):
        _radar_tif(stack / f"ifg_{pair}_wrapped.tif", rng.uniform(-3, 3, (H, W)))
    _run_geocoded("monitor", stack, detector, tmp_path, "--slow-motion", "on")
    inventory = gpd.read_file(tmp_path / "run" / "inventory.gpkg", layer="targets")
    assert inventory.crs is not None and len(inventory) == 1
    # the slow-motion stage's velocity on the map grid too; its other rasters stay on the radar grid
    with rasterio.open(tmp_path / "run" / "slow_motion_velocity_geo.tif") as src:
        assert src.crs.to_epsg() == 4326
    with rasterio.open(tmp_path / "run" / "slow_motion_velocity.tif") as src:
        assert src.crs is None


def test_isce_images_gdal_cannot_open_are_read_from_their_xml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rasterio.errors import RasterioIOError

    def refuse(*args: object, **kwargs: object) -> None:
        raise RasterioIOError("not recognized as a supported file format")

    monkeypatch.setattr(rasterio, "open", refuse)
    lookup = read_lookup(_write_isce(tmp_path / "isce"), (H, W))
    lat, lon = _grid_truth()
    np.testing.assert_allclose(lookup.latitude, lat, atol=1e-12)
    np.testing.assert_allclose(lookup.longitude, lon, atol=1e-12)


def test_a_lookup_without_spacing_is_refused_when_rasters_are_geocoded(tmp_path: Path) -> None:
    from fringenet.io.lookup import RadarLookup

    flat = RadarLookup(np.full((H, W), 46.0), np.full((H, W), 7.0), "flat.h5")
    with pytest.raises(InputError, match=r"flat\.h5.*no pixel spacing"):
        geocode_raster(np.zeros((H, W), np.float32), flat)
