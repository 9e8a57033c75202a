"""A time-series model on a real stack: PyRate's ENVISAT small test data (17 re-wrapped pairs, 13 dates, DEM).

Checks the real-data path of the temporal detector end to end (network checks, re-wrapping, coherence
estimated from the phase, terrain from the real DEM, windows smaller than the training patches) with a
tiny random-weight model; the trained models' agreement with PyRate's rates is in docs/benchmarks.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)
from fringenet.detect.temporal import prepare_stack
from fringenet.models.bundle import BundleInfo, save_bundle
from fringenet.models.temporal import TemporalModelSpec, build_temporal_model
from fringenet.pipeline.monitor import DetectConfig, run_detect
from shared_data import PYRATE, needs_pyrate

pytestmark = [pytest.mark.shared_data, needs_pyrate, pytest.mark.usefixtures("one_torch_thread")]

ENVISAT_WAVELENGTH_M = 0.0562356424


@pytest.fixture(scope="module")
def stack() -> object:
    from fringenet.io.geotiff import read_geotiff
    from fringenet.io.stack import open_stack_folder

    ds = open_stack_folder(
        PYRATE / "tif", "geo_*_unw.tif", "unwrapped_phase", nodata=0.0, wavelength_m=ENVISAT_WAVELENGTH_M
    )
    dem = read_geotiff(PYRATE / "dem" / "roipac_test_trimmed.tif", "dem")["dem"].values
    ds["dem"] = (("y", "x"), dem.astype(np.float32))
    return ds


def test_pyrate_stack_passes_the_checks_of_every_architecture(stack: object) -> None:
    for arch, steps in (("st_transformer", 17), ("coherence_transformer", 13), ("hybrid", 17)):
        spec = TemporalModelSpec(architecture=arch, dim=16, depth=1, heads=2, max_steps=32, min_steps=3)
        prepared = prepare_stack(stack, spec, "pyrate")  # type: ignore[arg-type]
        phase, coherence = prepared.read(0, 0, 40, 40)
        inputs = prepared.inputs(phase, coherence, 0, 0)
        assert int(inputs.step_mask.sum()) == steps
        assert np.abs(inputs.terrain[0]).max() > 0  # the real DEM reached the terrain channels
        assert any("re-wrapping" in n for n in prepared.notes)


def test_monitor_detector_runs_a_temporal_model_on_the_real_stack(stack: object, tmp_path: Path) -> None:
    spec = TemporalModelSpec(dim=16, depth=1, heads=2, max_steps=32, min_steps=3)
    torch.manual_seed(0)
    info = BundleInfo(
        task="temporal", model=spec, channels=["cos_phase", "sin_phase", "coherence", "phase_rate"],
        normalisation={}, threshold=0.5, patch_size=40,
    )  # fmt: skip
    bundle = save_bundle(tmp_path / "bundle", build_temporal_model(spec), info)
    config = DetectConfig(model=bundle, window=40, overlap=8, mask="none", scheduler="inline", min_pixels=1)
    result = run_detect(stack, tmp_path / "run", config)  # type: ignore[arg-type]
    with rasterio.open(result.files["velocity"]) as src:
        velocity = src.read(1)
    assert velocity.shape == (72, 47)
    phase_ok = np.all(np.isfinite(stack["unwrapped_phase"].values), axis=0)  # type: ignore[index]
    assert np.isfinite(velocity[phase_ok]).all()
    assert any("coherence estimated" in n for n in result.notes)


def test_the_slow_motion_stage_flags_pyrates_bowl_and_follows_its_rate(stack: object) -> None:
    """The figures of docs/benchmarks.md ("Slow movers"): r 0.86 against PyRate, 92 % of its bowl flagged."""
    from fringenet.detect.slow_motion import detect_slow_motion
    from fringenet.io.schema import pixel_size_m

    notes: list[str] = []
    result = detect_slow_motion(stack, pixel_size_m(stack), None, notes)  # type: ignore[arg-type]
    pyrate = -np.load(PYRATE / "linrate" / "linear_rate.npy") / 1000.0  # m/yr, + towards the satellite
    valid = np.isfinite(pyrate) & np.isfinite(result.velocity_m_per_yr)
    yy, xx = np.mgrid[: valid.shape[0], : valid.shape[1]]
    design = np.c_[np.ones(valid.sum()), xx[valid], yy[valid]]
    ours, theirs = (
        a[valid] - design @ np.linalg.lstsq(design, a[valid], rcond=None)[0]
        for a in (result.velocity_m_per_yr.astype(np.float64), pyrate)
    )
    assert np.corrcoef(ours, theirs)[0, 1] > 0.8
    bowl = theirs < -0.005
    flagged = result.detection.mask[valid]
    assert flagged[bowl].mean() > 0.8 and flagged[bowl].sum() > 0.5 * flagged.sum()
    assert any("no coherence layer" in n for n in notes)
