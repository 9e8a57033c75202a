"""The command line on real ENVISAT products (skipped where ../shared is absent)."""

from pathlib import Path

import numpy as np
import rioxarray
from typer.testing import CliRunner

from fringenet.cli import app
from shared_data import PYRATE as DATA
from shared_data import needs_pyrate

pytestmark = needs_pyrate


def test_timeseries_on_pyrate_folder_subsides_at_the_bowl(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "timeseries",
            str(DATA / "tif"),
            "--out",
            str(tmp_path),
            "--nodata",
            "0",
            "--wavelength",
            "0.0562356424",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "13 dates" in result.output and "0.0562356424" in result.output
    velocity = rioxarray.open_rasterio(tmp_path / "velocity.tif").squeeze().values
    pyrate = np.load(DATA / "linrate" / "linear_rate.npy")  # mm/yr, positive = away from the satellite
    row, col = np.unravel_index(np.nanargmax(pyrate), pyrate.shape)
    around = velocity[row - 4 : row + 5, col - 4 : col + 5]
    assert np.nanmin(around) < -0.01  # m/yr: the mine subsides (negative = away from the satellite)
    assert "date" in (tmp_path / "timeseries.nc").read_bytes().decode("latin-1")


def test_info_on_a_real_interferogram() -> None:
    result = CliRunner().invoke(app, ["info", str(DATA / "tif" / "geo_060619-061002_unw.tif")])
    assert result.exit_code == 0, result.output
    assert "unwrapped_phase" in result.output and "2006-06-19" in result.output
