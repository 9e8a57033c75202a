"""GeoTIFF reading/writing, LiCSAR naming and LiCSAR frame folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine

from fringenet.errors import InputError
from fringenet.io.geotiff import infer_variable, read_geotiff, read_licsar_folder, write_geotiff
from fringenet.io.schema import make_dataset
from rasters import write_plain_tif

UTM = "EPSG:32633"
TRANSFORM = Affine(100.0, 0.0, 500_000.0, 0.0, -100.0, 4_200_000.0)


def write_tif(
    path: Path, data: np.ndarray, *, nodata: float | None = None, crs: str = UTM, transform=TRANSFORM
) -> Path:
    """A plain single-band GeoTIFF as a processor would write it."""
    return write_plain_tif(path, data, crs=crs, transform=transform, nodata=nodata)


@pytest.mark.parametrize(
    ("name", "variable"),
    [
        ("20200101_20200113.geo.diff_pha.tif", "wrapped_phase"),
        ("20200101_20200113.geo.cc.tif", "coherence"),
        ("20200101_20200113.geo.unw.tif", "unwrapped_phase"),
        ("124D_05291_131313.geo.hgt.tif", "dem"),
        ("124D_05291_131313.geo.E.tif", "los_east"),
        ("124D_05291_131313.geo.N.tif", "los_north"),
        ("124D_05291_131313.geo.U.tif", "los_up"),
        ("geo_060619-061002_unw.tif", "unwrapped_phase"),
        ("20060619-20061002_utm.unw.cc", "coherence"),
        ("ifg_20200101_20200113_unw_phase.tif", "unwrapped_phase"),
        ("ifg_20200101_20200113_phase.tif", "wrapped_phase"),
        ("coh_20200101_20200113.tif", "coherence"),
        ("srtm_dem.tif", "dem"),
        ("20200101.mli.tif", "amplitude"),
        ("stuff.tif", None),
    ],
)
def test_infer_variable_from_names(name: str, variable: str | None) -> None:
    assert infer_variable(name) == variable


def test_geotiff_round_trip_keeps_values_grid_dates_and_wavelength(tmp_path) -> None:
    rng = np.random.default_rng(1)
    phase = rng.uniform(-3, 3, (20, 30)).astype(np.float32)
    phase[0, 0] = np.nan
    ds = make_dataset(
        {"unwrapped_phase": phase},
        transform=TRANSFORM,
        crs=UTM,
        reference_dates="2021-03-01",
        secondary_dates="2021-03-13",
        wavelength_m=0.0555,
        sensor="Sentinel-1",
    )
    path = write_geotiff(ds, tmp_path / "anything.tif")
    with rasterio.open(path) as src:
        assert src.profile["tiled"] and src.compression.name.lower() == "deflate"
    back = read_geotiff(path)
    np.testing.assert_allclose(back["unwrapped_phase"].values, phase, atol=0, equal_nan=True)
    assert back["unwrapped_phase"].attrs["units"] == "rad"
    assert back.rio.crs == ds.rio.crs and back.rio.transform() == TRANSFORM
    assert pd.Timestamp(back["reference_date"].values) == pd.Timestamp("2021-03-01")
    assert pd.Timestamp(back["secondary_date"].values) == pd.Timestamp("2021-03-13")
    assert back.attrs["wavelength_m"] == pytest.approx(0.0555, abs=1e-12)
    assert back.attrs["sensor"] == "Sentinel-1"
    assert not list(tmp_path.glob(".*"))  # no temporary left behind


def test_write_geotiff_bool_label_as_uint8(tmp_path) -> None:
    label = np.zeros((8, 8), bool)
    label[2:5, 3:6] = True
    ds = make_dataset({"label": label}, transform=TRANSFORM, crs=UTM)
    back = read_geotiff(write_geotiff(ds, tmp_path / "mask.tif"))
    assert back["label"].dtype == np.uint8 and int(back["label"].sum()) == 9


def test_licsar_coherence_uint8_scaled_to_unit_interval(tmp_path) -> None:
    cc = np.array([[0, 1, 128], [255, 200, 50]], np.uint8)
    ds = read_geotiff(write_tif(tmp_path / "20200101_20200113.geo.cc.tif", cc))
    values = ds["coherence"].values
    assert np.isnan(values[0, 0])  # LiCSAR: 0 = outside the frame
    np.testing.assert_allclose(values[1], [1.0, 200 / 255, 50 / 255], atol=1e-6)
    assert np.nanmax(values) <= 1.0 and ds["coherence"].dtype == np.float32


def test_nodata_value_and_extra_nodata_become_nan(tmp_path) -> None:
    data = np.array([[-9999.0, 0.0, 1.5], [2.0, 0.0, -1.0]], np.float32)
    path = write_tif(tmp_path / "geo_060619-061002_unw.tif", data, nodata=-9999.0)
    plain = read_geotiff(path)["unwrapped_phase"].values
    assert np.isnan(plain[0, 0]) and plain[0, 1] == 0.0
    zero_masked = read_geotiff(path, nodata=0)["unwrapped_phase"].values
    assert np.isnan(zero_masked).sum() == 3 and zero_masked[0, 2] == pytest.approx(1.5)


def test_read_geotiff_lazy_with_chunks(tmp_path) -> None:
    path = write_tif(tmp_path / "20200101_20200113.geo.unw.tif", np.ones((16, 16), np.float32))
    ds = read_geotiff(path, chunks={"y": 8, "x": 8})
    assert ds["unwrapped_phase"].chunks == ((8, 8), (8, 8))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.geo.unw.tif", "file not found"),
        (lambda d: _garbage(d / "20200101_20200113.geo.unw.tif"), "not a readable GeoTIFF"),
        (lambda d: _truncated(d / "20200101_20200113.geo.unw.tif"), "20200101_20200113.geo.unw.tif"),
        (
            lambda d: write_tif(d / "20200101_20200113.geo.unw.tif", np.full((4, 4), np.nan, np.float32)),
            "no valid pixels",
        ),
        (lambda d: write_tif(d / "mystery.tif", np.ones((4, 4), np.float32)), "which variable"),
    ],
)
def test_read_geotiff_bad_input_raises_input_error(tmp_path, make, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(InputError, match=message) as info:
        ds = read_geotiff(path)
        ds.load()  # a truncated file may only fail when pixels are read
    assert path.name in str(info.value)


def _garbage(path: Path) -> Path:
    path.write_bytes(b"this is not a tiff" * 10)
    return path


def _truncated(path: Path) -> Path:
    write_tif(path, np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32))
    path.write_bytes(path.read_bytes()[:300])
    return path


def _licsar_frame(root: Path, pairs: list[str], with_unw: set[str]) -> None:
    rng = np.random.default_rng(3)
    shape = (12, 10)
    for pair in pairs:
        folder = root / "interferograms" / pair
        write_tif(folder / f"{pair}.geo.diff_pha.tif", rng.uniform(-np.pi, np.pi, shape).astype(np.float32))
        write_tif(folder / f"{pair}.geo.cc.tif", rng.integers(1, 256, shape).astype(np.uint8))
        if pair in with_unw:
            write_tif(folder / f"{pair}.geo.unw.tif", rng.normal(0, 5, shape).astype(np.float32))
    for kind, value in (("hgt", 350.0), ("E", -0.6), ("N", -0.1), ("U", 0.78)):
        write_tif(root / "metadata" / f"124D_05291_131313.geo.{kind}.tif", np.full(shape, value, np.float32))


def test_read_licsar_folder_builds_a_sorted_stack_with_static_layers(tmp_path) -> None:
    pairs = ["20200113_20200125", "20200101_20200113", "20200101_20200125"]
    _licsar_frame(tmp_path, pairs, with_unw={"20200101_20200113"})
    ds = read_licsar_folder(tmp_path)
    assert list(ds["pair"].values) == ["20200101_20200113", "20200101_20200125", "20200113_20200125"]
    assert ds["wrapped_phase"].dims == ("pair", "y", "x") and ds.sizes["pair"] == 3
    assert ds["dem"].dims == ("y", "x") and float(ds["dem"].mean()) == pytest.approx(350.0)
    assert float(ds["los_up"].mean()) == pytest.approx(0.78, abs=1e-6)
    cc = ds["coherence"].values
    assert np.nanmin(cc) > 0 and np.nanmax(cc) <= 1
    unw = ds["unwrapped_phase"].values
    assert np.isfinite(unw[0]).all() and np.isnan(unw[1:]).all()  # unw only for the first pair
    assert ds.rio.crs == UTM and ds.attrs["sensor"] == "Sentinel-1"
    assert abs(float(ds["wrapped_phase"].max())) <= np.pi


def test_read_licsar_folder_rejects_a_file_on_another_grid(tmp_path) -> None:
    _licsar_frame(tmp_path, ["20200101_20200113"], with_unw=set())
    odd = tmp_path / "interferograms" / "20200113_20200125" / "20200113_20200125.geo.diff_pha.tif"
    write_tif(odd, np.zeros((12, 11), np.float32))
    with pytest.raises(InputError, match=r"20200113_20200125\.geo\.diff_pha\.tif.*shape"):
        read_licsar_folder(tmp_path)


def test_read_licsar_folder_without_products(tmp_path) -> None:
    with pytest.raises(InputError, match="no LiCSAR products"):
        read_licsar_folder(tmp_path)
