"""Command-line options (issue 14): checked when parsed, defaults in --help, --variable, early input checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import typer
from affine import Affine
from typer.testing import CliRunner

from fringenet.cli import app

runner = CliRunner(env={"COLUMNS": "200"})  # no wrapping inside option names and values
UTM = "EPSG:32632"
GRID = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 5_100_000.0)


def run(*args: object) -> tuple[int, str]:
    """Exit code and the output with the error box and line wrapping taken out."""
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, " ".join(result.output.replace("│", " ").split())


def write_tif(path: Path, data: np.ndarray, crs: str | None = UTM) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "height": data.shape[0], "width": data.shape[1], "count": 1}
    with rasterio.open(path, "w", dtype=data.dtype, crs=crs, transform=GRID, **profile) as dst:
        dst.write(data, 1)
    return path


def wrapped(seed: int = 0, size: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-np.pi, np.pi, (size, size)).astype(np.float32)


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["detect", "X", "--device", "gpu"], ["auto", "cpu", "cuda", "mps"]),
        (["detect", "X", "--mask", "nope"], ["masknet", "otsu", "none"]),
        (["detect", "X", "--precision", "half"], ["auto", "float32", "bfloat16"]),
        (["detect", "X", "--target-type", "glacier"], ["landslide", "rock_glacier", "deformation"]),
        (["monitor", "X", "--unwrapper", "magic"], ["snaphu", "whirlwind", "punet"]),
        (["monitor", "X", "--scheduler", "nowhere"], ["auto", "local", "inline", "tcp://HOST:PORT"]),
        (["monitor", "X", "--inventory", "targets.txt"], [".gpkg"]),
        (["timeseries", "X", "--method", "punet"], ["snaphu", "whirlwind"]),
        (["timeseries", "X", "--nlooks", "0"], ["--nlooks", "greater than 0"]),
        (["unwrap", "X", "--method", "punet"], ["snaphu", "whirlwind"]),
        (["simulate", "pair", "--scenario", "flood"], ["landslide", "stratified"]),
        (["info", "X", "--variable", "phase"], ["wrapped_phase", "unwrapped_phase", "coherence"]),
        (["config", "nope"], ["simulation", "monitor"]),
    ],
)
def test_a_wrong_value_fails_when_parsed_with_the_allowed_ones(
    tmp_path: Path, args: list[str], allowed: list[str]
) -> None:
    out = tmp_path / "run"
    code, output = run(*args, *(["--out", out] if args[0] not in ("info", "config") else []))
    assert code == 2, output
    assert "Invalid value" in output and all(a in output for a in allowed), output
    assert not out.exists()


def _help(*command: str) -> str:
    code, output = run(*command, "--help")
    assert code == 0, output
    return output


def test_help_states_the_config_defaults() -> None:
    detect = _help("detect")
    for shown in (
        "masknet|otsu|none",
        "[default: none]",
        "[default: 16]",
        "[default: auto]",
        "[default: 2]",
    ):
        assert shown in detect, shown
    monitor = _help("monitor")
    for shown in (
        "snaphu|whirlwind|punet", "[default: snaphu]", "[default: 192]", "[default: deformation]",
        "[default: masknet]",
    ):  # fmt: skip
        assert shown in monitor, shown
    timeseries = _help("timeseries")
    assert (
        "snaphu|whirlwind" in timeseries
        and "[default: snaphu]" in timeseries
        and "[default: 0.0]" in timeseries
        and "--nlooks" in timeseries
    )
    assert "[default: 256, 256]" in _help("simulate", "pair")
    assert "[default: 8]" in _help("dataset", "build")  # n_scenes of SimulatedSource


def _options(command: str) -> set[str]:
    click_app = typer.main.get_command(app)
    return {str(p.name) for p in click_app.commands[command].params}  # type: ignore[attr-defined]


def test_detect_and_monitor_offer_every_field_of_their_config() -> None:
    from fringenet.pipeline.monitor import DetectConfig, MonitorConfig

    assert set(DetectConfig.model_fields) <= _options("detect")
    assert set(MonitorConfig.model_fields) <= _options("monitor")


def test_the_cli_imports_no_config_schema_until_a_command_needs_it() -> None:
    code = "import sys, fringenet.cli; print(any(m.startswith('fringenet.pipeline') for m in sys.modules))"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    )


def test_generic_names_read_from_the_value_range_or_variable(tmp_path: Path) -> None:
    pair = write_tif(tmp_path / "ifg_20200101_20200113.tif", wrapped())
    code, output = run("info", pair)
    assert code == 0, output
    assert "wrapped_phase [rad]" in output and "note:" in output and "read as wrapped phase" in output
    code, output = run("info", pair, "--variable", "unwrapped_phase")
    assert code == 0 and "unwrapped_phase [rad]" in output and "note:" not in output, output

    unwrapped = write_tif(tmp_path / "b" / "ifg_20200101_20200113.tif", wrapped() * 10)
    code, output = run("info", unwrapped)
    assert code == 0 and "unwrapped_phase [rad]" in output, output

    unit = write_tif(tmp_path / "c" / "ifg_20200101_20200113.tif", np.full((16, 16), 0.5, np.float32))
    code, output = run("info", unit)  # coherence or a weak phase: not guessed
    assert code == 2 and "--variable" in output, output

    for k, (ref, sec) in enumerate(
        [("20200101", "20200113"), ("20200113", "20200125"), ("20200101", "20200125")]
    ):
        write_tif(tmp_path / "stack" / f"ifg_{ref}_{sec}.tif", wrapped(k))
    code, output = run("info", tmp_path / "stack")
    assert code == 0 and "pairs: 3" in output and "every file of stack" in output, output


def test_variable_applies_to_geotiffs_only(tmp_path: Path) -> None:
    netcdf = tmp_path / "x.nc"
    netcdf.write_bytes(b"")
    code, output = run("info", netcdf, "--variable", "wrapped_phase")
    assert code == 2 and "GeoTIFF" in output, output


def test_a_bad_inventory_fails_before_the_scan_and_leaves_no_run_folder(tmp_path: Path) -> None:
    for ref, sec in [("20200101", "20200113"), ("20200113", "20200125"), ("20200101", "20200125")]:
        write_tif(tmp_path / "stack" / f"ifg_{ref}_{sec}.tif", wrapped())
    inventory = tmp_path / "targets.gpkg"
    inventory.write_text("not a GeoPackage")
    out = tmp_path / "run"
    code, output = run("monitor", tmp_path / "stack", "--out", out, "--inventory", inventory)
    assert code == 2 and "targets.gpkg" in output and "GeoPackage" in output, output
    assert not out.exists()


def test_radar_geometry_with_a_map_inventory_fails_before_the_scan_and_leaves_no_run_folder(
    tmp_path: Path,
) -> None:
    from fringenet.detect.vectorise import vectorise_detections
    from fringenet.io.inventory import update_inventory

    for ref, sec in [("20200101", "20200113"), ("20200113", "20200125"), ("20200101", "20200125")]:
        write_tif(tmp_path / "stack" / f"ifg_{ref}_{sec}.tif", wrapped(), crs=None)
    mask = np.zeros((16, 16), bool)
    mask[4:8, 4:8] = True
    targets = vectorise_detections(mask, mask * 0.9, transform=GRID, crs=UTM, seen="2020-01-01")
    inventory = update_inventory(tmp_path / "targets.gpkg", targets, seen="2020-01-01").path
    out = tmp_path / "run"
    code, output = run("monitor", tmp_path / "stack", "--out", out, "--inventory", inventory)
    assert code == 2 and "targets.gpkg" in output and "radar geometry" in output, output
    assert not out.exists()


def test_an_input_error_during_the_run_removes_the_new_run_folder(tmp_path: Path) -> None:
    pair = write_tif(tmp_path / "ifg_20200101_20200113.tif", wrapped())
    out = tmp_path / "run"
    code, output = run("detect", pair, "--out", out, "--model", tmp_path / "no-such-bundle")
    assert code == 2 and "no-such-bundle" in output, output
    assert not out.exists()
