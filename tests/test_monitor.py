"""The detection-first chain end to end on a small simulated stack (tiny random-weight models, no Dask)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)
from fringenet.cli import app
from fringenet.errors import InputError
from fringenet.io.netcdf import write_netcdf
from fringenet.models.bundle import BundleInfo, save_bundle
from fringenet.models.segmentation import ModelSpec, build_segmentation_model
from fringenet.pipeline.demo import observed_product, score_run, truth_label
from fringenet.pipeline.monitor import DetectConfig, MonitorConfig, run_detect, run_monitor
from fringenet.simulate.config import SimulationConfig
from fringenet.simulate.scene import simulate_pair, simulate_stack

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CHANNELS = ["cos_phase", "sin_phase", "coherence", "gradient_magnitude", "gradient_consistency"]


def _bundle(path: Path, channels: list[str]) -> Path:
    import torch

    torch.manual_seed(0)
    spec = ModelSpec(architecture="segformer", encoder="mit_b0", in_channels=len(channels), classes=1)
    info = BundleInfo(
        model=spec,
        channels=channels,
        normalisation={c: {"mean": 0.0, "std": 1.0} for c in channels},
        threshold=0.3,
        patch_size=64,
    )
    return save_bundle(path, build_segmentation_model(spec), info)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | xr.Dataset]:
    root = tmp_path_factory.mktemp("monitor")
    config = SimulationConfig(height=96, width=96, n_dates=6, seed=3, scenario="subsidence", n_neighbours=3)
    truth = simulate_stack(config)
    return {
        "root": root,
        "truth": truth,
        "product": write_netcdf(observed_product(truth), root / "product.nc"),
        "detector": _bundle(root / "detector", CHANNELS),
    }


def _config(ws: dict, **kw) -> MonitorConfig:
    settings = {"model": ws["detector"], "mask": "otsu", "scheduler": "inline", "window": 64}
    return MonitorConfig(**{**settings, **kw})


@pytest.fixture(scope="module")
def monitored(workspace: dict) -> tuple:
    out = workspace["root"] / "run"
    result = run_monitor(workspace["product"], out, _config(workspace))
    return result, out


def test_monitor_writes_the_run_folder(monitored: tuple) -> None:
    result, out = monitored
    for name in ("run.json", "probability.tif", "detections.tif", "unusable.tif", "quicklook.nc"):
        assert (out / name).exists(), name
    assert result.files["report"] == out / "report.html"
    assert not list(out.rglob(".*.tmp*")), "no temporary file is left behind"
    record = json.loads((out / "run.json").read_text())
    assert record["command"] == "monitor" and record["n_targets"] == len(result.detections)
    assert record["complete"] is True
    assert record["settings"]["mask"] == "otsu" and record["crs"] == "EPSG:32632"


def test_every_target_is_measured_or_says_why(monitored: tuple) -> None:
    result, out = monitored
    detections = result.detections
    assert len(detections) > 0
    for _, row in detections.iterrows():
        target = row["target_id"]
        if np.isfinite(row["velocity_m_per_yr"]):
            assert (out / "targets" / f"{target}.csv").exists()
            assert (out / "targets" / f"{target}.nc").exists()
            assert row["n_dates"] == 6 and row["unwrapper"] == "snaphu"
        else:
            assert any(n.startswith(f"{target}: not measured") for n in result.notes)
    assert np.isfinite(detections["velocity_m_per_yr"]).any()


def test_geojson_and_inventory_agree(monitored: tuple) -> None:
    result, out = monitored
    geojson = gpd.read_file(out / "detections.geojson", DATE_AS_STRING="YES")
    inventory = gpd.read_file(out / "inventory.gpkg", layer="targets")
    assert geojson.crs.to_epsg() == 4326
    assert (
        sorted(geojson["target_id"])
        == sorted(inventory["target_id"])
        == sorted(result.detections["target_id"])
    )
    np.testing.assert_allclose(
        geojson.sort_values("target_id")["velocity_m_per_yr"].to_numpy(dtype=float),
        inventory.sort_values("target_id")["velocity_m_per_yr"].to_numpy(dtype=float),
    )


def test_a_second_run_keeps_the_ids(workspace: dict, monitored: tuple) -> None:
    first, out = monitored
    again = run_monitor(
        workspace["product"], workspace["root"] / "run2", _config(workspace, inventory=out / "inventory.gpkg")
    )
    inventory = gpd.read_file(out / "inventory.gpkg", layer="targets")
    assert len(inventory) == len(first.detections)  # the same targets, no duplicates
    assert sorted(again.detections["target_id"]) == sorted(first.detections["target_id"])


def test_a_monitor_stopped_after_detection_says_it_is_incomplete(
    workspace: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fringenet.pipeline.monitor as monitor

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # stands for a kill between detection and measurement

    monkeypatch.setattr(monitor, "measure_targets", killed)
    with pytest.raises(KeyboardInterrupt):
        run_monitor(workspace["product"], tmp_path / "run", _config(workspace))
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["command"] == "monitor" and record["complete"] is False


def test_detect_scans_a_single_pair(workspace: dict) -> None:
    pair = simulate_pair(SimulationConfig(height=80, width=80, seed=5, scenario="volcano"))
    product = write_netcdf(pair[["wrapped_phase"]], workspace["root"] / "pair.nc")
    result = run_detect(product, workspace["root"] / "detect", DetectConfig(
        model=workspace["detector"], mask="none", scheduler="inline", window=64,
    ))  # fmt: skip
    assert (workspace["root"] / "detect" / "probability.tif").exists()
    # no coherence layer: the fallback is used and said
    assert any("coherence estimated from the wrapped phase" in n for n in result.notes)


def test_auto_scheduler_scans_a_small_scene_in_process(workspace: dict, tmp_path: Path) -> None:
    pair = simulate_pair(SimulationConfig(height=80, width=80, seed=5, scenario="volcano"))
    product = write_netcdf(pair[["wrapped_phase"]], tmp_path / "pair.nc")
    config = DetectConfig(model=workspace["detector"], mask="none", window=64)
    assert config.scheduler == "auto"
    result = run_detect(product, tmp_path / "detect", config)
    assert any(n.startswith("scheduler auto: 0.0064 Mpx scanned in this process") for n in result.notes)


def test_monitor_refuses_a_single_pair(workspace: dict, tmp_path: Path) -> None:
    pair = simulate_pair(SimulationConfig(height=64, width=64, seed=1))
    product = write_netcdf(pair[["wrapped_phase", "coherence"]], tmp_path / "pair.nc")
    with pytest.raises(InputError, match="monitor needs a stack"):
        run_monitor(product, tmp_path / "out", _config(workspace))


def test_all_nan_input_is_refused(workspace: dict, tmp_path: Path) -> None:
    ds = observed_product(workspace["truth"])
    ds["wrapped_phase"][:] = np.nan
    product = write_netcdf(ds, tmp_path / "nan.nc")
    with pytest.raises(InputError, match="no valid pixel"):
        run_monitor(product, tmp_path / "out", _config(workspace))
    assert not (tmp_path / "out" / "run.json").exists()


def test_model_channels_the_input_lacks(workspace: dict, tmp_path: Path) -> None:
    bundle = _bundle(tmp_path / "needs-dem", ["cos_phase", "sin_phase", "elevation"])
    ds = observed_product(workspace["truth"]).drop_vars("dem")
    product = write_netcdf(ds, tmp_path / "nodem.nc")
    config = DetectConfig(model=bundle, mask="none", scheduler="inline", window=64)
    with pytest.raises(InputError, match="DEM"):
        run_detect(product, tmp_path / "out", config)
    assert not (tmp_path / "out" / "probability.tif").exists()


def test_a_scheduler_that_does_not_answer(workspace: dict, tmp_path: Path) -> None:
    config = _config(workspace, scheduler="tcp://127.0.0.1:9")
    with pytest.raises(InputError, match="Dask scheduler"):
        run_monitor(workspace["product"], tmp_path / "out", config)


def test_scene_smaller_than_a_window_is_padded(workspace: dict, tmp_path: Path) -> None:
    config = DetectConfig(model=workspace["detector"], mask="otsu", scheduler="inline", window=128)
    result = run_detect(workspace["product"], tmp_path / "out", config)
    assert result.windows == {"detector": 128}
    assert any("96 x 96 px is smaller than the 128 px window: padded" in n for n in result.notes)
    import rasterio

    with rasterio.open(result.files["probability"]) as src:
        assert src.shape == (96, 96)


def test_demo_scores_count_objects_and_velocity(workspace: dict, monitored: tuple) -> None:
    result, _ = monitored
    truth = workspace["truth"]
    label = truth_label(truth)
    scores = score_run(result, label, truth["los_velocity"].values.astype(float), truth)
    assert 0.0 <= scores["object_recall"] <= 1.0 and 0.0 <= scores["object_precision"] <= 1.0
    assert scores["n_detections"] >= 1
    assert scores["n_measured"] == int(np.isfinite(result.detections["velocity_m_per_yr"]).sum())


def test_cli_monitor_and_report(workspace: dict, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    args = ["monitor", str(workspace["product"]), "--out", str(out), "--model", str(workspace["detector"])]
    args += ["--mask", "otsu", "--scheduler", "inline", "--unwrapper", "whirlwind"]
    settings = tmp_path / "settings.yaml"
    settings.write_text("window: 64\n")
    result = CliRunner().invoke(app, [*args, "--config", str(settings)])
    assert result.exit_code == 0, result.output
    assert "report:" in result.output
    (out / "report.html").unlink()
    again = CliRunner().invoke(app, ["report", str(out)])
    assert again.exit_code == 0 and (out / "report.html").exists()
    bad = CliRunner().invoke(app, ["monitor", str(tmp_path / "missing.nc"), "--out", str(out)])
    assert bad.exit_code == 2 and "error:" in bad.output


def test_large_crops_are_multilooked(workspace: dict, tmp_path: Path) -> None:
    result = run_monitor(workspace["product"], tmp_path / "ml", _config(workspace, max_crop_px=32))
    looks = {n.split(":")[0]: int(n.rsplit(" ", 1)[-1]) for n in result.notes if "multilooked" in n}
    assert looks, "crops above 32 px are multilooked and the run says so"
    measured = result.detections[np.isfinite(result.detections["velocity_m_per_yr"])]
    for target in measured["target_id"]:
        with xr.open_dataset(tmp_path / "ml" / "targets" / f"{target}.nc") as series:
            spacing = abs(float(series["x"].values[1] - series["x"].values[0]))
        assert spacing == pytest.approx(30.0 * looks.get(target, 1))  # the grid of the measured crop


def test_shipped_models_are_small_and_need_only_phase_and_coherence() -> None:
    from fringenet.models.bundle import read_bundle_info
    from fringenet.models.shipped import MAX_SHIPPED_MB, SHIPPED, WEIGHTS_DIR, bundle_size_mb, shipped_bundle

    present = [name for name in SHIPPED if (WEIGHTS_DIR / name / "bundle.json").exists()]
    if not present:
        pytest.skip("no model shipped yet (make models)")
    for name in present:
        path = shipped_bundle(name)
        assert bundle_size_mb(path) <= MAX_SHIPPED_MB
        info = read_bundle_info(path)
        # real products often come without amplitude or DEM: the shipped models must not need them
        assert not set(info.channels) & {"log_amplitude", "elevation", "slope", "aspect", "incidence"}, name
    with pytest.raises(InputError, match="no model called"):
        shipped_bundle("nonexistent")


def test_auto_scheduler_stays_in_process_on_two_cores(
    workspace: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fringenet.pipeline.monitor as monitor

    monkeypatch.setattr(monitor, "AUTO_INLINE_PX", 100)  # the scene is "large"
    monkeypatch.setattr(monitor, "usable_cores", lambda: 2)
    pair = simulate_pair(SimulationConfig(height=80, width=80, seed=5, scenario="volcano"))
    product = write_netcdf(pair[["wrapped_phase"]], tmp_path / "pair.nc")
    result = run_detect(
        product, tmp_path / "detect", DetectConfig(model=workspace["detector"], mask="none", window=64)
    )
    assert any("in this process (2 cores: faster than a cluster)" in n for n in result.notes)
