"""Folders as processors write them (issue 14): interferograms, their coherence and a DEM in one folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from typer.testing import CliRunner

from fringenet.cli import app
from fringenet.errors import InputError
from fringenet.io.open import open_product
from fringenet.io.stack import open_stack_folder, read_gamma_float
from rasters import write_plain_tif
from shared_data import PYRATE, needs_pyrate

H, W = 6, 5
UTM = "EPSG:32633"
GRID = Affine(50.0, 0.0, 400_000.0, 0.0, -50.0, 5_000_000.0)
PAIRS = ["20200101-20200113", "20200113-20200125", "20200101-20200125"]


def tif(path: Path, data: np.ndarray, *, crs: str | None = UTM, transform: Affine = GRID) -> Path:
    return write_plain_tif(path, data, crs=crs, transform=transform)  # type: ignore[arg-type]


def unwrapped(k: int) -> np.ndarray:
    return (np.random.default_rng(k).normal(size=(H, W)) * 5 + 10 * (k + 1)).astype(np.float32)


def coherence(k: int) -> np.ndarray:
    return np.full((H, W), 0.1 * (k + 2), np.float32)


DEM = (np.arange(H * W, dtype=np.float32).reshape(H, W) * 10 + 500).astype(np.float32)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Three unwrapped pairs, coherence for the first two, a DEM: a PyRate-like ``geotiffs/`` folder."""
    for k, pair in enumerate(PAIRS):
        tif(tmp_path / f"{pair}_unw.tif", unwrapped(k))
    for k, pair in enumerate(PAIRS[:2]):
        tif(tmp_path / f"{pair}_cc.tif", coherence(k))
    tif(tmp_path / "dem.tif", DEM)
    return tmp_path


def label(pair: str) -> str:
    return pair.replace("-", "_")


def test_each_pair_gets_its_coherence_the_dem_is_static_and_notes_say_so(folder: Path) -> None:
    stack = open_product(folder)
    assert set(stack.data_vars) == {"unwrapped_phase", "coherence", "dem"}
    assert stack["coherence"].dims == ("pair", "y", "x") and stack["dem"].dims == ("y", "x")
    for k, pair in enumerate(PAIRS):
        np.testing.assert_array_equal(stack["unwrapped_phase"].sel(pair=label(pair)).values, unwrapped(k))
    for k, pair in enumerate(PAIRS[:2]):
        np.testing.assert_allclose(stack["coherence"].sel(pair=label(pair)).values, coherence(k))
    assert np.isnan(stack["coherence"].sel(pair=label(PAIRS[2])).values).all()  # no file: NaN
    np.testing.assert_array_equal(stack["dem"].values, DEM)
    assert stack["dem"].attrs["units"] == "m" and stack.rio.crs == UTM
    notes = " | ".join(stack.encoding["notes"])
    assert "2 of 3 interferograms paired with their coherence file" in notes
    assert "no coherence file for 1 pair(s) (20200101_20200125)" in notes
    assert "dem.tif is the stack's dem" in notes


@pytest.mark.parametrize(
    "name",
    ["dem.tif", "roipac_test_trimmed_dem.tif", "frame.hgt.tif", "geo_20200101.dem.tif",
     "20200101_VV_8rlks_eqa_dem.tif", "124D_04854_171313.geo.hgt.tif", "elevation.tif"],
)  # fmt: skip
def test_dems_named_as_processors_do_are_found(tmp_path: Path, name: str) -> None:
    for k, pair in enumerate(PAIRS):
        tif(tmp_path / f"geo_{pair[2:8]}-{pair[11:]}_unw.tif", unwrapped(k))
    tif(tmp_path / name, DEM)
    stack = open_product(tmp_path)
    assert stack.sizes["pair"] == 3
    np.testing.assert_array_equal(stack["dem"].values, DEM)
    assert any(name in note for note in stack.encoding["notes"])


