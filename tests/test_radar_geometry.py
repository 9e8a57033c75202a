"""Products in radar geometry (no CRS, issue 14): every command works in pixel coordinates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import h5py
import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from typer.testing import CliRunner

import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)
from bundles import tiny_bundle
from fringenet.cli import app
from fringenet.detect.vectorise import vectorise_detections
from fringenet.errors import InputError
from fringenet.io.inventory import update_inventory
from fringenet.pipeline.radar import RADAR_NOTE, ground_spacing_m, radar_slope_aspect
from fringenet.simulate.config import SimulationConfig
from fringenet.simulate.scene import simulate_stack

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.filterwarnings("ignore::UserWarning")]

HEIGHT, WIDTH = 64, 72  # not square: a swapped row/column shows
UTM = "EPSG:32632"
GRID = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 5_100_000.0)
runner = CliRunner(env={"COLUMNS": "200"})


def run(*args: object) -> tuple[int, str]:
    """Exit code and the output, line wrapping and error box taken out."""
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, " ".join(result.output.replace("│", " ").split())


def _write_stack(folder: Path, sim: xr.Dataset, crs: str | None) -> Path:
    """One GeoTIFF of wrapped phase per pair: without CRS and transform (radar geometry), or on a UTM grid."""
    folder.mkdir(parents=True)
    for k in range(sim.sizes["pair"]):
        pair = sim.isel(pair=k)
        ref, sec = (np.datetime_as_string(pair[c].values, "D").replace("-", "") for c in ("reference_date", "secondary_date"))  # fmt: skip
        data = pair["wrapped_phase"].values.astype(np.float32)
        grid = {} if crs is None else {"crs": crs, "transform": GRID}
        profile = {"driver": "GTiff", "height": HEIGHT, "width": WIDTH, "count": 1, "dtype": "float32"}
        with rasterio.open(folder / f"ifg_{ref}_{sec}.tif", "w", **profile, **grid) as dst:
            dst.write(data, 1)
    return folder


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("radar")
    sim = simulate_stack(
        SimulationConfig(height=HEIGHT, width=WIDTH, n_dates=5, seed=3, scenario="subsidence", n_neighbours=2)
    )
    return {
        "root": root,
        "radar": _write_stack(root / "radar", sim, None),
        "map": _write_stack(root / "map", sim, UTM),
        "detector": tiny_bundle(root / "detector"),  # tiny: fast
    }


def _options(ws: dict[str, Path]) -> list[object]:
    return ["--model", ws["detector"], "--mask", "none", "--scheduler", "inline"]


def _check_raster(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        assert src.crs is None, f"{path.name} has a CRS"
        assert src.transform == Affine.identity() and src.shape == (HEIGHT, WIDTH)
        return src.read(1)


def _check_pixel_targets(path: Path) -> gpd.GeoDataFrame:
    targets = gpd.read_file(path, layer="targets")
    assert targets.crs is None and len(targets) > 0
    xmin, ymin, xmax, ymax = targets.total_bounds
    assert 0 <= xmin < xmax <= WIDTH and 0 <= ymin < ymax <= HEIGHT
    # pixel edges: every vertex is an integer column/row
    vertices = np.concatenate([np.asarray(g.exterior.coords) for p in targets.geometry for g in p.geoms])
    np.testing.assert_array_equal(vertices, np.round(vertices))
    assert targets["lat"].isna().all() and targets["area_m2"].isna().all()
    np.testing.assert_array_equal(targets["area_px"], targets.geometry.area)  # 1 px² per pixel
    return targets


@pytest.fixture(scope="module")
def detected(workspace: dict[str, Path]) -> tuple[Path, str]:
    out = workspace["root"] / "detect"
    code, output = run("detect", workspace["radar"], "--out", out, *_options(workspace))
    assert code == 0, output
    return out, output


def test_detect_writes_pixel_coordinate_outputs(detected: tuple[Path, str]) -> None:
    out, output = detected
    assert f"note: {RADAR_NOTE}" in output and "px²" in output
    probability = _check_raster(out / "probability.tif")
    assert np.isfinite(probability).all()
    _check_raster(out / "detections.tif")
    _check_pixel_targets(out / "detections.gpkg")
    assert not (out / "detections.geojson").exists()  # GeoJSON would claim EPSG:4326
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["crs"] == "" and run_json["coordinates"].startswith("pixel")


@pytest.fixture(scope="module")
def monitored(workspace: dict[str, Path], detected: tuple[Path, str]) -> tuple[Path, str]:
    # the top tenth of the random model's probabilities: a dozen small targets with stable surroundings
    threshold = float(np.quantile(_check_raster(detected[0] / "probability.tif"), 0.9))
    out = workspace["root"] / "monitor"
    code, output = run(
        "monitor", workspace["radar"], "--out", out, *_options(workspace), "--threshold", f"{threshold:.6f}",
        "--unwrapper", "whirlwind",
    )  # fmt: skip
    assert code == 0, output
    return out, output


def test_monitor_measures_targets_in_pixel_coordinates(monitored: tuple[Path, str]) -> None:
    out, output = monitored
    assert f"note: {RADAR_NOTE}" in output
    _check_pixel_targets(out / "detections.gpkg")
    inventory = _check_pixel_targets(out / "inventory.gpkg")
    assert np.isfinite(inventory["velocity_m_per_yr"]).any()
    measured = inventory["target_id"][np.isfinite(inventory["velocity_m_per_yr"])]
    assert all((out / "targets" / f"{t}.nc").exists() for t in measured)
    report = (out / "report.html").read_text()
    assert "pixel coordinates" in report and " px²</td>" in report


def test_a_map_run_refuses_a_pixel_inventory_before_the_scan(
    workspace: dict[str, Path], monitored: tuple[Path, str]
) -> None:
    inventory = workspace["root"] / "pixel.gpkg"
    shutil.copy(monitored[0] / "inventory.gpkg", inventory)
    out = workspace["root"] / "mixed"
    code, output = run(
        "monitor", workspace["map"], "--out", out, *_options(workspace), "--inventory", inventory
    )
    assert code == 2 and "pixel.gpkg" in output and "pixel coordinates" in output, output
    assert output.count("error:") == 1 and not out.exists()


def test_unwrap_writes_on_the_pixel_grid(workspace: dict[str, Path], tmp_path: Path) -> None:
    pair = sorted(workspace["radar"].glob("*.tif"))[0]
    code, output = run("unwrap", pair, "--out", tmp_path / "unw.tif", "--method", "whirlwind")
    assert code == 0 and f"note: {RADAR_NOTE}" in output, output
    assert np.isfinite(_check_raster(tmp_path / "unw.tif")).all()


def test_timeseries_writes_on_the_pixel_grid(workspace: dict[str, Path], tmp_path: Path) -> None:
    code, output = run("timeseries", workspace["radar"], "--out", tmp_path / "ts", "--method", "whirlwind")
    assert code == 0 and f"note: {RADAR_NOTE}" in output, output
    _check_raster(tmp_path / "ts" / "velocity.tif")
    with h5py.File(tmp_path / "ts" / "velocity.h5") as f:
        assert "X_FIRST" not in f.attrs  # MintPy reads X_FIRST as geocoded
    series = xr.open_dataset(tmp_path / "ts" / "timeseries.nc")
    assert series.rio.crs is None and series.sizes["y"] == HEIGHT and series.sizes["x"] == WIDTH


def _blobs() -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[10:14, 20:23] = True  # 12 px
    mask[40:47, 5:6] = True  # 7 px
    return mask


def test_vectorise_without_crs_gives_pixel_polygons_and_areas_from_the_spacing() -> None:
    mask = _blobs()
    pixels = vectorise_detections(mask, mask * 0.9, transform=Affine.identity(), crs=None, seen="2020-01-01")
    assert pixels.crs is None and pixels["area_px"].tolist() == [12.0, 7.0]
    assert pixels.geometry.iloc[0].bounds == (20.0, 10.0, 23.0, 14.0)
    assert pixels["area_m2"].isna().all() and pixels["lon"].isna().all()
    spaced = vectorise_detections(
        mask,
        mask * 0.9,
        transform=Affine.identity(),
        crs=None,
        seen="2020-01-01",
        pixel_spacing_m=(14.0, 4.0),
    )
    np.testing.assert_allclose(spaced["area_m2"], [12 * 56.0, 7 * 56.0])


def test_ground_spacing_from_the_product_attributes() -> None:
    ds = xr.Dataset(coords={"y": np.arange(4) + 0.5, "x": np.arange(5) + 0.5})
    assert ground_spacing_m(ds)[0] is None
    ds.attrs.update(range_pixel_spacing_m=2.33, azimuth_pixel_spacing_m=13.9)
    spacing, note = ground_spacing_m(ds)
    assert spacing is None and "incidence" in note  # slant range alone is not a ground distance
    ds.attrs["incidence_angle_deg"] = 30.0
    spacing, _ = ground_spacing_m(ds)
    assert spacing == pytest.approx((13.9, 4.66))
    slope, aspect = radar_slope_aspect(np.tile(np.arange(5.0) * 4.66, (4, 1)), spacing)
    np.testing.assert_allclose(slope, 45.0)  # 1 m up per ground metre along the columns
    np.testing.assert_allclose(aspect, 270.0)  # downslope towards column 0 ("left" on the grid)


def test_the_inventory_never_mixes_pixel_and_map_targets(tmp_path: Path) -> None:
    mask = _blobs()
    pixels = vectorise_detections(mask, mask * 0.9, transform=Affine.identity(), crs=None, seen="2020-01-01")
    mapped = vectorise_detections(mask, mask * 0.9, transform=GRID, crs=UTM, seen="2020-01-01")
    update_inventory(tmp_path / "pixels.gpkg", pixels, seen="2020-01-01")
    again = update_inventory(tmp_path / "pixels.gpkg", pixels, seen="2020-02-01")
    assert again.table.crs is None and again.ids_matched == ["T000001", "T000002"]
    with pytest.raises(InputError, match="pixel coordinates"):
        update_inventory(tmp_path / "pixels.gpkg", mapped, seen="2020-03-01")
    update_inventory(tmp_path / "map.gpkg", mapped, seen="2020-01-01")
    with pytest.raises(InputError, match="map coordinates"):
        update_inventory(tmp_path / "map.gpkg", pixels, seen="2020-03-01")
