"""The slow-motion stage of detect/monitor: steady motion invisible in every pair found over the stack (issue 13)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine

from bundles import tiny_bundle
from fringenet.conventions import SENTINEL1_WAVELENGTH_M
from fringenet.errors import InputError
from fringenet.evaluate.baselines import SLOW_MOTION_Z
from fringenet.io.schema import make_dataset
from fringenet.pipeline.monitor import DetectConfig, run_detect
from fringenet.report.quicklook_store import read_quicklook
from fringenet.report.targets import plot_detection_map
from slow_stacks import slow_bowl_phase

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RATE = 15.0  # rad/yr at the bowl's centre: 0.08 fringe per 12-day pair, under 0.5 rad of noise per pair


def slow_stack(
    n_dates: int, rate: float = RATE, size: int = 80, seed: int = 1, unwrapped: bool = False
) -> xr.Dataset:
    """Dates 12 days apart, each paired with its next three; a Gaussian bowl moving at ``rate`` rad/yr under
    smooth per-date atmosphere (about a radian) and phase noise; the phase wrapped unless ``unwrapped``."""
    phase, _, _, pairs = slow_bowl_phase(n_dates, rate, size, seed)
    dates = [dt.date(2021, 3, 1) + dt.timedelta(days=12 * k) for k in range(n_dates)]
    return make_dataset(
        {"unwrapped_phase" if unwrapped else "wrapped_phase":
             (phase if unwrapped else np.angle(np.exp(1j * phase))).astype(np.float32),
         "coherence": np.full(phase.shape, 0.7, np.float32)},
        transform=Affine(30.0, 0, 400_000.0, 0, -30.0, 5_000_000.0), crs="EPSG:32633",
        reference_dates=[dates[i] for i, _ in pairs], secondary_dates=[dates[j] for _, j in pairs],
        wavelength_m=SENTINEL1_WAVELENGTH_M,
    )  # fmt: skip


@pytest.fixture(scope="module")
def silent_detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random bundle whose threshold of 1 flags nothing: what is found is the stage's."""
    return tiny_bundle(tmp_path_factory.mktemp("bundle") / "detector", threshold=1.0)


def _config(detector: Path, **kw: object) -> DetectConfig:
    return DetectConfig(**{"model": detector, "mask": "none", "scheduler": "inline", **kw})


def test_the_stage_finds_a_slow_bowl_and_measures_its_relative_velocity(
    silent_detector: Path, tmp_path: Path
) -> None:
    result = run_detect(slow_stack(13), tmp_path / "run", _config(silent_detector))
    targets = result.detections
    assert len(targets) == 1 and targets["found_by"].tolist() == ["slow_motion"]
    assert targets["detector"].tolist() == ["stacked rate (slow-motion stage)"]
    # phase rate +15 rad/yr is motion away from the satellite: -15 λ / 4π = -6.6 cm/yr at the centre
    peak = -RATE * SENTINEL1_WAVELENGTH_M / (4 * np.pi)
    assert peak < targets["slow_motion_velocity_m_per_yr"].iloc[0] < 0.2 * peak
    with rasterio.open(result.files["slow_motion_velocity"]) as src:
        velocity = src.read(1)
    assert velocity[40, 40] == pytest.approx(peak, rel=0.3)
    with rasterio.open(result.files["detections_tif"]) as src:
        flagged = src.read(1) > 0
    assert flagged[40, 40] and flagged.mean() < 0.1
    assert (tmp_path / "run" / "slow_motion_z.tif").exists()
    # the report's quick-look carries the stage's z map, which the detection map draws as a fourth panel
    quicklook = read_quicklook(result.files["quicklook"])
    assert float(quicklook["slow_motion_z"].max()) >= SLOW_MOTION_Z
    fig = plot_detection_map(
        quicklook["wrapped_phase"].values, None, quicklook["probability"].values, [], [], None,
        slow_motion_z=quicklook["slow_motion_z"].values,
    )  # fmt: skip
    assert [ax.get_title() for ax in fig.axes if ax.images] == [
        "wrapped phase",
        "probability",
        "slow-motion z",
    ]
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert any("slow-motion detection (stacked rate over 33 pairs" in note for note in run["notes"])
    assert "found_by" in gpd.read_file(result.files["detections"]).columns


def test_the_stage_flags_no_still_stack_and_can_be_switched_off(
    silent_detector: Path, tmp_path: Path
) -> None:
    still = run_detect(slow_stack(13, rate=0.0), tmp_path / "still", _config(silent_detector))
    assert len(still.detections) == 0 and "slow_motion_z" in still.files
    off = run_detect(slow_stack(13), tmp_path / "off", _config(silent_detector, slow_motion="off"))
    assert len(off.detections) == 0 and "slow_motion_z" not in off.files
    assert not (tmp_path / "off" / "slow_motion_z.tif").exists()


def test_auto_skips_short_stacks_and_pairs_and_on_refuses_them_up_front(
    silent_detector: Path, tmp_path: Path
) -> None:
    short = run_detect(slow_stack(3), tmp_path / "short", _config(silent_detector))
    assert any(
        "slow-motion detection (stacked rate) not run: the stack has 3 dates" in n for n in short.notes
    )
    pair = slow_stack(3).isel(pair=0)
    single = run_detect(pair, tmp_path / "pair", _config(silent_detector))
    assert not any("slow-motion" in n for n in single.notes)
    with pytest.raises(InputError, match="slow-motion detection cannot run: it needs a stack"):
        run_detect(pair, tmp_path / "pair_on", _config(silent_detector, slow_motion="on"))
    assert not (tmp_path / "pair_on" / "probability.tif").exists()  # refused before the scan
    # 'on' runs it on a short stack all the same
    forced = run_detect(slow_stack(3), tmp_path / "forced", _config(silent_detector, slow_motion="on"))
    assert "slow_motion_z" in forced.files


