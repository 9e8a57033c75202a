"""Scenes smaller than a model's window are padded, and --window reaches every model (issue 14).

Through ``fringenet detect`` with the shipped models on a 40 x 50 px scene: the detector and the Mask Net
(default windows 128 px), and the time-series model (64 px, a multiple of its 8 px tile).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from typer.testing import CliRunner

from fringenet.cli import app

pytestmark = pytest.mark.usefixtures("one_torch_thread")

runner = CliRunner(env={"COLUMNS": "200"})
SHAPE = (40, 50)
GRID = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 5_100_000.0)
DATES = ["20200101", "20200113", "20200125", "20200206", "20200218"]
FAST = ["--scheduler", "inline", "--device", "cpu"]


def write_pair(path: Path, seed: int) -> Path:
    phase = np.random.default_rng(seed).uniform(-np.pi, np.pi, SHAPE).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "height": SHAPE[0], "width": SHAPE[1], "count": 1, "dtype": "float32"}
    with rasterio.open(path, "w", crs="EPSG:32632", transform=GRID, **profile) as dst:
        dst.write(phase, 1)
    return path


def detect(*args: object) -> tuple[dict, str]:
    result = runner.invoke(app, ["detect", *map(str, args)])
    assert result.exit_code == 0, result.output
    out = Path(str(args[args.index("--out") + 1]))
    return json.loads((out / "run.json").read_text()), result.output


def raster(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        assert src.transform == GRID
        return src.read(1)


def test_a_scene_smaller_than_the_windows_is_padded_for_the_detector_and_the_mask_net(tmp_path: Path) -> None:
    pair = write_pair(tmp_path / "20200101_20200113.geo.diff_pha.tif", 0)
    out = tmp_path / "run"
    record, output = detect(pair, "--out", out, "--mask", "masknet", *FAST)
    from fringenet.models.bundle import read_bundle_info
    from fringenet.models.shipped import shipped_bundle

    window = read_bundle_info(shipped_bundle("detector")).default_window  # the shipped scan window
    assert record["windows"] == {"masknet": 128, "detector": window}
    assert "Mask Net: scene 40 x 50 px is smaller than the 128 px window: padded" in output
    assert f"note: scene 40 x 50 px is smaller than the {window} px window: padded" in output
    for path in (out / "probability.tif", out / "masknet" / "probability.tif"):
        probability = raster(path)
        assert probability.shape == SHAPE and np.isfinite(probability).all()
        assert ((probability >= 0) & (probability <= 1)).all()
    assert raster(out / "unusable.tif").shape == SHAPE


def test_window_reaches_the_mask_net_as_well_as_the_detector(tmp_path: Path) -> None:
    pair = write_pair(tmp_path / "20200101_20200113.geo.diff_pha.tif", 1)
    out = tmp_path / "run"
    record, output = detect(pair, "--out", out, "--window", 32, "--overlap", 8, "--mask", "masknet", *FAST)
    assert record["windows"] == {"masknet": 32, "detector": 32}
    assert "padded" not in output  # 32 px windows fit the 40 x 50 scene
    assert raster(out / "masknet" / "probability.tif").shape == SHAPE


def test_the_time_series_model_pads_a_small_stack_and_rounds_its_window_to_the_tile(tmp_path: Path) -> None:
    for k, (ref, sec) in enumerate(itertools.pairwise(DATES)):
        write_pair(tmp_path / "stack" / f"{ref}_{sec}.geo.diff_pha.tif", 10 + k)
    out = tmp_path / "run"
    record, output = detect(tmp_path / "stack", "--out", out, "--model", "temporal", "--mask", "none", *FAST)
    assert record["windows"] == {"detector": 64}
    assert "scene 40 x 50 px is smaller than the 64 px window: padded with no-data to 64 x 64 px" in output
    for name in ("probability.tif", "velocity.tif"):
        values = raster(out / name)
        assert values.shape == SHAPE and np.isfinite(values).all()

    record, output = detect(
        tmp_path / "stack", "--out", tmp_path / "run36", "--model", "temporal", "--window", 36, "--overlap", 8,
        "--mask", "masknet", *FAST,
    )  # fmt: skip
    assert record["windows"] == {"masknet": 36, "detector": 40}
    assert "window 36 px rounded to 40 px, the nearest multiple of the model's 8 px tile" in output
    assert "padded" not in output
    assert raster(tmp_path / "run36" / "probability.tif").shape == SHAPE
