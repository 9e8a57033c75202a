"""NetCDF and Zarr round trips, and SNAP-style NetCDF exports."""

from __future__ import annotations

import json
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine

from fringenet.errors import InputError
from fringenet.io.netcdf import read_netcdf, read_snap_netcdf, write_netcdf
from fringenet.io.schema import make_dataset
from fringenet.io.zarr_store import read_zarr, write_zarr

TRANSFORM = Affine(30.0, 0.0, 300_000.0, 0.0, -30.0, 4_600_000.0)


@pytest.fixture
def stack() -> xr.Dataset:
    rng = np.random.default_rng(7)
    label = np.zeros((3, 16, 20), np.uint8)
    label[:, 4:8, 5:9] = 1
    phase = rng.normal(0, 2, (3, 16, 20)).astype(np.float32)
    phase[1, 0, :] = np.nan
    return make_dataset(
        {
            "unwrapped_phase": phase,
            "label": label,
            "valid": np.ones((3, 16, 20), bool),
            "dem": rng.uniform(0, 900, (16, 20)),
        },
        transform=TRANSFORM,
        crs="EPSG:32618",
        reference_dates=["2020-01-01", "2020-01-13", "2020-01-01"],
        secondary_dates=["2020-01-13", "2020-01-25", "2020-01-25"],
        wavelength_m=0.2360571,
        sensor="ALOS-2",
        attrs={"objects": json.dumps([{"kind": "subsidence", "depth_m": 0.05}]), "simulated": True},
    )


def _same(a: xr.Dataset, b: xr.Dataset) -> None:
    xr.testing.assert_identical(a.drop_vars("spatial_ref"), b.drop_vars("spatial_ref").compute())
    assert b.rio.crs == a.rio.crs and b.rio.transform() == a.rio.transform()
    for name in a.data_vars:
        assert b[name].dtype == a[name].dtype


def test_netcdf_round_trip_is_identical(stack: xr.Dataset, tmp_path: Path) -> None:
    back = read_netcdf(write_netcdf(stack, tmp_path / "stack.nc"))
    _same(stack, back)
    assert json.loads(back.attrs["objects"])[0]["depth_m"] == 0.05 and back.attrs["simulated"] is True
    assert back["reference_date"].dtype == np.dtype("datetime64[ns]")


