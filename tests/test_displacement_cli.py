"""``fringenet displacement`` on GeoTIFF pairs (issue 12): metres on the input grid, checked inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine, from_origin
from scipy import ndimage
from typer.testing import CliRunner

from fringenet.cli import app

PIXEL_M = 10.0


def _write(path: Path, data: np.ndarray, transform=None, crs="EPSG:32633") -> Path:
    transform = transform or from_origin(500_000.0, 4_200_000.0, PIXEL_M, PIXEL_M)
    with rasterio.open(
        path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1], count=1,
        dtype="float32", crs=crs, transform=transform,
    ) as dst:  # fmt: skip
        dst.write(data.astype(np.float32), 1)
    return path


def _pair(tmp_path: Path, east_px: float, north_px: float) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    image = ndimage.gaussian_filter(rng.random((128, 128)), 1.2)
    moved = ndimage.shift(image, (-north_px, east_px), order=3, mode="reflect")
    return _write(tmp_path / "pre.tif", image), _write(tmp_path / "post.tif", moved)


def test_uniform_shift_in_metres_on_the_input_grid(tmp_path: Path) -> None:
    pre, post = _pair(tmp_path, 0.4, -0.7)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["displacement", "--optical", str(pre), str(post), "--out", str(out)])
    assert result.exit_code == 0, result.output
    with rasterio.open(out / "east_m.tif") as east, rasterio.open(out / "north_m.tif") as north:
        assert east.crs.to_epsg() == 32633 and east.transform == from_origin(500_000.0, 4_200_000.0, 10, 10)
        e, n = east.read(1), north.read(1)
    inner = (slice(24, -24), slice(24, -24))
    assert abs(float(np.median(e[inner])) - 0.4 * PIXEL_M) < 0.4
    assert abs(float(np.median(n[inner])) + 0.7 * PIXEL_M) < 0.4
    run = json.loads((out / "run.json").read_text())
    assert run["method"] == "phase_correlation" and run["pixel_size"] == [PIXEL_M, PIXEL_M]
    again = CliRunner().invoke(app, ["displacement", "--optical", str(pre), str(post), "--out", str(out)])
    assert again.exit_code == 2 and "previous run" in again.output
    replaced = CliRunner().invoke(
        app,
        [
            "displacement",
            "--optical",
            str(pre),
            str(post),
            "--out",
            str(out),
            "--method",
            "ncc",
            "--overwrite",
        ],
    )
    assert replaced.exit_code == 0, replaced.output
    assert json.loads((out / "run.json").read_text())["method"] == "ncc"


def test_no_data_of_either_image_is_nan_in_the_outputs(tmp_path: Path) -> None:
    pre, post = _pair(tmp_path, 0.3, 0.2)
    with rasterio.open(pre) as src:
        data, transform = src.read(1), src.transform
    data[:10] = np.nan
    holed = _write(tmp_path / "pre_holes.tif", data, transform)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["displacement", "--optical", str(holed), str(post), "--out", str(out)])
    assert result.exit_code == 0, result.output
    with rasterio.open(out / "east_m.tif") as east:
        e = east.read(1)
    assert np.isnan(e[:10]).all() and np.isfinite(e[10:]).all()


def test_pairs_that_cannot_be_matched_fail_before_any_output(tmp_path: Path) -> None:
    pre, _ = _pair(tmp_path, 0.0, 0.0)
    other_grid = _write(
        tmp_path / "shifted.tif", np.ones((128, 128)), from_origin(500_100.0, 4_200_000.0, 10, 10)
    )
    other_crs = _write(tmp_path / "crs.tif", np.ones((128, 128)), crs="EPSG:32632")
    small = _write(tmp_path / "small.tif", np.ones((64, 128)))
    rotated = Affine.rotation(10.0) * from_origin(500_000.0, 4_200_000.0, 10, 10)
    rotated_pre, rotated_post = (_write(tmp_path / f"rot{k}.tif", np.ones((128, 128)), rotated) for k in "ab")
    out = tmp_path / "run-rotated"
    result = CliRunner().invoke(
        app, ["displacement", "--optical", str(rotated_pre), str(rotated_post), "--out", str(out)]
    )
    assert result.exit_code == 2 and "rotated" in result.output and not out.exists()
    for post, message in (
        (other_grid, "grid"),
        (other_crs, "CRS"),
        (small, "px"),
        (tmp_path / "none.tif", "no such"),
    ):
        out = tmp_path / f"run-{post.stem}"
        result = CliRunner().invoke(
            app, ["displacement", "--optical", str(pre), str(post), "--out", str(out)]
        )
        assert result.exit_code == 2 and message in result.output, result.output
        assert not out.exists()
    bad = CliRunner().invoke(
        app,
        ["displacement", "--optical", str(pre), str(pre), "--out", str(tmp_path / "x"), "--method", "sift"],
    )
    assert bad.exit_code == 2 and "sift" in bad.output