def test_gamma_cc_binaries_pair_headerless_or_with_their_par(tmp_path: Path) -> None:
    for k, pair in enumerate(PAIRS):
        tif(tmp_path / f"{pair}_unw.tif", unwrapped(k))
    coherence(0).astype(">f4").tofile(tmp_path / f"{PAIRS[0]}_utm.unw.cc")  # PyRate's: no header
    coherence(1).astype("<f4").tofile(tmp_path / f"{PAIRS[1]}.cc")  # little-endian: told by the values
    stack = open_product(tmp_path)
    np.testing.assert_allclose(stack["coherence"].sel(pair=label(PAIRS[0])).values, coherence(0))
    np.testing.assert_allclose(stack["coherence"].sel(pair=label(PAIRS[1])).values, coherence(1))
    assert np.isnan(stack["coherence"].sel(pair=label(PAIRS[2])).values).all()
    notes = " | ".join(stack.encoding["notes"])
    assert "headerless big-endian float32" in notes and "headerless little-endian float32" in notes
    assert "2 of 3 interferograms paired with their coherence file" in notes


def test_a_cc_binary_with_a_dem_par_is_read_on_its_grid(tmp_path: Path) -> None:
    (tmp_path / "EQA.dem_par").write_text(
        "Gamma DIFF&GEO DEM/MAP parameter file\ntitle: DEM\nDEM_projection:     EQA\n"
        f"width: {W}\nnlines: {H}\ncorner_lat:  45.0  decimal degrees\ncorner_lon:  7.0  decimal degrees\n"
        "post_lat: -0.001 decimal degrees\npost_lon: 0.002 decimal degrees\n"
    )
    geo = Affine(0.002, 0.0, 7.0 - 0.001, 0.0, -0.001, 45.0 + 0.0005)
    for k, pair in enumerate(PAIRS):
        tif(tmp_path / f"{pair}_unw.tif", unwrapped(k), crs="EPSG:4326", transform=geo)
    coherence(0).astype(">f4").tofile(tmp_path / f"{PAIRS[0]}.geo.cc")
    stack = open_product(tmp_path)
    np.testing.assert_allclose(stack["coherence"].sel(pair=label(PAIRS[0])).values, coherence(0))
    assert not any("headerless" in note for note in stack.encoding["notes"])

    shifted = tmp_path / "shifted"
    shifted.mkdir()
    shutil.copy(tmp_path / "EQA.dem_par", shifted)
    shutil.copy(tmp_path / f"{PAIRS[0]}.geo.cc", shifted)
    for k, pair in enumerate(PAIRS):
        tif(
            shifted / f"{pair}_unw.tif",
            unwrapped(k),
            crs="EPSG:4326",
            transform=geo * Affine.translation(1, 0),
        )
    with pytest.raises(InputError, match=r"20200101-20200113\.geo\.cc.*not on the grid.*transform"):
        open_product(shifted)


def test_coherence_or_dem_off_the_grid_is_refused_naming_the_file(folder: Path) -> None:
    shifted = GRID * Affine.translation(1, 0)
    tif(folder / f"{PAIRS[2]}_cc.tif", coherence(2), transform=shifted)
    with pytest.raises(
        InputError, match=r"20200101-20200125_cc\.tif.*coherence file not on the grid.*transform"
    ):
        open_product(folder)
    (folder / f"{PAIRS[2]}_cc.tif").unlink()
    tif(folder / "dem.tif", DEM, crs="EPSG:32632")
    with pytest.raises(InputError, match=r"dem\.tif.*dem file not on the grid.*CRS"):
        open_product(folder)
    tif(folder / "dem.tif", DEM[:, :4])
    with pytest.raises(InputError, match=r"dem\.tif.*shape 6 x 4"):
        open_product(folder)


