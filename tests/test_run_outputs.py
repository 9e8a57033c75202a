"""Operational hardening of run outputs: one run per folder, damaged inputs, unwritable outputs,
stale temporaries, reproducible files and all-NaN pairs (issue 14)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from typer.testing import CliRunner

import fringenet.io.atomic as atomic_module
from bundles import tiny_bundle
from fringenet.cli import app
from fringenet.errors import InputError, OutputError
from fringenet.io.atomic import atomic_path
from fringenet.io.geotiff import write_geotiff
from fringenet.pipeline.monitor import DetectConfig, open_input, run_detect
from fringenet.pipeline.run_folder import check_run_folder, clear_run_folder
from rasters import write_plain_tif

UTM = {"crs": "EPSG:32632", "transform": Affine(30.0, 0, 5e5, 0, -30.0, 5e6)}
PAIRS = (
    "20200101_20200113",
    "20200113_20200125",
    "20200125_20200206",
    "20200101_20200125",
    "20200113_20200206",
)


def _cli(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def _stack_folder(folder: Path, kind: str = "unw", empty: str | None = None, size: int = 16) -> Path:
    """Unwrapped (or wrapped) phase of a connected five-pair network; pair ``empty`` is all NaN."""
    rng = np.random.default_rng(0)
    for pair in PAIRS:
        data = rng.uniform(-3.0, 3.0, (size, size)).astype(np.float32)
        write_plain_tif(
            folder / f"{pair}_{kind}.tif", np.full_like(data, np.nan) if pair == empty else data, **UTM
        )
    return folder


def _truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


# --- 1. one run per folder ----------------------------------------------------------------------


def _previous_run(out: Path) -> None:
    for name in ("run.json", "report.html", "probability.tif", "inventory.gpkg", "mine.txt"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("old")
    for name in ("targets/T000001.csv", "targets/T000001.nc", "targets/notes.txt", "masknet/probability.tif"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("old")


@pytest.mark.parametrize("command", ["detect", "monitor"])
def test_a_folder_with_a_previous_run_is_refused(tmp_path: Path, command: str) -> None:
    out = tmp_path / "run"
    _previous_run(out)
    code, output = _cli(command, tmp_path / "stack.nc", "--out", out)
    assert code == 2, output
    assert str(out) in output and "previous run" in output and "--overwrite" in output
    assert (out / "report.html").read_text() == "old"  # refused before anything is touched


def test_overwrite_removes_only_fringenet_outputs_and_keeps_an_explicit_inventory(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _previous_run(out)
    stale = [
        ".probability.0123456789.tmp.tif",
        ".inventory.abcdef0123.tmp.gpkg-journal",
        "targets/.T1.0a1b2c3d4e.tmp.csv",
    ]
    for name in stale:
        (out / name).write_text("half")
    previous = check_run_folder(out, overwrite=True, keep=[out / "inventory.gpkg"])
    notes = clear_run_folder(out, previous, [out / "inventory.gpkg"])
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert left == ["inventory.gpkg", "mine.txt", "targets/notes.txt"]
    assert any("removed 6 file(s) of the previous run" in n for n in notes)
    assert any("3 temporary file(s)" in n and ".probability.0123456789.tmp.tif" in n for n in notes)


def test_a_default_inventory_is_part_of_the_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "inventory.gpkg").write_text("old targets")
    with pytest.raises(InputError, match=r"previous run.*inventory\.gpkg"):
        check_run_folder(out, overwrite=False)
    # an explicit inventory accumulates: alone it is no previous run
    assert check_run_folder(out, overwrite=False, keep=[out / "inventory.gpkg"]) == []


def _detector(path: Path) -> Path:
    return tiny_bundle(path, width=4, depth=2, patch_size=32)


@pytest.mark.usefixtures("one_torch_thread")
def test_detect_with_overwrite_starts_clean(tmp_path: Path) -> None:
    phase = np.angle(np.exp(1j * np.linspace(0, 20, 32 * 32))).reshape(32, 32).astype(np.float32)
    product = write_plain_tif(tmp_path / "20200101_20200113.geo.diff_pha.tif", phase, **UTM)
    out = tmp_path / "run"
    _previous_run(out)
    (out / ".detections.0123456789.tmp.tif").write_text("left by a kill")
    config = DetectConfig(model=_detector(tmp_path / "detector"), mask="none", scheduler="inline", window=32)
    result = run_detect(product, out, config, overwrite=True)
    assert (out / "probability.tif").is_file() and (out / "run.json").is_file()
    for gone in ("report.html", "inventory.gpkg", "targets/T000001.csv", "masknet/probability.tif"):
        assert not (out / gone).exists(), gone
    assert (out / "mine.txt").read_text() == "old" and (out / "targets" / "notes.txt").exists()
    assert not list(out.glob(".*.tmp*"))
    assert any("temporary file(s)" in n and ".detections.0123456789.tmp.tif" in n for n in result.notes)


# --- 2. truncated GeoTIFFs -----------------------------------------------------------------------


def _truncated_tiled(path: Path) -> Path:
    da = xr.DataArray(np.ones((64, 64), np.float32), dims=("y", "x"), name="unwrapped_phase")
    da = da.assign_coords(y=5e6 - 30.0 * np.arange(64), x=5e5 + 30.0 * np.arange(64)).rio.write_crs(
        "EPSG:32632"
    )
    return _truncate(write_geotiff(da, path))


@pytest.mark.parametrize("command", ["info", "detect", "monitor", "timeseries", "unwrap"])
@pytest.mark.parametrize("single", [False, True])
def test_a_truncated_geotiff_is_one_line_naming_the_file(tmp_path: Path, command: str, single: bool) -> None:
    kind = "unw" if command in ("info", "timeseries") else "pha"
    bad = _truncate(_stack_folder(tmp_path / "stack", kind, size=64) / f"{PAIRS[1]}_{kind}.tif")
    out = {"detect": "run", "monitor": "run", "timeseries": "ts", "unwrap": "unw.tif" if single else "unw.nc"}
    args = [command, bad if single else bad.parent]
    code, output = _cli(*args, *(["--out", tmp_path / out[command]] if command in out else []))
    assert code == 2, output
    assert f"{bad}: corrupt or truncated GeoTIFF (" in output
    assert "Traceback" not in output and "See previous exception" not in output


def test_a_truncated_tiled_geotiff_fails_when_opened_not_when_computed(tmp_path: Path) -> None:
    from fringenet.io.open import open_product

    bad = _truncated_tiled(tmp_path / "20200101_20200113_unw.tif")
    with pytest.raises(InputError, match="corrupt or truncated GeoTIFF") as info:
        open_product(bad)
    assert info.value.source == str(bad)


# --- 3. outputs that cannot be written ---------------------------------------------------------


@pytest.mark.parametrize("command", ["detect", "monitor", "timeseries"])
def test_an_existing_file_as_out_is_one_line(tmp_path: Path, command: str) -> None:
    out = tmp_path / "out"
    out.write_text("mine")
    code, output = _cli(command, _stack_folder(tmp_path / "stack"), "--out", out)
    assert code == 2, output
    assert f"{out}: is an existing file" in output
    assert out.read_text() == "mine"


def test_a_read_only_run_folder_names_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    out.mkdir()
    monkeypatch.setattr(atomic_module, "_writable", lambda folder: False)
    with pytest.raises(OutputError, match="no write permission") as info:
        run_detect(tmp_path / "missing.nc", out)
    assert info.value.source == str(out)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_really_read_only_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    out.chmod(0o555)
    try:
        code, output = _cli("timeseries", _stack_folder(tmp_path / "stack"), "--out", out)
    finally:
        out.chmod(0o755)
    assert code == 2 and f"{out}: cannot be written" in output


def test_a_writer_error_names_the_output_not_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "velocity.nc"
    with pytest.raises(OutputError) as info, atomic_path(target) as tmp:
        raise PermissionError(13, "Permission denied", str(tmp))
    assert info.value.source == str(target) and "Permission denied" in str(info.value)
    assert isinstance(info.value, OSError)
    assert ".tmp" not in str(info.value) and not list(tmp_path.iterdir())


def test_a_geotiff_writer_error_names_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rasterio.errors import RasterioIOError
    from rioxarray.raster_array import RasterArray

    def refuse(self: object, path: Path, **kwargs: object) -> None:
        raise RasterioIOError(f"Attempt to create new tiff file '{path}' failed: Permission denied")

    monkeypatch.setattr(RasterArray, "to_raster", refuse)
    da = xr.DataArray(np.ones((4, 4), np.float32), dims=("y", "x"), name="coherence")
    target = tmp_path / "coherence.tif"
    with pytest.raises(InputError, match="Permission denied") as info:
        write_geotiff(da, target)
    assert info.value.source == str(target) and ".tmp" not in str(info.value)


# --- 4. stale temporaries and reproducible files ------------------------------------------------


def test_stale_temporaries_of_an_explicit_inventory_go_too(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    names = [
        ".inventory.0123456789.tmp.gpkg",
        ".inventory.0123456789.tmp.gpkg-wal",
        ".other.0123456789.tmp.gpkg",
    ]
    for name in names:
        (shared / name).write_text("half")
    (shared / ".inventory.gpkg.notes").write_text("not ours")
    notes = clear_run_folder(tmp_path / "run", [], [shared / "inventory.gpkg"])
    assert sorted(p.name for p in shared.iterdir()) == [".inventory.gpkg.notes", ".other.0123456789.tmp.gpkg"]
    assert any("2 temporary file(s)" in n for n in notes)


def test_the_same_seed_gives_byte_identical_labels(tmp_path: Path) -> None:
    from fringenet.pipeline.simulate import run_simulate
    from fringenet.simulate.config import SimulationConfig

    config = SimulationConfig(height=32, width=32, seed=7, scenario="subsidence")
    a, b = (run_simulate(config, tmp_path / name).labels.read_bytes() for name in ("a", "b"))
    assert a == b
    assert b'"name": "labels"' in a


# --- 5. all-NaN pairs -------------------------------------------------------------------------------


def test_timeseries_leaves_out_an_all_nan_pair_and_names_it(tmp_path: Path) -> None:
    folder = _stack_folder(tmp_path / "stack", empty=PAIRS[3])
    code, output = _cli("timeseries", folder, "--out", tmp_path / "ts")
    assert code == 0, output
    assert f"note: pair {PAIRS[3]}: unwrapped_phase has no valid pixel (NaN everywhere); left out" in output
    with rasterio.open(tmp_path / "ts" / "velocity.tif") as src:
        assert np.isfinite(src.read(1)).all()


def test_monitor_input_leaves_out_an_all_nan_pair_and_names_it(tmp_path: Path) -> None:
    folder = _stack_folder(tmp_path / "stack", kind="pha", empty=PAIRS[1])
    notes: list[str] = []
    ds = open_input(folder, stack_only=True, notes=notes)
    assert ds.sizes["pair"] == len(PAIRS) - 1 and PAIRS[1] not in ds["pair"].values
    assert notes == [f"pair {PAIRS[1]}: wrapped_phase has no valid pixel (NaN everywhere); left out"]