def test_netcdf_overwrite_is_atomic_and_lazy_read(stack: xr.Dataset, tmp_path: Path) -> None:
    path = tmp_path / "stack.nc"
    write_netcdf(stack, path)
    write_netcdf(stack.isel(pair=[0]), path)
    lazy = read_netcdf(path, chunks={})
    assert isinstance(lazy["unwrapped_phase"].data, da.Array) and lazy.sizes["pair"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.nc"]


def test_zarr_round_trip_is_identical_and_lazy(stack: xr.Dataset, tmp_path: Path) -> None:
    path = tmp_path / "stack.zarr"
    write_zarr(stack, path)
    write_zarr(stack, path)  # overwriting an existing store
    back = read_zarr(path)
    assert isinstance(back["unwrapped_phase"].data, da.Array)
    assert back["unwrapped_phase"].data.chunksize[0] == 1
    _same(stack, back)
    assert (path / "zarr.json").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["stack.zarr"]


@pytest.mark.parametrize("reader", [read_netcdf, read_zarr, read_snap_netcdf])
def test_readers_reject_missing_and_corrupt_files(reader, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        reader(tmp_path / "absent.nc")
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"\x89HDF garbage" * 20)
    with pytest.raises(InputError, match=r"bad\.nc"):
        reader(bad)


def _snap_file(path: Path, *, lat_increasing: bool = False) -> Path:
    lat = np.linspace(-34.17, -34.23, 6)
    if lat_increasing:
        lat = lat[::-1]
    lon = np.linspace(150.91, 150.95, 5)
    rng = np.random.default_rng(2)
    shape = (6, 5)
    ds = xr.Dataset(
        {
            "Phase_ifg_VV_01Jan2020_13Jan2020": (
                ("lat", "lon"),
                rng.uniform(-3, 3, shape).astype(np.float32),
            ),
            "Phase_ifg_VV_13Jan2020_25Jan2020": (
                ("lat", "lon"),
                rng.uniform(-3, 3, shape).astype(np.float32),
            ),
            "coh_IW1_VV_01Jan2020_13Jan2020": (("lat", "lon"), rng.uniform(0, 1, shape).astype(np.float32)),
            "coh_IW1_VV_13Jan2020_25Jan2020": (("lat", "lon"), rng.uniform(0, 1, shape).astype(np.float32)),
            "Intensity_VV": (("lat", "lon"), np.full(shape, 4.0, np.float32)),
            "elevation": (("lat", "lon"), np.full(shape, 120.0, np.float32)),
            "incident_angle": (("lat", "lon"), np.full(shape, 39.0, np.float32)),
            "i_ifg_VV_01Jan2020_13Jan2020": (("lat", "lon"), np.zeros(shape, np.float32)),
        },
        coords={"lat": lat, "lon": lon},
        attrs={"radar_wavelength": 0.05546576},
    )
    ds.to_netcdf(path)
    return path


@pytest.mark.parametrize("lat_increasing", [False, True])
def test_read_snap_netcdf_maps_bands_dates_and_grid(tmp_path: Path, lat_increasing: bool) -> None:
    raw = xr.open_dataset(_snap_file(tmp_path / "snap.nc", lat_increasing=lat_increasing)).load()
    ds = read_snap_netcdf(tmp_path / "snap.nc")
    assert ds["wrapped_phase"].dims == ("pair", "y", "x") and ds.sizes["pair"] == 2
    assert list(ds["pair"].values) == ["20200101_20200113", "20200113_20200125"]
    assert pd.Timestamp(ds["secondary_date"].values[1]) == pd.Timestamp("2020-01-25")
    assert "amplitude" not in ds and "Intensity_VV (no dates)" in ds.attrs["snap_skipped_bands"]
    assert float(ds["dem"].mean()) == pytest.approx(120.0) and float(ds["incidence"].mean()) == pytest.approx(
        39.0
    )
    assert ds.rio.crs.to_epsg() == 4326 and ds.attrs["wavelength_m"] == pytest.approx(0.05546576)
    assert float(ds["y"][0]) > float(ds["y"][-1])  # north-up
    # a pixel keeps its value: the north-west corner of the first phase band
    north_west = raw["Phase_ifg_VV_01Jan2020_13Jan2020"].sel(lat=raw["lat"].max(), lon=raw["lon"].min())
    assert float(ds["wrapped_phase"][0, 0, 0]) == pytest.approx(float(north_west))
    assert "i_ifg_VV_01Jan2020_13Jan2020" in ds.attrs["snap_skipped_bands"]


def test_read_snap_netcdf_single_pair_and_unwrapped(tmp_path: Path) -> None:
    data = np.ones((4, 3), np.float32)
    xr.Dataset(
        {
            "Unw_Phase_ifg_01Jan2020_13Jan2020": (("y", "x"), data),
            "displacement": (("y", "x"), data * 0.01),
            "Intensity_ifg_VV": (("y", "x"), data * 9),
        },
        coords={"y": [40.0, 30.0, 20.0, 10.0], "x": [1.0, 2.0, 3.0]},
    ).to_netcdf(tmp_path / "one.nc")
    ds = read_snap_netcdf(tmp_path / "one.nc")
    assert ds["unwrapped_phase"].dims == ("y", "x")
    assert pd.Timestamp(ds["reference_date"].values) == pd.Timestamp("2020-01-01")
    assert float(ds["los_displacement"].mean()) == pytest.approx(0.01)
    assert float(ds["amplitude"].mean()) == pytest.approx(3.0)  # sqrt(intensity)


def test_read_snap_netcdf_without_known_bands(tmp_path: Path) -> None:
    xr.Dataset({"foo": (("y", "x"), np.ones((2, 2)))}).to_netcdf(tmp_path / "foo.nc")
    with pytest.raises(InputError, match=r"foo\.nc: no recognised SNAP bands"):
        read_snap_netcdf(tmp_path / "foo.nc")
