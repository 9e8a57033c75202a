"""Raw binaries with parameter files (GAMMA, ISCE, plain float32 + par) through open_product and the CLI."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fringenet.cli import app
from fringenet.errors import InputError
from fringenet.io.binary import binary_kind, read_par
from fringenet.io.open import open_product

H, W = 6, 5
C = 299_792_458.0
GREECE = Path(__file__).resolve().parents[2] / "shared" / "data" / "coseismic" / "greece"


def _complex(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(H, W)) + 1j * rng.normal(size=(H, W))).astype(np.complex64)


def _float(seed: int = 1, scale: float = 10.0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(size=(H, W)) * scale).astype(np.float32)


def _gamma_off(path: Path, width: int = W, lines: int = H) -> Path:
    path.write_text(
        "Gamma Interferometric SAR Processor (ISP)\nInterferogram and Image Offset Parameter File\n\n"
        f"title:  20200101_20200113\ninterferogram_width:      {width}\n"
        f"interferogram_azimuth_lines:    {lines}\ninterferogram_range_looks:   4\n"
    )
    return path


def _gamma_mli_par(path: Path, width: int = W, lines: int = H, frequency: float = 5.405e9) -> Path:
    path.write_text(
        "Gamma Interferometric SAR Processor (ISP) - Image Parameter File\n\n"
        "title:     S1A IW 20200101\nsensor:    S1A IW IW2 VV\ndate:      2020 01 01\n"
        f"range_samples:   {width}\nazimuth_lines:   {lines}\nimage_format:    FLOAT\n"
        f"range_pixel_spacing:   9.3      m\nradar_frequency:   {frequency:.7e}   Hz\n"
    )
    return path


def _isce_xml(path: Path, dtype: str, bands: int = 1, scheme: str = "BIL", order: str = "l") -> Path:
    props = {"width": W, "length": H, "number_bands": bands, "data_type": dtype, "scheme": scheme}
    props["byte_order"] = order
    body = "".join(f'  <property name="{k}"><value>{v}</value></property>\n' for k, v in props.items())
    coords = (
        '  <component name="coordinate1"><property name="startingvalue"><value>0</value></property>'
        f'<property name="delta"><value>1</value></property><property name="size"><value>{W}</value></property></component>\n'
    )
    xml = Path(str(path) + ".xml")
    xml.write_text(f"<imageFile>\n{body}{coords}</imageFile>\n")
    return xml


# ------------------------------------------------------------------ GAMMA


def test_gamma_diff_is_the_angle_of_big_endian_complex_in_radar_geometry(tmp_path: Path) -> None:
    ifg = _complex()
    ifg[0, 0] = 0  # no data
    path = tmp_path / "20200101_20200113.diff"
    ifg.astype(">c8").tofile(path)
    _gamma_off(tmp_path / "20200101_20200113.off")
    _gamma_mli_par(tmp_path / "20200101.rmli.par")

    ds = open_product(path)
    phase = ds["wrapped_phase"].values
    assert phase.shape == (H, W) and phase.dtype == np.float32
    assert np.isnan(phase[0, 0])
    np.testing.assert_allclose(phase.ravel()[1:], np.angle(ifg).ravel()[1:], atol=1e-6)
    assert np.all(np.abs(phase[np.isfinite(phase)]) <= np.pi)
    assert ds.rio.crs is None
    assert list(ds["x"].values) == [c + 0.5 for c in range(W)] and list(ds["y"].values) == [
        r + 0.5 for r in range(H)
    ]
    assert ds.attrs["wavelength_m"] == pytest.approx(C / 5.405e9)
    assert ds.attrs["wavelength_source"] == "metadata" and ds.attrs["sensor"] == "S1A"
    assert pd.Timestamp(ds["reference_date"].values) == pd.Timestamp("2020-01-01")
    assert pd.Timestamp(ds["secondary_date"].values) == pd.Timestamp("2020-01-13")
    notes = ds.encoding["notes"]
    assert notes[0].startswith("radar geometry: no CRS")
    assert any("radar_frequency" in n and "20200101.rmli.par" in n for n in notes)
    assert "GAMMA" in ds.encoding["source_format"]


def test_gamma_unw_cc_and_modified_names_use_the_mli_par(tmp_path: Path) -> None:
    _gamma_mli_par(tmp_path / "20200101.mli.par")
    unw, cc = _float(1), np.abs(_float(2, 0.3)).clip(0, 1)
    unw.astype(">f4").tofile(tmp_path / "20200101_20200113.unw")
    cc.astype(">f4").tofile(tmp_path / "20200101_20200113.cc")
    _complex(3).astype(">c8").tofile(tmp_path / "20200101_20200113.diff.ml.sm")

    ds = open_product(tmp_path / "20200101_20200113.unw")
    np.testing.assert_array_equal(ds["unwrapped_phase"].values, unw)
    assert ds["unwrapped_phase"].attrs["units"] == "rad"
    np.testing.assert_array_equal(open_product(tmp_path / "20200101_20200113.cc")["coherence"].values, cc)
    sm = open_product(tmp_path / "20200101_20200113.diff.ml.sm")
    np.testing.assert_allclose(sm["wrapped_phase"].values, np.angle(_complex(3)), atol=1e-6)
    assert binary_kind("x.diff.ml.sm") == "diff" and binary_kind("x_utm.unw.cc") == "cc"
    assert binary_kind("x.tif") is None


def test_gamma_nodata_zero_and_the_zero_note(tmp_path: Path) -> None:
    _gamma_mli_par(tmp_path / "a.mli.par")
    unw = _float(4)
    unw[:2] = 0.0
    unw.astype(">f4").tofile(tmp_path / "20200101_20200113.unw")
    ds = open_product(tmp_path / "20200101_20200113.unw")
    assert any("exactly 0" in n for n in ds.encoding["notes"])
    masked = open_product(tmp_path / "20200101_20200113.unw", nodata=0)
    assert np.isnan(masked["unwrapped_phase"].values[:2]).all()
    assert np.isfinite(masked["unwrapped_phase"].values[2:]).all()


def test_gamma_dem_par_gives_a_geographic_grid(tmp_path: Path) -> None:
    (tmp_path / "EQA.dem_par").write_text(
        "Gamma DIFF&GEO DEM/MAP parameter file\ntitle: DEM\nDEM_projection:     EQA\n"
        f"width: {W}\nnlines: {H}\ncorner_lat:  45.0  decimal degrees\ncorner_lon:  7.0  decimal degrees\n"
        "post_lat: -0.001 decimal degrees\npost_lon: 0.002 decimal degrees\n"
    )
    _complex().astype(">c8").tofile(tmp_path / "20200101_20200113.geo.diff")
    ds = open_product(tmp_path / "20200101_20200113.geo.diff")
    assert ds.rio.crs.to_epsg() == 4326
    assert ds["x"].values[0] == pytest.approx(7.0) and ds["y"].values[0] == pytest.approx(45.0)
    assert ds["y"].values[-1] == pytest.approx(45.0 - 0.001 * (H - 1))
    assert not any(n.startswith("radar geometry") for n in ds.encoding.get("notes", []))


def test_little_endian_gamma_file_is_read_the_other_way_with_a_note(tmp_path: Path) -> None:
    _gamma_mli_par(tmp_path / "a.mli.par")
    unw = _float(5)
    unw.astype("<f4").tofile(tmp_path / "20200101_20200113.unw")
    ds = open_product(tmp_path / "20200101_20200113.unw")
    np.testing.assert_array_equal(ds["unwrapped_phase"].values, unw)
    assert any("little-endian instead" in n for n in ds.encoding["notes"])


# ------------------------------------------------------------------ errors


def test_wrong_width_truncated_and_missing_par_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "20200101_20200113.diff"
    _complex().astype(">c8").tofile(path)
    with pytest.raises(InputError, match=r"20200101_20200113\.diff: no parameter file beside it"):
        open_product(path)

    _gamma_off(tmp_path / "20200101_20200113.off", width=7)
    with pytest.raises(InputError) as err:
        open_product(path)
    assert err.value.source == str(path)
    assert (
        "is not a whole number of 7-px" in err.value.problem and "20200101_20200113.off" in err.value.problem
    )

    _gamma_off(tmp_path / "20200101_20200113.off", width=W, lines=H + 2)
    with pytest.raises(
        InputError, match=r"240 bytes hold 6 5-px complex64 rows, but .* gives 8 lines .*: truncated"
    ):
        open_product(path)


def test_isce_bad_xml_and_too_short_file(tmp_path: Path) -> None:
    path = tmp_path / "filt_fine.unw"
    np.zeros((H - 1, 2 * W), "<f4").tofile(path)
    _isce_xml(path, "FLOAT", bands=2)
    with pytest.raises(InputError, match="truncated"):
        open_product(path)
    Path(str(path) + ".xml").write_text("<imageFile><property name='width'>")
    with pytest.raises(InputError, match=r"not a readable ISCE \.xml"):
        open_product(path)


def test_cli_info_prints_one_error_line_and_reads_a_good_file(tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "20200101_20200113.unw"
    _float().astype(">f4").tofile(path)
    result = runner.invoke(app, ["info", str(path)])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "20200101_20200113.unw" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2

    _gamma_mli_par(tmp_path / "20200101.mli.par", width=W + 2)
    result = runner.invoke(app, ["info", str(path)])
    assert result.exit_code == 2 and "is not a whole number of 7-px float32 rows" in result.output

    _gamma_mli_par(tmp_path / "20200101.mli.par")
    result = runner.invoke(app, ["info", str(path)])
    assert result.exit_code == 0, result.output
    assert "unwrapped_phase" in result.output and "crs: none" in result.output
    assert "note: radar geometry: no CRS" in result.output


# ------------------------------------------------------------------ ISCE


@pytest.mark.parametrize("scheme", ["BIL", "BIP", "BSQ"])
def test_isce_unw_reads_the_phase_band_of_each_scheme(tmp_path: Path, scheme: str) -> None:
    amp, phase = _float(6), _float(7)
    stacked = {"BIL": np.concatenate([amp, phase], axis=1), "BIP": np.stack([amp, phase], axis=-1)}
    stacked["BSQ"] = np.stack([amp, phase])
    path = tmp_path / "20200101_20200113" / "filt_fine.unw"
    path.parent.mkdir()
    stacked[scheme].astype("<f4").tofile(path)
    _isce_xml(path, "FLOAT", bands=2, scheme=scheme)
    ds = open_product(path)
    np.testing.assert_array_equal(ds["unwrapped_phase"].values, phase)
    assert ds.rio.crs is None and ds.encoding["notes"][0].startswith("radar geometry")
    assert pd.Timestamp(ds["reference_date"].values) == pd.Timestamp("2020-01-01")  # from the folder
    assert ds.encoding["source_format"].startswith("ISCE")


def test_isce_int_and_single_band_cor(tmp_path: Path) -> None:
    ifg = _complex(8)
    ifg.astype("<c8").tofile(tmp_path / "20200101_20200113.int")
    _isce_xml(tmp_path / "20200101_20200113.int", "CFLOAT")
    cor = np.abs(_float(9, 0.3)).clip(0, 1)
    cor.astype("<f4").tofile(tmp_path / "20200101_20200113.cor")
    _isce_xml(tmp_path / "20200101_20200113.cor", "FLOAT")
    np.testing.assert_allclose(
        open_product(tmp_path / "20200101_20200113.int")["wrapped_phase"].values, np.angle(ifg), atol=1e-6
    )
    np.testing.assert_array_equal(open_product(tmp_path / "20200101_20200113.cor")["coherence"].values, cor)


def test_isce_vrt_alone_gives_layout_and_georeferencing(tmp_path: Path) -> None:
    path = tmp_path / "geo_20200101_20200113.unw"
    amp, phase = _float(10), _float(11)
    np.concatenate([amp, phase], axis=1).astype("<f4").tofile(path)
    bands = "".join(
        f'<VRTRasterBand dataType="Float32" band="{b + 1}" subClass="VRTRawRasterBand">'
        f'<SourceFilename relativeToVRT="1">{path.name}</SourceFilename><ByteOrder>LSB</ByteOrder>'
        f"<ImageOffset>{b * W * 4}</ImageOffset><PixelOffset>4</PixelOffset><LineOffset>{2 * W * 4}</LineOffset>"
        "</VRTRasterBand>"
        for b in range(2)
    )
    Path(str(path) + ".vrt").write_text(
        f'<VRTDataset rasterXSize="{W}" rasterYSize="{H}"><SRS>EPSG:4326</SRS>'
        f"<GeoTransform>10.0, 0.01, 0.0, 46.0, 0.0, -0.01</GeoTransform>{bands}</VRTDataset>"
    )
    ds = open_product(path)
    np.testing.assert_array_equal(ds["unwrapped_phase"].values, phase)
    assert ds.rio.crs.to_epsg() == 4326
    assert ds.rio.transform().c == pytest.approx(10.0) and ds.rio.transform().f == pytest.approx(46.0)


# ------------------------------------------------------------------ plain float32 + par


def test_plain_par_float32_is_flipped_north_up_and_unw_is_los_metres(tmp_path: Path) -> None:
    (tmp_path / "quake.par").write_text(
        f"ifg_length: {H}\nifg_width: {W}\ncorner_x: -200\ncorner_y: -250\nx_spacing: 100\ny_spacing: 100\n"
    )
    assert read_par(tmp_path / "quake.par")["ifg_width"] == str(W)
    diff = np.angle(_complex(12)).astype(np.float32)
    los = _float(13, 0.01)
    diff.astype("<f4").tofile(tmp_path / "quake.diff")
    los.astype("<f4").tofile(tmp_path / "quake.unw")
    ds = open_product(tmp_path / "quake.diff")
    np.testing.assert_array_equal(ds["wrapped_phase"].values, diff[::-1])
    assert ds.rio.crs is None and "reference_date" not in ds.coords
    assert ds["y"].values[0] == pytest.approx(-250 + 100 * (H - 1)) and ds["y"].values[-1] == pytest.approx(
        -250
    )
    assert ds["x"].values[0] == pytest.approx(-200)
    assert any("flipped north-up" in n for n in ds.encoding["notes"])
    unw = open_product(tmp_path / "quake.unw")
    np.testing.assert_array_equal(unw["los_displacement"].values, -los[::-1])
    raw = open_product(tmp_path / "quake.unw", variable="unwrapped_phase")
    np.testing.assert_array_equal(raw["unwrapped_phase"].values, los[::-1])


def test_plain_par_wrong_size(tmp_path: Path) -> None:
    (tmp_path / "quake.par").write_text(f"ifg_length: {H}\nifg_width: {W + 2}\n")
    np.zeros((H, W), "<f4").tofile(tmp_path / "quake.diff")
    with pytest.raises(
        InputError, match=r"quake\.diff: 120 bytes is not a whole number of 7-px float32 rows"
    ):
        open_product(tmp_path / "quake.diff")


# ------------------------------------------------------------------ a folder of GAMMA pairs


def test_gamma_stack_folder_opens_as_a_lazy_stack(tmp_path: Path) -> None:
    _gamma_mli_par(tmp_path / "20200101.rmli.par")
    pairs = ["20200113_20200125", "20200101_20200113", "20200101_20200125"]
    for k, pair in enumerate(pairs):
        _complex(20 + k).astype(">c8").tofile(tmp_path / f"{pair}.diff")
        (np.abs(_float(30 + k, 0.3)).clip(0, 1)).astype(">f4").tofile(tmp_path / f"{pair}.cc")
    stack = open_product(tmp_path)
    assert stack.sizes["pair"] == 3 and set(stack.data_vars) == {"wrapped_phase", "coherence"}
    assert list(stack["pair"].values) == sorted(pairs)
    assert stack.rio.crs is None
    first = stack["wrapped_phase"].sel(pair="20200101_20200113").values
    np.testing.assert_allclose(first, np.angle(_complex(21)), atol=1e-6)
    assert stack.attrs["wavelength_m"] == pytest.approx(C / 5.405e9)
    assert any(n.startswith("radar geometry") for n in stack.encoding["notes"])


# ------------------------------------------------------------------ real data


@pytest.mark.skipif(
    not (GREECE / "greece.diff").is_file(), reason="../shared/data/coseismic/greece not present"
)
def test_greece_coseismic_diff_matches_the_raw_values() -> None:
    ds = open_product(GREECE / "greece.diff")
    phase = ds["wrapped_phase"].values
    raw = np.fromfile(GREECE / "greece.diff", dtype="<f4").reshape(801, 801)
    np.testing.assert_array_equal(phase, raw[::-1])  # stored south-up, read north-up
    finite = phase[np.isfinite(phase)]
    assert finite.size > 0.9 * phase.size and np.all(np.abs(finite) <= np.pi)
    assert ds.rio.crs is None and ds.sizes == {"y": 801, "x": 801}
    los = open_product(GREECE / "greece.unw")["los_displacement"].values
    np.testing.assert_array_equal(
        los, -np.fromfile(GREECE / "greece.unw", dtype="<f4").reshape(801, 801)[::-1]
    )


def test_gamma_par_pixel_spacing_and_incidence_reach_the_attrs(tmp_path: Path) -> None:
    path = tmp_path / "20200101_20200113.diff"
    _complex().astype(">c8").tofile(path)
    _gamma_off(tmp_path / "20200101_20200113.off")
    with (tmp_path / "20200101_20200113.off").open("a") as par:
        par.write(
            "interferogram_range_pixel_spacing:   9.317   m\n"
            "interferogram_azimuth_pixel_spacing:  13.95  m\nincidence_angle:  39.2  degrees\n"
        )
    attrs = open_product(path).attrs
    assert attrs["range_pixel_spacing_m"] == pytest.approx(9.317)
    assert attrs["azimuth_pixel_spacing_m"] == pytest.approx(13.95)
    assert attrs["incidence_angle_deg"] == pytest.approx(39.2)
