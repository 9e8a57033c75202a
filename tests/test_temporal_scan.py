"""Stack scans with a time-series bundle, the monitor's temporal detector path and ``fringenet explain``
(tiny random-weight model, small simulated stacks, no Dask)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import torch
import xarray as xr
from typer.testing import CliRunner

import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)
from fringenet.cli import app
from fringenet.conventions import phase_to_displacement
from fringenet.data.sequences import batch_inputs, stack_inputs, terrain_inputs
from fringenet.detect.temporal import prepare_stack, scan_stack
from fringenet.errors import InputError
from fringenet.io.netcdf import write_netcdf
from fringenet.models.bundle import BundleInfo, load_bundle, save_bundle
from fringenet.models.segmentation import ModelSpec
from fringenet.models.temporal import TemporalModelSpec, build_temporal_model
from fringenet.pipeline.demo import observed_product
from fringenet.pipeline.monitor import DetectConfig, run_detect
from fringenet.report.attention import explain_target, target_pixel
from fringenet.simulate.config import SimulationConfig
from fringenet.simulate.scene import simulate_stack
from fringenet.simulate.terrain import slope_aspect

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SPEC = TemporalModelSpec(dim=16, depth=1, heads=2, patch=8, max_steps=8, min_steps=2)
SIZE = 48  # window 32, overlap 16: windows at rows/cols 0 and 16


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("temporal")
    torch.manual_seed(0)
    info = BundleInfo(
        task="temporal", model=SPEC, channels=["cos_phase", "sin_phase", "coherence"], normalisation={},
        threshold=0.5, patch_size=32,
    )  # fmt: skip
    bundle = save_bundle(root / "bundle", build_temporal_model(SPEC), info)
    config = SimulationConfig(
        height=SIZE, width=SIZE, n_dates=4, seed=3, scenario="subsidence", n_neighbours=3
    )
    stack = observed_product(simulate_stack(config))  # 6 pairs of 4 dates; phase, coherence, DEM
    return {"root": root, "bundle": bundle, "stack": stack, "product": write_netcdf(stack, root / "stack.nc")}


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def _direct(ws: dict, row0: int, col0: int) -> tuple[np.ndarray, np.ndarray]:
    """Probability and velocity (m/yr) of the model applied by hand to one 32 px window."""
    ds = ws["stack"].isel(y=slice(row0, row0 + 32), x=slice(col0, col0 + 32))
    model, _ = load_bundle(ws["bundle"])
    full_dem = ws["stack"]["dem"].values.astype(np.float64)
    slope, aspect = (a[row0 : row0 + 32, col0 : col0 + 32] for a in slope_aspect(full_dem, 30.0))
    terrain = terrain_inputs(ds["dem"].values, slope, aspect, (32, 32))
    inputs = stack_inputs(
        SPEC, ds["wrapped_phase"].values, ds["coherence"].values, ds["reference_date"].values,
        ds["secondary_date"].values, terrain,
    )  # fmt: skip
    with torch.no_grad():
        out = model(**{k: torch.from_numpy(v) for k, v in batch_inputs([inputs]).items()})
    probability = torch.sigmoid(out["logits"])[0, 0].numpy()
    velocity = phase_to_displacement(out["rate"][0, 0].numpy(), ws["stack"].attrs["wavelength_m"])
    return probability, velocity


def test_scan_blends_windows_and_matches_the_model(workspace: dict, tmp_path: Path) -> None:
    scan = scan_stack(workspace["bundle"], workspace["stack"], tmp_path, device="cpu")
    assert (scan.n_windows, scan.n_pairs, scan.window, scan.overlap) == (4, 6, 32, 16)
    assert scan.shape == (SIZE, SIZE) and not list(tmp_path.glob(".*tmp*"))
    prob, det, vel = (_read(p) for p in (scan.probability_path, scan.detections_path, scan.velocity_path))
    assert prob.dtype == np.float32 and det.dtype == np.uint8 and vel.dtype == np.float32
    assert np.isfinite(prob).all() and ((prob >= 0) & (prob <= 1)).all() and np.isfinite(vel).all()
    np.testing.assert_array_equal(det, prob >= 0.5)
    # the top-left and bottom-right 16 px corners are seen by one window only: the model's own output
    for origin, in_scene, in_window in (
        (0, np.s_[:16, :16], np.s_[:16, :16]),
        (16, np.s_[32:, 32:], np.s_[16:, 16:]),
    ):
        p, v = _direct(workspace, origin, origin)
        np.testing.assert_allclose(prob[in_scene], p[in_window], atol=1e-5)
        np.testing.assert_allclose(vel[in_scene], v[in_window], atol=1e-7)
    assert vel.std() > 0, "the velocity map varies (a random model still maps its inputs)"


def test_pair_order_and_unwrapped_phase_do_not_change_the_scan(workspace: dict, tmp_path: Path) -> None:
    ds = workspace["stack"]
    reference = _read(scan_stack(workspace["bundle"], ds, tmp_path / "a", device="cpu").probability_path)
    shuffled = ds.isel(pair=[3, 0, 5, 1, 4, 2])
    cycles = np.random.default_rng(0).integers(-3, 4, ds["wrapped_phase"].shape)
    unwrapped = shuffled.drop_vars("wrapped_phase").assign(
        unwrapped_phase=shuffled["wrapped_phase"].astype(np.float64) + 2 * np.pi * cycles
    )
    scan = scan_stack(workspace["bundle"], unwrapped, tmp_path / "b", device="cpu")
    assert "pairs put in date order" in scan.notes
    assert any("re-wrapping" in n for n in scan.notes)
    np.testing.assert_allclose(_read(scan.probability_path), reference, atol=1e-4)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([0], "needs at least 2"),  # one interferogram
        ([0, 0, 1], "appears twice"),
        ([0, 5], "disconnected"),  # 2019-01-01..13 and 2019-01-19..31 share no date
        (0, "single pair"),
    ],
)
def test_bad_stacks_fail_before_any_output(workspace: dict, tmp_path: Path, pairs, message: str) -> None:
    ds = workspace["stack"].isel(pair=pairs)
    with pytest.raises(InputError, match=message):
        scan_stack(workspace["bundle"], ds, tmp_path / "out", device="cpu")
    assert not (tmp_path / "out").exists()


def test_a_segmentation_bundle_is_refused(workspace: dict, tmp_path: Path) -> None:
    info = BundleInfo(model=ModelSpec(architecture="unet", encoder="resnet18", in_channels=3),
                      channels=["cos_phase", "sin_phase", "coherence"], normalisation={})  # fmt: skip
    with pytest.raises(InputError, match="not a time-series"):
        scan_stack((torch.nn.Identity(), info), workspace["stack"], tmp_path, device="cpu")


@pytest.fixture(scope="module")
def detected(workspace: dict) -> tuple:
    out = workspace["root"] / "run"
    # threshold 0: the whole scene is one target, whose model velocity is the map's mean
    config = DetectConfig(
        model=workspace["bundle"], mask="none", scheduler="inline", window=32, threshold=0.0, device="cpu"
    )
    return run_detect(workspace["stack"], out, config), out


def test_detect_with_a_temporal_bundle_writes_the_model_velocity(detected: tuple) -> None:
    result, out = detected
    assert result.files["velocity"] == out / "velocity.tif" and (out / "detections.tif").is_file()
    assert len(result.detections) == 1
    assert result.detections["detector"].iloc[0].startswith("st_transformer/none:")
    mean = float(np.mean(_read(out / "velocity.tif").astype(np.float64)))
    assert result.detections["model_velocity_m_per_yr"].iloc[0] == pytest.approx(mean, rel=1e-6)
    written = gpd.read_file(out / "detections.geojson", engine="pyogrio", DATE_AS_STRING="YES")
    assert written["model_velocity_m_per_yr"].iloc[0] == pytest.approx(mean, rel=1e-6)


def test_detect_refuses_a_single_pair_for_a_temporal_model(workspace: dict, tmp_path: Path) -> None:
    config = DetectConfig(model=workspace["bundle"], mask="none", scheduler="inline", window=32)
    with pytest.raises(InputError, match="needs a stack"):
        run_detect(workspace["stack"].isel(pair=0), tmp_path, config)


def test_explain_writes_figures_and_attention(workspace: dict, tmp_path: Path) -> None:
    ds = workspace["stack"]
    paths = explain_target(workspace["bundle"], ds, tmp_path, row=20, col=5)
    assert [p.name for p in paths] == ["attention_time.png", "attention_space.png", "attention.json"]
    for png in paths[:2]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    record = json.loads(paths[2].read_text())
    # window centred on row 20 clipped to start at row 4; col 5 clipped to 0; 4 x 4 tiles of 8 px
    assert record["window"] == {"row0": 4, "col0": 0, "size": 32}
    assert (
        record["tile"]["index"] == 8
        and record["tile"]["rows"] == [20, 28]
        and record["tile"]["cols"] == [0, 8]
    )
    stack = prepare_stack(ds, SPEC)
    expected = [f"{r}..{s}" for r, s in zip(stack.reference_dates, stack.secondary_dates, strict=True)]
    assert record["steps"] == expected
    assert sum(record["pool_weights"]) == pytest.approx(1.0, abs=1e-5)
    assert sum(record["time_attention"]) == pytest.approx(1.0, abs=1e-5)
    assert np.asarray(record["space_attention"]).shape == (4, 4)
    assert np.sum(record["space_attention"]) == pytest.approx(1.0, abs=1e-5)
    assert record["phase_pair"] == "2019-01-01..2019-01-31"


def test_explain_cli_by_pixel_and_by_target(workspace: dict, detected: tuple, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["explain", str(workspace["bundle"]), str(workspace["product"])]
    result = runner.invoke(app, [*base, "--row", "3", "--col", "40", "--out", str(tmp_path / "px")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "px" / "attention.json").read_text())["tile"]["index"] == 3
    _, run_dir = detected
    # the single target is the whole scene: its centre is the middle pixel
    row, col = target_pixel(run_dir, "T000001", xr.open_dataset(workspace["product"]))
    assert abs(row - SIZE // 2) <= 1 and abs(col - SIZE // 2) <= 1
    args = [*base, "--target", "T000001", "--run", str(run_dir), "--out", str(tmp_path / "tg")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "tg" / "attention.json").read_text())["row"] == row
    bad = runner.invoke(app, [*base, "--row", "3", "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "give either --row and --col" in bad.output
    missing = runner.invoke(
        app, [*base, "--target", "T000009", "--run", str(run_dir), "--out", str(tmp_path)]
    )
    assert missing.exit_code == 2 and "no target 'T000009'" in missing.output
