"""MintPy HDF5: ifgramStack reading, timeseries/velocity writing, and the sign convention."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from affine import Affine

from fringenet.conventions import phase_to_displacement
from fringenet.errors import InputError
from fringenet.io.mintpy import (
    read_mintpy_ifgram_stack,
    read_mintpy_timeseries,
    read_mintpy_velocity,
    write_mintpy_timeseries,
    write_mintpy_velocity,
)

WAVELENGTH = 0.05546576
# MintPy's ifgram_inversion converts phase to range change with this factor
# (``phase2range = -1 * WAVELENGTH / (4 pi)``): its time series is positive towards the satellite.
MINTPY_PHASE2RANGE = -1.0 * WAVELENGTH / (4.0 * np.pi)
GEO = Affine(0.001, 0.0, 130.5, 0.0, -0.001, 33.2)


def _ifgram_stack(path: Path, *, epsg: str | None = "4326", drop_last: bool = True) -> np.ndarray:
    rng = np.random.default_rng(5)
    phase = rng.normal(0, 3, (3, 6, 7)).astype(np.float32)
    phase[0] = 2 * np.pi  # motion away from the satellite: positive phase in MintPy
    with h5py.File(path, "w") as f:
        f.create_dataset("unwrapPhase", data=phase)
        f.create_dataset("coherence", data=np.full((3, 6, 7), 0.7, np.float32))
        comp = np.ones((3, 6, 7), np.int16)
        comp[:, 0, 0] = 0
        f.create_dataset("connectComponent", data=comp)
        dates = [["20200101", "20200113"], ["20200113", "20200125"], ["20200101", "20200125"]]
        f.create_dataset("date", data=np.array(dates, dtype="S8"))
        f.create_dataset("dropIfgram", data=np.array([True, True, not drop_last]))
        f.create_dataset("bperp", data=np.zeros(3, np.float32))
        attrs = {"FILE_TYPE": "ifgramStack", "WAVELENGTH": str(WAVELENGTH), "PLATFORM": "Sen", "LENGTH": "6"}
        attrs.update(X_FIRST="130.5", Y_FIRST="33.2", X_STEP="0.001", Y_STEP="-0.001", X_UNIT="degrees")
        if epsg:
            attrs["EPSG"] = epsg
        for key, value in attrs.items():
            f.attrs[key] = value
    return phase


def test_read_ifgram_stack_keeps_phase_sign_grid_and_dates(tmp_path: Path) -> None:
    phase = _ifgram_stack(tmp_path / "ifgramStack.h5")
    ds = read_mintpy_ifgram_stack(tmp_path / "ifgramStack.h5")
    assert ds.sizes["pair"] == 2  # the dropped interferogram is left out
    assert list(ds["pair"].values) == ["20200101_20200113", "20200113_20200125"]
    np.testing.assert_array_equal(ds["unwrapped_phase"].values, phase[:2])
    assert ds.rio.crs.to_epsg() == 4326 and ds.rio.transform() == GEO
    assert float(ds["x"][0]) == pytest.approx(130.5005) and float(ds["y"][0]) == pytest.approx(33.1995)
    assert ds.attrs["wavelength_m"] == WAVELENGTH and ds.attrs["sensor"] == "Sen"
    assert int(ds["valid"][0, 0, 0]) == 0 and int(ds["valid"][0, 1, 1]) == 1
    # +2 pi of MintPy phase is half a wavelength of motion away from the satellite, in both tools
    ours = phase_to_displacement(ds["unwrapped_phase"].values[0], ds.attrs["wavelength_m"])
    np.testing.assert_allclose(ours, MINTPY_PHASE2RANGE * phase[0], atol=1e-9)
    assert np.all(ours < 0) and ours[0, 0] == pytest.approx(-WAVELENGTH / 2)
    assert read_mintpy_ifgram_stack(tmp_path / "ifgramStack.h5", keep_dropped=True).sizes["pair"] == 3


def test_read_ifgram_stack_crs_from_degree_units(tmp_path: Path) -> None:
    _ifgram_stack(tmp_path / "ifgramStack.h5", epsg=None)
    assert read_mintpy_ifgram_stack(tmp_path / "ifgramStack.h5").rio.crs.to_epsg() == 4326


def test_timeseries_round_trip_is_unchanged_and_mintpy_shaped(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    dates = pd.to_datetime(["2020-01-01", "2020-01-13", "2020-01-25", "2020-02-06"])
    disp = np.cumsum(rng.normal(0, 0.004, (4, 8, 9)), axis=0).astype(np.float32)
    disp[0] = 0.0
    utm = Affine(30.0, 0.0, 600_000.0, 0.0, -30.0, 3_700_000.0)
    path = write_mintpy_timeseries(tmp_path / "timeseries.h5", disp, dates, utm, "EPSG:32654", WAVELENGTH)
    with h5py.File(path, "r") as f:
        assert f["timeseries"].dtype == np.float32 and f["timeseries"].shape == (4, 8, 9)
        assert f["date"].dtype == np.dtype("S8") and f["date"][0] == b"20200101"
        assert f["bperp"].shape == (4,)
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    assert attrs["FILE_TYPE"] == "timeseries" and attrs["UNIT"] == "m" and attrs["REF_DATE"] == "20200101"
    assert attrs["LENGTH"] == "8" and attrs["WIDTH"] == "9" and attrs["EPSG"] == "32654"
    assert float(attrs["X_FIRST"]) == 600_000.0 and float(attrs["Y_STEP"]) == -30.0
    back = read_mintpy_timeseries(path)
    np.testing.assert_array_equal(back["los_displacement"].values, disp)
    assert list(pd.to_datetime(back["date"].values)) == list(dates)
    assert back.rio.crs.to_epsg() == 32654 and back.rio.transform() == utm
    assert back.attrs["wavelength_m"] == WAVELENGTH and back.attrs["reference_date"] == "20200101"


def test_velocity_round_trip(tmp_path: Path) -> None:
    vel = np.linspace(-0.03, 0.02, 30, dtype=np.float32).reshape(5, 6)
    path = write_mintpy_velocity(
        tmp_path / "velocity.h5", vel, "2020-01-01", "2021-01-01", GEO, "EPSG:4326", WAVELENGTH
    )
    with h5py.File(path, "r") as f:
        assert f.attrs["FILE_TYPE"] == "velocity" and f.attrs["UNIT"] == "m/year"
        assert f.attrs["START_DATE"] == "20200101" and f.attrs["END_DATE"] == "20210101"
        assert f.attrs["X_UNIT"] == "degrees"
    back = read_mintpy_velocity(path)
    np.testing.assert_array_equal(back["los_velocity"].values, vel)
    assert back["los_velocity"].attrs["units"] == "m/yr" and back.rio.transform() == GEO


def test_mintpy_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_mintpy_ifgram_stack(tmp_path / "absent.h5")
    (tmp_path / "junk.h5").write_bytes(b"nope" * 100)
    with pytest.raises(InputError, match=r"junk\.h5: not a readable HDF5"):
        read_mintpy_timeseries(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_dataset("something", data=np.zeros(3))
    with pytest.raises(InputError, match=r"other\.h5: not an ifgramStack"):
        read_mintpy_ifgram_stack(tmp_path / "other.h5")
    with pytest.raises(InputError, match="does not match 2 dates"):
        write_mintpy_timeseries(
            tmp_path / "ts.h5", np.zeros((3, 2, 2)), ["2020-01-01", "2020-01-13"], GEO, None, WAVELENGTH
        )
    assert not (tmp_path / "ts.h5").exists()