def test_a_long_stack_is_thinned_for_the_pair_detector_and_read_whole_by_the_stage(
    silent_detector: Path, tmp_path: Path
) -> None:
    result = run_detect(slow_stack(13), tmp_path / "thin", _config(silent_detector, max_pairs=4))
    assert any("the detector scanned 4 of the 33 pairs" in n for n in result.notes)
    assert any("stacked rate over 33 pairs" in n for n in result.notes)
    assert result.detections["found_by"].tolist() == ["slow_motion"]


def test_the_measurement_keeps_its_reference_off_what_the_stage_sees_moving(
    silent_detector: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fringenet.measure.target
    from fringenet.errors import InputError as Refused
    from fringenet.pipeline.monitor import REFERENCE_MAX_Z, MonitorConfig, measure_targets

    ds = slow_stack(13)
    detected = run_detect(ds, tmp_path / "run", _config(silent_detector))
    seen: dict[str, np.ndarray] = {}

    def record(**kwargs: object) -> None:
        seen["excluded"] = np.asarray(kwargs["detections"])
        seen["nlooks"] = np.asarray(kwargs["nlooks"])
        raise Refused("test", "recorded")

    monkeypatch.setattr(fringenet.measure.target, "measure_target", record)
    notes: list[str] = []
    config = MonitorConfig(
        model=silent_detector, mask="none", scheduler="inline", margin_px=30, coherence_looks=4.0
    )
    assert measure_targets(ds, detected.detections, tmp_path / "run", config, None, notes) == {}
    with rasterio.open(tmp_path / "run" / "slow_motion_z.tif") as src:
        flanks = np.abs(src.read(1)) >= REFERENCE_MAX_Z
    # the only target's crop has no other detection: what is excluded are the flanks the stage sees moving
    assert len(detected.detections) == 1 and seen["excluded"].any()
    assert seen["excluded"].sum() <= flanks.sum()
    assert float(seen["nlooks"]) == 4.0  # SNAPHU is told the coherence's looks (the crop is not multilooked)
    assert any("not measured" in n for n in notes)


def test_target_velocity_is_referenced_to_the_still_ring_around_it() -> None:
    from fringenet.detect.slow_motion import SlowMotionResult, ring_referenced_velocities
    from fringenet.evaluate.baselines import SlowMotionDetection

    yy, xx = np.mgrid[:60, :60]
    target = (abs(yy - 30) < 5) & (abs(xx - 30) < 5)
    velocity = (0.001 * xx).astype(np.float32)  # a ramp the ring shares: 0.030 m/yr around the target
    velocity[target] += np.float32(-0.05)
    flank = (abs(yy - 30) < 9) & (abs(xx - 30) < 9) & ~target  # moving too, though not flagged
    velocity[flank] += np.float32(-0.02)
    z = np.where(target, 8.0, np.where(flank, 3.0, 0.0)).astype(np.float32)
    usable = np.ones(target.shape, dtype=bool)
    detection = SlowMotionDetection(target, z, velocity, velocity, usable, np.zeros_like(usable), 63)
    result = SlowMotionResult(detection, velocity, usable & (np.abs(z) < 2))
    labels = target.astype(np.int32)
    (estimate,) = ring_referenced_velocities(labels, 1, result)
    assert estimate == pytest.approx(-0.05, abs=2e-3)  # neither the ramp nor the moving flank
    lonely = SlowMotionResult(detection, velocity, np.zeros_like(usable))
    assert np.isnan(ring_referenced_velocities(labels, 1, lonely)[0])  # nothing still around: no reference


def test_pixels_a_valid_layer_rules_out_in_any_pair_are_never_flagged() -> None:
    from fringenet.detect.slow_motion import detect_slow_motion

    ds = slow_stack(13)
    valid = np.ones(ds["wrapped_phase"].shape, dtype=np.uint8)
    valid[5, :, 36:44] = 0  # one pair lost a strip through the bowl
    ds["valid"] = (("pair", "y", "x"), valid)
    result = detect_slow_motion(ds, 30.0, None, [])
    assert not result.detection.mask[:, 36:44].any() and result.detection.mask.any()
    assert np.isnan(result.velocity_m_per_yr[:, 36:44]).all()


def test_a_mover_too_steep_for_the_stacked_gradients_is_flagged_as_aliased(
    silent_detector: Path, tmp_path: Path
) -> None:
    fast = run_detect(slow_stack(13, rate=180.0), tmp_path / "fast", _config(silent_detector))
    assert fast.detections["slow_motion_aliased"].tolist() == [True]
    assert any("steeper than a quarter cycle per pixel" in n for n in fast.notes)
    slow = run_detect(slow_stack(13), tmp_path / "slow", _config(silent_detector))
    assert slow.detections["slow_motion_aliased"].tolist() == [False]


def test_monitor_measures_a_slow_target_of_a_stack_of_unwrapped_pairs(
    silent_detector: Path, tmp_path: Path
) -> None:
    """A folder of unwrapped pairs (PyRate's layout): the stage's target is measured, not a KeyError."""
    from fringenet.pipeline.monitor import MonitorConfig, run_monitor

    config = MonitorConfig(model=silent_detector, mask="none", scheduler="inline")
    result = run_monitor(slow_stack(13, unwrapped=True), tmp_path / "run", config)
    assert len(result.detections) == 1 and np.isfinite(result.detections["velocity_m_per_yr"]).all()
    assert result.detections["velocity_m_per_yr"].iloc[0] < 0  # the bowl moves away from the satellite
    assert any("re-wrapped unwrapped phase" in n for n in result.notes)
