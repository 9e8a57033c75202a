"""Folders of per-pair GeoTIFFs as lazy stacks, stacking Datasets, headerless GAMMA binaries."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import pytest
from affine import Affine

from fringenet.errors import InputError
from fringenet.io.schema import make_dataset
from fringenet.io.stack import open_stack_folder, read_gamma_float, stack_from_datasets
from rasters import write_plain_tif
from shared_data import PYRATE as SHARED
from shared_data import needs_pyrate

UTM = "EPSG:32633"
TRANSFORM = Affine(50.0, 0.0, 400_000.0, 0.0, -50.0, 5_000_000.0)


def write_tif(path: Path, data: np.ndarray, *, crs: str = UTM, transform: Affine = TRANSFORM) -> Path:
    return write_plain_tif(path, data, crs=crs, transform=transform)


PAIRS = ["20200113_20200125", "20200101_20200113", "20200101_20200125"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for i, pair in enumerate(PAIRS):
        write_tif(tmp_path / f"{pair}.geo.unw.tif", np.full((10, 12), float(i), np.float32))
    return tmp_path


def test_open_stack_folder_is_lazy_sorted_and_georeferenced(folder: Path) -> None:
    ds = open_stack_folder(folder, wavelength_m=0.0555, sensor="Sentinel-1")
    phase = ds["unwrapped_phase"]
    assert isinstance(phase.data, da.Array)  # nothing read yet
    assert phase.dims == ("pair", "y", "x") and phase.shape == (3, 10, 12)
    assert list(ds["pair"].values) == sorted(PAIRS)
    refs = pd.to_datetime(ds["reference_date"].values)
    assert list(refs.strftime("%Y%m%d")) == ["20200101", "20200101", "20200113"]
    # values follow their files through the sort: file i holds the constant i
    np.testing.assert_array_equal(phase.mean(("y", "x")).values, [1.0, 2.0, 0.0])
    assert ds.rio.crs == UTM and ds.rio.transform() == TRANSFORM
    assert ds.attrs["wavelength_m"] == 0.0555 and ds.attrs["sensor"] == "Sentinel-1"


def test_open_stack_folder_rejects_a_file_on_another_grid(folder: Path) -> None:
    shifted = Affine(50.0, 0.0, 400_050.0, 0.0, -50.0, 5_000_000.0)
    write_tif(folder / "20200125_20200206.geo.unw.tif", np.zeros((10, 12), np.float32), transform=shifted)
    with pytest.raises(InputError, match=r"20200125_20200206\.geo\.unw\.tif.*transform"):
        open_stack_folder(folder)


def test_open_stack_folder_rejects_another_crs(folder: Path) -> None:
    write_tif(folder / "20200125_20200206.geo.unw.tif", np.zeros((10, 12), np.float32), crs="EPSG:32632")
    with pytest.raises(InputError, match=r"20200125_20200206\.geo\.unw\.tif.*CRS"):
        open_stack_folder(folder)


def test_open_stack_folder_rejects_another_shape(folder: Path) -> None:
    write_tif(folder / "20200125_20200206.geo.unw.tif", np.zeros((11, 12), np.float32))
    with pytest.raises(InputError, match=r"20200125_20200206\.geo\.unw\.tif.*shape 11 x 12"):
        open_stack_folder(folder)


def test_open_stack_folder_rejects_a_file_without_dates(folder: Path) -> None:
    write_tif(folder / "mystery_unw.tif", np.zeros((10, 12), np.float32))
    with pytest.raises(InputError, match=r"mystery_unw\.tif.*no pair dates"):
        open_stack_folder(folder)


def test_open_stack_folder_rejects_duplicate_pairs(folder: Path) -> None:
    write_tif(folder / "geo_200101-200113_unw.tif", np.zeros((10, 12), np.float32))
    with pytest.raises(InputError, match="duplicate pair 20200101_20200113"):
        open_stack_folder(folder)


def test_open_stack_folder_empty_or_missing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no files matching"):
        open_stack_folder(tmp_path)
    with pytest.raises(InputError, match="folder not found"):
        open_stack_folder(tmp_path / "nope")


def test_stack_from_datasets_sorts_and_keeps_static_layers() -> None:
    def one(ref: str, sec: str, value: float):
        return make_dataset(
            {"wrapped_phase": np.full((4, 5), value), "dem": np.full((4, 5), 100.0)},
            transform=TRANSFORM,
            crs=UTM,
            reference_dates=ref,
            secondary_dates=sec,
        )

    stack = stack_from_datasets([one("2020-02-01", "2020-02-13", 2.0), one("2020-01-01", "2020-01-13", 1.0)])
    assert list(stack["pair"].values) == ["20200101_20200113", "20200201_20200213"]
    np.testing.assert_array_equal(stack["wrapped_phase"].mean(("y", "x")).values, [1.0, 2.0])
    assert stack["dem"].dims == ("y", "x") and stack.rio.crs == UTM
    with pytest.raises(InputError, match="duplicate pairs"):
        stack_from_datasets([one("2020-01-01", "2020-01-13", 1.0)] * 2)
    other = make_dataset(
        {"wrapped_phase": np.zeros((4, 6))}, reference_dates="2020-03-01", secondary_dates="2020-03-13"
    )
    with pytest.raises(InputError, match="grid shape"):
        stack_from_datasets([one("2020-01-01", "2020-01-13", 1.0), other])


def test_read_gamma_float_reads_big_endian_and_checks_size(tmp_path: Path) -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    path = tmp_path / "20200101-20200113_utm.unw.cc"
    values.astype(">f4").tofile(path)
    np.testing.assert_array_equal(read_gamma_float(path, (3, 4)), values)
    with pytest.raises(InputError, match=r"utm\.unw\.cc: file has 48 bytes but a 4 x 4 raster"):
        read_gamma_float(path, (4, 4))
    with pytest.raises(InputError, match="file not found"):
        read_gamma_float(tmp_path / "absent.cc", (3, 4))


needs_shared = needs_pyrate


@pytest.mark.shared_data
@needs_shared
def test_pyrate_small_test_stack_reads_as_17_pairs_on_a_72_by_47_grid() -> None:
    ds = open_stack_folder(SHARED / "tif", "*_unw.tif", nodata=0)
    phase = ds["unwrapped_phase"]
    assert phase.shape == (17, 72, 47) and isinstance(phase.data, da.Array)
    assert ds.rio.crs.to_epsg() == 4326
    assert ds.rio.transform().a == pytest.approx(0.000833333, rel=1e-6)
    assert ds.attrs["wavelength_m"] == pytest.approx(0.0562356424)
    assert pd.Timestamp(ds["reference_date"].values[0]) == pd.Timestamp("2006-06-19")
    assert pd.Timestamp(ds["secondary_date"].values[-1]) == pd.Timestamp("2007-08-13")
    values = phase.values
    assert not (values == 0).any()  # 0 = nodata became NaN
    nan_fraction = np.isnan(values).mean()
    assert 0.0 < nan_fraction < 0.3
    # unwrapped phase of ~90 m ENVISAT pairs spanning months: tens of radians at most
    assert np.nanmax(np.abs(values)) < 100.0


@pytest.mark.shared_data
@needs_shared
def test_pyrate_coherence_binaries_match_the_tif_grid() -> None:
    files = sorted((SHARED / "coherence").glob("*_utm.unw.cc"))
    assert len(files) == 17
    coherence = np.stack([read_gamma_float(f, (72, 47)) for f in files])
    assert coherence.shape == (17, 72, 47) and coherence.dtype == np.float32
    finite = coherence[np.isfinite(coherence)]
    assert finite.min() >= 0.0 and finite.max() <= 1.0
    assert 0.1 < float(np.median(finite)) < 0.95
    with pytest.raises(InputError, match="needs"):
        read_gamma_float(files[0], (47, 73))
