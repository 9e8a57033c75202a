"""Shipping a bundle with a threshold chosen outside its training run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

import fringenet.models.shipped as shipped
from fringenet.errors import InputError
from fringenet.models.bundle import read_bundle_info


@pytest.fixture
def weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if not (shipped.WEIGHTS_DIR / "detector" / "bundle.json").exists():
        pytest.skip("no detector shipped (make models)")
    source = tmp_path / "trained"
    shutil.copytree(shipped.WEIGHTS_DIR / "detector", source)
    info = read_bundle_info(source)  # as the trainer wrote it: no selection yet, its validation threshold
    provenance = {k: v for k, v in info.provenance.items() if k != "threshold_selection"}
    trained = info.model_copy(update={"threshold": 0.3, "provenance": provenance})
    (source / "bundle.json").write_text(trained.model_dump_json(indent=2))
    monkeypatch.setattr(shipped, "WEIGHTS_DIR", tmp_path / "weights")
    return source


def test_ship_replaces_the_threshold_and_records_why(weights: Path) -> None:
    before = read_bundle_info(weights)
    out = shipped.ship_bundle(weights, "detector", threshold=0.55, chosen_by="a test")
    info = read_bundle_info(out)
    assert info.threshold == 0.55
    selection = info.provenance["threshold_selection"]
    assert selection == {"bundle_threshold": before.threshold, "threshold": 0.55, "chosen_by": "a test"}
    assert read_bundle_info(weights).threshold == before.threshold  # the trained bundle is left alone
    assert (out / "model.safetensors").read_bytes() == (weights / "model.safetensors").read_bytes()


def test_reshipping_keeps_the_trainers_threshold_in_the_record(weights: Path, tmp_path: Path) -> None:
    first = shipped.ship_bundle(weights, "detector", threshold=0.5, chosen_by="first")
    again = tmp_path / "again"
    shutil.copytree(first, again)
    out = shipped.ship_bundle(again, "detector", threshold=0.6, chosen_by="second")
    selection = read_bundle_info(out).provenance["threshold_selection"]
    assert selection == {"bundle_threshold": 0.3, "threshold": 0.6, "chosen_by": "second"}


def test_ship_without_threshold_copies_the_bundle(weights: Path) -> None:
    out = shipped.ship_bundle(weights, "detector")
    assert (out / "bundle.json").read_text() == (weights / "bundle.json").read_text()


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5])
def test_ship_refuses_a_threshold_that_is_no_probability(weights: Path, bad: float) -> None:
    with pytest.raises(InputError, match="not a probability"):
        shipped.ship_bundle(weights, "detector", threshold=bad)
    assert not (shipped.WEIGHTS_DIR / "detector").exists()


def test_ship_sets_the_scan_window_that_scans_use(weights: Path, tmp_path: Path) -> None:
    from fringenet.detect import ArraySource, scan_scene

    out = shipped.ship_bundle(weights, "detector", threshold=0.6, chosen_by="a test", scan_window=256)
    info = read_bundle_info(out)
    assert info.scan_window == 256 and info.default_window == 256 and info.patch_size != 256
    assert info.provenance["scan_window_selection"]["chosen_by"] == "a test"
    with pytest.raises(InputError, match="multiple of 32"):
        shipped.ship_bundle(weights, "detector", scan_window=250)
    phase = np.random.default_rng(0).uniform(-3, 3, (300, 300)).astype(np.float32)
    scan = scan_scene(str(out), ArraySource(phase, pixel_size_m=30.0), tmp_path / "scan", overlap=16)
    assert scan.window == 256


def test_ship_sets_the_hysteresis_that_detect_applies(weights: Path, tmp_path: Path) -> None:
    from fringenet.io.schema import make_dataset
    from fringenet.pipeline.monitor import DetectConfig, run_detect

    out = shipped.ship_bundle(weights, "detector", threshold=0.6, chosen_by="a test", grow_threshold=0.5)
    info = read_bundle_info(out)
    assert info.grow_threshold == 0.5 and info.provenance["threshold_selection"]["grow_threshold"] == 0.5
    for bad in (0.6, 0.7):
        with pytest.raises(InputError, match="grow threshold"):
            shipped.ship_bundle(weights, "detector", threshold=0.6, grow_threshold=bad)
    with pytest.raises(InputError, match="needs a threshold"):
        shipped.ship_bundle(weights, "detector", grow_threshold=0.5)
    assert read_bundle_info(shipped.ship_bundle(out, "detector", threshold=0.6)).grow_threshold is None
    out = shipped.ship_bundle(weights, "detector", threshold=0.6, chosen_by="a test", grow_threshold=0.5)
    y, x = np.mgrid[:160, :160]
    phase = np.angle(np.exp(1j * 0.002 * ((y - 80.0) ** 2 + (x - 80.0) ** 2))).astype(np.float32)
    ds = make_dataset(
        {"wrapped_phase": phase},
        transform=Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 4_000_000.0),
        crs="EPSG:32633",
    )
    result = run_detect(ds, tmp_path / "run", DetectConfig(model=str(out), min_pixels=1))
    run = (tmp_path / "run" / "run.json").read_text()
    assert "grown over connected pixels >= 0.5 (the bundle's hysteresis)" in run
    assert "detections" in result.files
