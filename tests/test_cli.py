"""The command line: each command on tiny inputs, and bad input as one clear line."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from fringenet import __version__
from fringenet.cli import app
from fringenet.config import load_yaml_config
from fringenet.simulate.config import SimulationConfig

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_version_and_help() -> None:
    assert __version__ in invoke("--version")
    output = invoke("--help")
    for command in ("simulate", "info", "unwrap", "timeseries", "config", "demo"):
        assert command in output


def test_simulate_pair_writes_products_that_info_and_unwrap_read(tmp_path: Path) -> None:
    out = tmp_path / "pair"
    invoke("simulate", "pair", "--out", out, "--seed", "3", "--size", "64", "64", "--scenario", "subsidence")
    for name in (
        "simulation.nc",
        "labels.geojson",
        "config.yaml",
        "wrapped_phase.tif",
        "coherence.tif",
        "label.tif",
    ):
        assert (out / name).is_file(), name
    # the written config reproduces the run
    config = load_yaml_config(SimulationConfig, out / "config.yaml")
    assert (config.height, config.width, config.seed, config.scenario) == (64, 64, 3, "subsidence")

    assert "wrapped_phase" in invoke("info", out / "simulation.nc")
    assert "coherence" in invoke("info", out / "coherence.tif")

    unwrapped = tmp_path / "unw.tif"
    output = invoke("unwrap", out / "wrapped_phase.tif", "--out", unwrapped, "--method", "whirlwind")
    assert "estimated from the phase" in output  # no coherence beside a generic file name
    with xr.open_dataarray(unwrapped, engine="rasterio") as da:
        wrapped = xr.open_dataarray(out / "wrapped_phase.tif", engine="rasterio")
        diff = (da.values - wrapped.values) / (2 * np.pi)
        finite = np.isfinite(diff)
        # unwrapping only adds whole cycles
        np.testing.assert_allclose(diff[finite], np.round(diff[finite]), atol=1e-4)


def test_simulate_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        invoke("simulate", "pair", "--out", tmp_path / name, "--seed", "11", "--size", "48", "48")
    a = (tmp_path / "a" / "wrapped_phase.tif").read_bytes()
    b = (tmp_path / "b" / "wrapped_phase.tif").read_bytes()
    assert a == b


def test_simulate_refuses_to_overwrite(tmp_path: Path) -> None:
    invoke("simulate", "pair", "--out", tmp_path, "--size", "32", "32")
    result = runner.invoke(app, ["simulate", "pair", "--out", str(tmp_path), "--size", "32", "32"])
    assert result.exit_code == 2 and "--overwrite" in result.output


def test_stack_simulation_then_timeseries(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    invoke(
        "simulate", "stack", "--out", sim, "--size", "48", "48", "--dates", "6", "--scenario", "subsidence"
    )
    assert any((sim / "wrapped_phase").glob("*_*.tif"))
    assert (sim / "static" / "dem.tif").is_file()
    out = tmp_path / "ts"
    output = invoke("timeseries", sim / "unwrapped_phase", "--out", out)
    assert "6 dates" in output
    for name in ("velocity.tif", "velocity_std.tif", "timeseries.nc", "timeseries.h5", "velocity.h5"):
        assert (out / name).is_file(), name


def test_config_prints_valid_commented_yaml(tmp_path: Path) -> None:
    text = invoke("config", "simulation")
    assert text.startswith("# SimulationConfig") and "# Raster height" in text
    path = tmp_path / "sim.yaml"
    path.write_text(text)
    assert load_yaml_config(SimulationConfig, path) == SimulationConfig()
    assert "unwrap_method" in invoke("config", "timeseries")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "no_such_file.tif"], "no_such_file.tif"),
        (["config", "nonsense"], "'nonsense' is not one of"),
        (["simulate", "pair", "--out", "x", "--scenario", "meteor"], "scenario"),
        (["simulate", "pair", "--out", "x", "--size", "4", "4"], "height"),
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], message: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    # input errors as "error: ...", wrong option values when parsed ("Invalid value for ...")
    assert ("error:" in result.output or "Invalid value" in result.output) and message in result.output
    assert "Traceback" not in result.output


def test_demo_runs_small(tmp_path: Path) -> None:
    output = invoke(
        "demo", "--out", tmp_path, "--seed", "1", "--size", "128", "--dates", "6", "--scheduler", "inline"
    )  # full-size demo is `make demo`
    assert "object recall" in output and "velocity of measured targets" in output
    assert (tmp_path / "run" / "report.html").is_file()
    assert (tmp_path / "simulation" / "simulation.nc").is_file()


def test_unwrap_uses_the_licsar_coherence_beside_the_phase(tmp_path: Path) -> None:
    from affine import Affine

    from rasters import write_plain_tif

    grid = {"crs": "EPSG:32633", "transform": Affine(100.0, 0, 4e5, 0, -100.0, 5e6)}
    yy, xx = np.mgrid[:48, :48]
    phase = np.angle(np.exp(1j * 0.01 * ((xx - 24.0) ** 2 + (yy - 24.0) ** 2))).astype(np.float32)
    pha = write_plain_tif(tmp_path / "20200101_20200113.geo.diff_pha.tif", phase, **grid)
    write_plain_tif(tmp_path / "20200101_20200113.geo.cc.tif", np.full((48, 48), 230, np.uint8), **grid)
    output = invoke("unwrap", pha, "--out", tmp_path / "unw.tif")
    assert "estimated from the phase" not in output

    shifted = {**grid, "transform": Affine(100.0, 0, 4.1e5, 0, -100.0, 5e6)}
    other = write_plain_tif(
        tmp_path / "other" / "20200101_20200113.geo.cc.tif", np.full((48, 48), 230, np.uint8), **shifted
    )
    result = runner.invoke(
        app, ["unwrap", str(pha), "--out", str(tmp_path / "u2.tif"), "--coherence", str(other)]
    )
    assert result.exit_code == 2 and "other" in result.output and "transform" in result.output
    assert not (tmp_path / "u2.tif").exists()  # nothing half-written