def test_a_cc_binary_of_the_wrong_size_and_a_second_dem_are_refused(folder: Path) -> None:
    coherence(2)[:, :4].astype(">f4").tofile(folder / f"{PAIRS[2]}_utm.unw.cc")
    with pytest.raises(InputError, match=r"20200101-20200125_utm\.unw\.cc.*headerless float32.*6 x 5"):
        open_product(folder)
    (folder / f"{PAIRS[2]}_utm.unw.cc").unlink()
    tif(folder / "site_dem.tif", DEM)
    with pytest.raises(InputError, match=r"second dem file"):
        open_product(folder)


def test_a_coherence_file_without_its_interferogram_is_noted_and_unused(folder: Path) -> None:
    tif(folder / "20200125-20200206_cc.tif", coherence(3))
    stack = open_stack_folder(folder)
    assert stack.sizes["pair"] == 3
    assert any(
        "match no interferogram" in n and "20200125-20200206_cc.tif" in n for n in stack.encoding["notes"]
    )


def test_an_undated_file_that_names_no_layer_is_refused_saying_how_a_dem_is_named(folder: Path) -> None:
    tif(folder / "roipac_test_trimmed.tif", DEM)
    with pytest.raises(InputError, match=r"roipac_test_trimmed\.tif.*no pair dates.*dem\.tif, \*_dem\.tif"):
        open_product(folder)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_a_folder_of_raw_binaries_takes_the_dem_geotiff_beside_them(tmp_path: Path) -> None:
    (tmp_path / "20200101.rmli.par").write_text(
        "Gamma Interferometric SAR Processor (ISP) - Image Parameter File\n\n"
        f"title:     S1A IW 20200101\nrange_samples:   {W}\nazimuth_lines:   {H}\nimage_format:    FLOAT\n"
        "radar_frequency:   5.4050000e+09   Hz\n"
    )
    for k, pair in enumerate(PAIRS):
        unwrapped(k).astype(">f4").tofile(tmp_path / f"{label(pair)}.unw")
    tif(tmp_path / "dem.tif", DEM, crs=None, transform=Affine.identity())  # radar geometry as the binaries
    stack = open_product(tmp_path)
    assert stack.sizes["pair"] == 3 and stack.rio.crs is None
    np.testing.assert_array_equal(stack["dem"].values, DEM)
    assert any("dem.tif is the stack's dem" in n for n in stack.encoding["notes"])


def test_cli_info_shows_the_paired_coherence_and_the_dem(folder: Path) -> None:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["info", str(folder)])
    assert result.exit_code == 0, result.output
    assert "coherence [1] (pair, y, x)" in result.output and "dem [m] (y, x)" in result.output
    assert "note: coherence: 2 of 3 interferograms paired" in result.output


@pytest.mark.shared_data
@needs_pyrate
def test_pyrate_interferograms_coherence_and_dem_in_one_folder(tmp_path: Path) -> None:
    """PyRate's small test stack as one folder (links, nothing copied): 17 pairs, each with its coherence."""
    for path in [*(PYRATE / "tif").glob("*_unw.tif"), *(PYRATE / "coherence").glob("*.cc")]:
        (tmp_path / path.name).symlink_to(path)
    (tmp_path / "roipac_test_trimmed_dem.tif").symlink_to(PYRATE / "dem" / "roipac_test_trimmed.tif")
    stack = open_product(tmp_path, nodata=0.0)
    assert stack.sizes["pair"] == 17 and stack["coherence"].shape == (17, 72, 47)
    first = sorted((PYRATE / "coherence").glob("*.cc"))[0]  # 20060619-20061002, the first pair
    expected = read_gamma_float(first, (72, 47))
    np.testing.assert_array_equal(
        stack["coherence"].isel(pair=0).values, np.where(expected == 0, np.nan, expected)
    )
    assert np.isfinite(stack["coherence"].values).mean() > 0.5
    dem = stack["dem"].values
    assert dem.shape == (72, 47) and 0 < np.nanmedian(dem) < 1000  # m, the NSW Southern Coalfield
    notes = " | ".join(stack.encoding["notes"])
    assert "17 of 17 interferograms paired with their coherence file" in notes
    assert "headerless big-endian float32" in notes and "roipac_test_trimmed_dem.tif" in notes
