"""open_product dispatch over every supported input, and describe()."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine

from fringenet.errors import InputError
from fringenet.io.geotiff import write_geotiff
from fringenet.io.mintpy import write_mintpy_timeseries, write_mintpy_velocity
from fringenet.io.netcdf import write_netcdf
from fringenet.io.open import describe, open_product
from fringenet.io.schema import make_dataset
from fringenet.io.zarr_store import write_zarr
from shared_data import PYRATE as SHARED
from shared_data import needs_pyrate

UTM = "EPSG:32631"
TRANSFORM = Affine(20.0, 0.0, 600_000.0, 0.0, -20.0, 5_500_000.0)


def _pair(ref: str, sec: str) -> xr.Dataset:
    phase = np.linspace(-3, 3, 8 * 9, dtype=np.float32).reshape(8, 9)
    phase[0, 0] = np.nan
    return make_dataset(
        {"wrapped_phase": phase},
        transform=TRANSFORM,
        crs=UTM,
        reference_dates=ref,
        secondary_dates=sec,
        wavelength_m=0.0555,
    )


def test_open_product_dispatches_on_what_the_path_is(tmp_path: Path) -> None:
    one = _pair("2020-01-01", "2020-01-13")
    stack_dir = tmp_path / "pairs"
    write_geotiff(one, stack_dir / "20200101_20200113_phase.tif")
    write_geotiff(_pair("2020-01-13", "2020-01-25"), stack_dir / "20200113_20200125_phase.tif")
    licsar = tmp_path / "frame" / "interferograms" / "20200101_20200113"
    write_geotiff(one, licsar / "20200101_20200113.geo.diff_pha.tif")
    stacked = open_product(stack_dir)
    write_netcdf(stacked, tmp_path / "stack.nc")
    write_zarr(stacked, tmp_path / "stack.zarr")
    disp = np.zeros((2, 8, 9), np.float32)
    write_mintpy_timeseries(
        tmp_path / "timeseries.h5", disp, ["2020-01-01", "2020-01-13"], TRANSFORM, UTM, 0.0555
    )
    write_mintpy_velocity(
        tmp_path / "velocity.h5", disp[0], "2020-01-01", "2020-01-13", TRANSFORM, UTM, 0.0555
    )

    expectations = {
        stack_dir / "20200101_20200113_phase.tif": ("GeoTIFF", "wrapped_phase", None),
        stack_dir: ("folder of GeoTIFF pairs", "wrapped_phase", 2),
        tmp_path / "frame": ("LiCSAR frame folder", "wrapped_phase", 1),
        tmp_path / "stack.nc": ("fringenet NetCDF", "wrapped_phase", 2),
        tmp_path / "stack.zarr": ("fringenet Zarr", "wrapped_phase", 2),
        tmp_path / "timeseries.h5": ("MintPy timeseries", "los_displacement", None),
        tmp_path / "velocity.h5": ("MintPy velocity", "los_velocity", None),
    }
    for path, (kind, variable, pairs) in expectations.items():
        ds = open_product(path)
        assert ds.encoding["source_format"] == kind, path
        assert variable in ds.data_vars and ds.rio.crs == UTM and ds.rio.transform() == TRANSFORM
        assert ds.sizes.get("pair") == pairs
        text = describe(ds)
        assert kind in text and variable in text and "EPSG:32631" in text


def test_describe_reports_units_pixel_size_pairs_wavelength_and_nan(tmp_path: Path) -> None:
    write_geotiff(_pair("2020-01-01", "2020-01-13"), tmp_path / "a" / "20200101_20200113_phase.tif")
    write_geotiff(_pair("2020-01-01", "2020-02-06"), tmp_path / "a" / "20200101_20200206_phase.tif")
    text = describe(open_product(tmp_path / "a"))
    assert "wrapped_phase [rad] (pair, y, x)" in text
    assert "pixel 20 x 20 m" in text and "8 x 9 px" in text
    assert "pairs: 2 from 2020-01-01 to 2020-02-06, 3 dates, spans 12-36 days" in text
    assert "wavelength: 0.0555 m (metadata)" in text
    assert f"{100 / 72:.1f}% NaN" in text


def test_open_product_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        open_product(tmp_path / "absent.tif")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match=r"notes\.txt: unsupported file type"):
        open_product(tmp_path / "notes.txt")
    with pytest.raises(InputError, match="holds no Zarr store"):
        open_product(tmp_path)
    with h5py.File(tmp_path / "geometryGeo.h5", "w") as f:
        f.attrs["FILE_TYPE"] = "geometry"
    with pytest.raises(InputError, match="unsupported HDF5 file type 'geometry'"):
        open_product(tmp_path / "geometryGeo.h5")
    (tmp_path / "broken.tif").write_bytes(b"II*\x00" + b"\x00" * 50)
    with pytest.raises(InputError, match=r"broken\.tif"):
        open_product(tmp_path / "broken.tif")


@pytest.mark.shared_data
@needs_pyrate
def test_open_product_reads_pyrate_dem_and_stack() -> None:
    dem = open_product(SHARED / "dem" / "roipac_test_trimmed.tif")
    with rasterio.open(SHARED / "dem" / "roipac_test_trimmed.tif") as src:
        raw = src.read(1)
    assert dem["dem"].shape == (72, 47)
    valid = raw != 0
    np.testing.assert_allclose(dem["dem"].values[valid], raw[valid])  # elevations in metres, untouched
    stack = open_product(SHARED / "tif")
    assert stack.sizes["pair"] == 17 and "72 x 47 px" in describe(stack)
