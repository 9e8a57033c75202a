"""Property-based tests (hypothesis) of every product reader, through ``open_product`` and ``fringenet info``.

Random bytes under each reader's file names, valid products truncated or with bytes overwritten, valid
rasters with NaN/0 patterns in odd shapes (1 x N, N x 1, 1 x 1, non-square) and parameter files with
garbage or missing keys. The property: a reader returns a Dataset with the expected shape (and the expected
values where the bytes are intact), or raises fringenet's :class:`InputError` in one line naming the file;
never another exception. ``fringenet info`` then ends with exit 0, or exit 2 and exactly that one line on
stderr, never a traceback (also checked in real subprocesses, where GDAL/HDF5 could print to stderr).

Derandomized and few examples, so CI is deterministic and quick; ``FRINGENET_FUZZ=500`` runs 500 random
examples per test instead (to hunt for new failures locally).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr
from affine import Affine
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fringenet.cli import app
from fringenet.errors import InputError
from fringenet.io.geotiff import write_geotiff
from fringenet.io.mintpy import write_mintpy_timeseries, write_mintpy_velocity
from fringenet.io.netcdf import write_netcdf
from fringenet.io.open import describe, open_product
from fringenet.io.schema import make_dataset
from fringenet.io.zarr_store import write_zarr
from rasters import write_plain_tif

FUZZ = int(os.environ.get("FRINGENET_FUZZ", "0"))
UTM = "EPSG:32632"
GRID = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 5_100_000.0)
PAIR = "20200101_20200113"
runner = CliRunner()


def examples(n: int) -> settings:
    """``n`` derandomized examples (``FRINGENET_FUZZ`` random ones instead), no deadline, no database."""
    return settings(
        max_examples=FUZZ or n,
        deadline=None,
        derandomize=not FUZZ,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], Path]]:
    """A fresh empty folder per hypothesis example (function-scoped ``tmp_path`` is shared by all)."""
    root = tmp_path_factory.mktemp("properties")
    yield lambda: Path(tempfile.mkdtemp(dir=root))
    shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------------ the property


def named(err: InputError, allowed: Path) -> bool:
    """The error names ``allowed`` (a file or its companion parameter file), or a file inside it (a folder)."""
    if err.source is None:
        return False
    source = Path(err.source)
    return source == allowed or allowed in source.parents or source.parent == allowed.parent


def read(path: Path) -> xr.Dataset | InputError:
    """What ``fringenet info`` does with ``path`` through the API: a loaded Dataset, or a clean InputError.

    Any other exception fails the test, with the file kept in the message.
    """
    try:
        ds = open_product(path)
        describe(ds)
        ds = ds.load()
    except InputError as err:
        assert named(err, path), f"{path}: the error does not name the file: {err}"
        assert "\n" not in str(err) and str(err).strip(), f"{path}: not one line: {err!r}"
        return err
    return ds


def info(path: Path, expected: xr.Dataset | InputError) -> None:
    """``fringenet info``: exit 0 with a description, or exit 2 with the API's error as the one line on stderr."""
    result = runner.invoke(app, ["info", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{path}: {type(result.exception).__name__} escaped the CLI: {result.exception}"
    )
    assert "Traceback" not in result.output
    if isinstance(expected, InputError):
        assert result.exit_code == 2, result.output
        assert result.stderr.strip().splitlines() == [f"error: {expected}"], result.stderr
    else:
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("source: "), result.stdout


def check(path: Path) -> xr.Dataset | InputError:
    """:func:`read` and :func:`info` agree; returns what the reader gave."""
    outcome = read(path)
    info(path, outcome)
    return outcome


def same(actual: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64), atol=1e-6)


# ------------------------------------------------------------------ products


@dataclass(frozen=True)
class Product:
    """A way to write a valid product: ``write(folder, data)`` returns the path to open."""

    name: str
    variable: str
    write: Callable[[Path, np.ndarray], Path]
    expect: Callable[[np.ndarray], np.ndarray] = lambda data: data
    members: str = "*"
    """Glob of the files whose bytes a damage test may cut or overwrite (relative to the opened path)."""
    refuses_empty: bool = True
    """All-NaN data are refused (``no valid pixels``) rather than read as NaN."""


def _ds(data: np.ndarray, variable: str = "wrapped_phase") -> xr.Dataset:
    return make_dataset(
        {variable: data}, transform=GRID, crs=UTM, reference_dates="2020-01-01", secondary_dates="2020-01-13"
    )


def _plain_tif(folder: Path, data: np.ndarray) -> Path:
    return write_plain_tif(folder / f"{PAIR}_unw.tif", data, crs=UTM, transform=GRID)


def _fringenet_tif(folder: Path, data: np.ndarray) -> Path:
    return write_geotiff(_ds(data), folder / f"ifg_{PAIR}.tif")


def _licsar_cc(folder: Path, data: np.ndarray) -> Path:
    scaled = np.nan_to_num(np.clip(np.abs(data) / np.pi, 0, 1) * 255).round().astype(np.uint8)
    return write_plain_tif(folder / f"{PAIR}.geo.cc.tif", scaled, crs=UTM, transform=GRID)


def _licsar_cc_expect(data: np.ndarray) -> np.ndarray:
    scaled = np.nan_to_num(np.clip(np.abs(data) / np.pi, 0, 1) * 255).round()
    return np.where(scaled == 0, np.nan, scaled / 255.0)


def _netcdf(folder: Path, data: np.ndarray) -> Path:
    return write_netcdf(_ds(data), folder / "pair.nc")


def _snap(folder: Path, data: np.ndarray) -> Path:
    h, w = data.shape
    lat, lon = 46.0 - 0.001 * np.arange(h), 7.0 + 0.001 * np.arange(w)
    band = "Phase_ifg_VV_01Jan2020_13Jan2020"
    raw = xr.Dataset({band: (("lat", "lon"), data)}, coords={"lat": lat, "lon": lon})
    raw.to_netcdf(folder / "snap.nc", engine="netcdf4")
    return folder / "snap.nc"


def _zarr(folder: Path, data: np.ndarray) -> Path:
    return write_zarr(_ds(data), folder / "pair.zarr")


def _velocity(folder: Path, data: np.ndarray) -> Path:
    return write_mintpy_velocity(folder / "velocity.h5", data, "2020-01-01", "2020-01-13", GRID, UTM, 0.0555)


def _timeseries(folder: Path, data: np.ndarray) -> Path:
    series = np.stack([np.zeros_like(data), data])
    dates = ["2020-01-01", "2020-01-13"]
    return write_mintpy_timeseries(folder / "timeseries.h5", series, dates, GRID, UTM, 0.0555)


def _ifgram_stack(folder: Path, data: np.ndarray) -> Path:
    path = folder / "ifgramStack.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("unwrapPhase", data=data[None].astype(np.float32))
        f.create_dataset("coherence", data=np.ones((1, *data.shape), np.float32))
        f.create_dataset("date", data=np.array([[b"20200101", b"20200113"]]))
        f.create_dataset("dropIfgram", data=np.array([True]))
        f.attrs.update(FILE_TYPE="ifgramStack", LENGTH=str(data.shape[0]), WIDTH=str(data.shape[1]))
    return path


def _gamma_diff(folder: Path, data: np.ndarray) -> Path:
    h, w = data.shape
    (folder / f"{PAIR}.off").write_text(
        f"title: {PAIR}\ninterferogram_width: {w}\ninterferogram_azimuth_lines: {h}\n"
    )
    ifg = np.where(np.isnan(data), 0, np.exp(1j * np.nan_to_num(data)) * 2.0).astype(">c8")
    ifg.tofile(folder / f"{PAIR}.diff")
    return folder / f"{PAIR}.diff"


def _gamma_unw(folder: Path, data: np.ndarray) -> Path:
    h, w = data.shape
    (folder / "20200101.rmli.par").write_text(
        f"range_samples: {w}\nazimuth_lines: {h}\nradar_frequency: 5.405e9 Hz\n"
    )
    data.astype(">f4").tofile(folder / f"{PAIR}.unw")
    return folder / f"{PAIR}.unw"


def _gamma_geo_cc(folder: Path, data: np.ndarray) -> Path:
    h, w = data.shape
    (folder / "EQA.dem_par").write_text(
        f"DEM_projection: EQA\nwidth: {w}\nnlines: {h}\ncorner_lat: 46.0 decimal degrees\n"
        "corner_lon: 7.0 decimal degrees\npost_lat: -0.001 decimal degrees\npost_lon: 0.001 decimal degrees\n"
    )
    data.astype(">f4").tofile(folder / f"{PAIR}.geo.cc")
    return folder / f"{PAIR}.geo.cc"


def _isce_xml(path: Path, h: int, w: int, dtype: str, bands: int) -> None:
    props = {"width": w, "length": h, "number_bands": bands, "data_type": dtype, "scheme": "BIL"}
    body = "".join(f'<property name="{k}"><value>{v}</value></property>' for k, v in props.items())
    Path(f"{path}.xml").write_text(f"<imageFile>{body}</imageFile>\n")


def _isce_int(folder: Path, data: np.ndarray) -> Path:
    path = folder / f"{PAIR}.int"
    _isce_xml(path, *data.shape, "CFLOAT", 1)
    np.where(np.isnan(data), 0, np.exp(1j * np.nan_to_num(data))).astype("<c8").tofile(path)
    return path


def _isce_unw(folder: Path, data: np.ndarray) -> Path:
    path = folder / f"{PAIR}.unw"
    _isce_xml(path, *data.shape, "FLOAT", 2)
    np.stack([np.ones_like(data), data], axis=1).astype("<f4").tofile(path)  # BIL: amplitude row, value row
    return path


def _plain_unw(folder: Path, data: np.ndarray) -> Path:
    h, w = data.shape
    (folder / "ifg.par").write_text(
        f"ifg_width: {w}\nifg_length: {h}\ncorner_x: 0\ncorner_y: 0\nx_spacing: 100\ny_spacing: -100\n"
    )
    data.astype("<f4").tofile(folder / "ifg.unw")
    return folder / "ifg.unw"


def _tif_folder(folder: Path, data: np.ndarray) -> Path:
    stack = folder / "pairs"
    for pair in (PAIR, "20200113_20200125"):
        write_plain_tif(stack / f"{pair}_unw.tif", data, crs=UTM, transform=GRID)
    return stack


def _compressed_folder(folder: Path, data: np.ndarray) -> Path:
    stack = folder / "compressed"
    for ref, sec in (("2020-01-01", "2020-01-13"), ("2020-01-13", "2020-01-25")):
        ds = make_dataset(
            {"unwrapped_phase": data}, transform=GRID, crs=UTM, reference_dates=ref, secondary_dates=sec
        )
        write_geotiff(ds, stack / f"{ref}_{sec}_unw.tif".replace("-", ""))
    return stack


def _binary_folder(folder: Path, data: np.ndarray) -> Path:
    stack = folder / "gamma"
    stack.mkdir()
    h, w = data.shape
    (stack / "20200101.mli.par").write_text(f"range_samples: {w}\nazimuth_lines: {h}\n")
    for pair in (PAIR, "20200113_20200125"):
        data.astype(">f4").tofile(stack / f"{pair}.unw")
    return stack


def _angle(data: np.ndarray) -> np.ndarray:
    return np.angle(np.exp(1j * data))


PRODUCTS = [
    Product("plain GeoTIFF", "unwrapped_phase", _plain_tif),
    Product("fringenet GeoTIFF", "wrapped_phase", _fringenet_tif),
    Product("LiCSAR coherence", "coherence", _licsar_cc, _licsar_cc_expect),
    Product("fringenet NetCDF", "wrapped_phase", _netcdf, refuses_empty=False),
    Product("SNAP NetCDF", "wrapped_phase", _snap, refuses_empty=False),
    Product("Zarr", "wrapped_phase", _zarr, members="**/*", refuses_empty=False),
    Product("MintPy velocity", "los_velocity", _velocity, refuses_empty=False),
    Product("MintPy timeseries", "los_displacement", _timeseries, refuses_empty=False),
    Product("MintPy ifgramStack", "unwrapped_phase", _ifgram_stack, refuses_empty=False),
    Product("GAMMA diff", "wrapped_phase", _gamma_diff, _angle, members="../*"),
    Product("GAMMA unw", "unwrapped_phase", _gamma_unw, members="../*"),
    Product("GAMMA geocoded cc", "coherence", _gamma_geo_cc, members="../*"),
    Product("ISCE int", "wrapped_phase", _isce_int, _angle, members="../*"),
    Product("ISCE unw", "unwrapped_phase", _isce_unw, members="../*"),
    Product("plain float32 + par", "los_displacement", _plain_unw, lambda d: -d, members="../*"),
    Product("GeoTIFF folder", "unwrapped_phase", _tif_folder, members="*.tif"),
    Product("deflate GeoTIFF folder", "unwrapped_phase", _compressed_folder, members="*.tif"),
    Product("binary folder", "unwrapped_phase", _binary_folder, members="*"),
]
BY_NAME = {p.name: p for p in PRODUCTS}


def values_of(ds: xr.Dataset, product: Product) -> np.ndarray:
    """The product's variable as (y, x): the last layer of a stack or time series."""
    da = ds[product.variable]
    while da.ndim > 2:
        da = da[-1]
    return np.asarray(da.values)


# ------------------------------------------------------------------ (a) random bytes under every name

NAMES = [
    f"{PAIR}_unw.tif",
    f"{PAIR}.geo.diff_pha.tif",
    f"{PAIR}.geo.cc.tif",
    "pair.nc",
    "ifgramStack.h5",
    "velocity.h5",
    f"{PAIR}.diff",
    f"{PAIR}.unw",
    f"{PAIR}.cc",
    f"{PAIR}.int",
    "ifg.unw",
    "x.diff.ml.sm",
]
COMPANIONS = {  # what may sit beside the random data: a valid parameter file, random bytes, or nothing
    f"{PAIR}.diff": [f"{PAIR}.off"],
    f"{PAIR}.unw": ["20200101.rmli.par", f"{PAIR}.unw.xml"],
    f"{PAIR}.cc": ["dem_par"],
    f"{PAIR}.int": [f"{PAIR}.int.xml", f"{PAIR}.int.vrt"],
    "ifg.unw": ["ifg.par"],
    "x.diff.ml.sm": ["x.off"],
}
VALID_PAR = {
    ".off": "interferogram_width: 4\ninterferogram_azimuth_lines: 3\n",
    ".par": "range_samples: 4\nazimuth_lines: 3\n",
    "dem_par": "width: 4\nnlines: 3\ncorner_lat: 46\ncorner_lon: 7\npost_lat: -0.01\npost_lon: 0.01\n",
    ".xml": '<imageFile><property name="width"><value>4</value></property><property name="length">'
    '<value>3</value></property><property name="data_type"><value>CFLOAT</value></property></imageFile>',
    ".vrt": '<VRTDataset rasterXSize="4" rasterYSize="3"><VRTRasterBand dataType="CFloat32" band="1" '
    'subClass="VRTRawRasterBand"><SourceFilename relativeToVRT="1">'
    + PAIR
    + ".int</SourceFilename></VRTRasterBand></VRTDataset>",
}


def _valid_par(name: str) -> str:
    if name == "ifg.par":
        return "ifg_width: 4\nifg_length: 3\n"
    return next(text for suffix, text in VALID_PAR.items() if name.endswith(suffix))


@st.composite
def random_file(draw: st.DrawFn) -> tuple[str, bytes, dict[str, bytes]]:
    name = draw(st.sampled_from(NAMES))
    # sizes near a 4 x 3 grid's (48 bytes of float32, 96 of complex64) as well as anything else
    size = draw(st.one_of(st.sampled_from([0, 1, 47, 48, 96, 97]), st.integers(0, 3000)))
    data = draw(st.binary(min_size=size, max_size=size))
    companions = {}
    for companion in COMPANIONS.get(name, []):
        kind = draw(st.sampled_from(["valid", "random", "none"]))
        if kind == "valid":
            companions[companion] = _valid_par(companion).encode()
        elif kind == "random":
            companions[companion] = draw(st.binary(max_size=300))
    return name, data, companions


@examples(60)
@given(random_file())
@example(("pair.nc", b"", {}))  # was a multi-line xarray message
@example(("pair.nc", bytes(range(200)), {}))
def test_random_bytes_under_every_reader_name(scratch: Callable[[], Path], case: tuple) -> None:
    name, data, companions = case
    folder = scratch()
    path = folder / name
    path.write_bytes(data)
    for companion, text in companions.items():
        (folder / companion).write_bytes(text)
    outcome = check(path)
    if isinstance(outcome, xr.Dataset):
        assert next(iter(outcome.data_vars)) in (
            "wrapped_phase",
            "unwrapped_phase",
            "coherence",
            "los_displacement",
        )


@examples(15)
@given(st.sampled_from(["stack.zarr", "pairs", "gamma"]), st.binary(max_size=500))
def test_random_bytes_inside_folders(scratch: Callable[[], Path], kind: str, data: bytes) -> None:
    """A Zarr store with random metadata, a folder with a random GeoTIFF or raw binary beside a good one."""
    folder = scratch()
    good = np.arange(12, dtype=np.float32).reshape(3, 4) / 4 - 1
    if kind == "stack.zarr":
        path = _zarr(folder, good)
        (path / "zarr.json").write_bytes(data)
    elif kind == "pairs":
        path = _tif_folder(folder, good)
        (path / "20200125_20200206_unw.tif").write_bytes(data)
    else:
        path = _binary_folder(folder, good)
        (path / "20200125_20200206.unw").write_bytes(data)
    check(path)


# ------------------------------------------------------------------ (b) valid products cut short or overwritten

BASE = np.linspace(-3.0, 3.0, 7 * 5, dtype=np.float32).reshape(7, 5)


def _members(path: Path, product: Product) -> list[Path]:
    root = path if path.is_dir() else path.parent
    pattern = product.members.removeprefix("../")
    return sorted(p for p in root.glob(pattern) if p.is_file())


@examples(60)
@given(st.sampled_from([p.name for p in PRODUCTS]), st.integers(0, 2**20), st.floats(0.0, 1.0))
def test_truncated_products_are_refused_or_read_intact(
    scratch: Callable[[], Path], name: str, which: int, keep: float
) -> None:
    """A file cut at any byte: refused naming it, or (the bytes cut were not needed) read with every value."""
    product = BY_NAME[name]
    path = product.write(scratch(), BASE)
    members = _members(path, product)
    victim = members[which % len(members)]
    content = victim.read_bytes()
    victim.write_bytes(content[: int(keep * len(content))] if keep < 1 else content[:-1])
    outcome = check(path)
    if isinstance(outcome, xr.Dataset):
        values = values_of(outcome, product)
        assert values.shape == BASE.shape, f"{victim}: read as {values.shape}"
        same(values, product.expect(BASE))


# rasterio's GDAL message handler cannot decode a damaged non-UTF-8 tag (pytest sees its unraisable error;
# the command line keeps it off stderr, see the last test)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@examples(40)
@given(
    st.sampled_from([p.name for p in PRODUCTS]),
    st.integers(0, 2**20),
    st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 255)), min_size=1, max_size=6),
)
@example("fringenet GeoTIFF", 0, [(46, 0), (242, 0)])  # tags lost, tile broken: was RasterioIOError
@example("MintPy velocity", 0, [(800, 0xAA), (801, 0x55)])  # was h5py's KeyError on reading
@example("Zarr", 3, [(60, 0xFF), (5, 0x55)])  # a chunk that does not decode: was zstd's RuntimeError
@example("fringenet GeoTIFF", 0, [(244, 128)])  # a tag that is not UTF-8: rasterio printed tracebacks
@example("deflate GeoTIFF folder", 1, [(-40, 0x5A), (-30, 0x5A)])  # a lazy member's tile: at compute
@example("LiCSAR coherence", 0, [(34, 255)])  # damaged but readable: GDAL's warnings become a note
def test_overwritten_bytes_are_refused_or_read(
    scratch: Callable[[], Path], name: str, which: int, changes: list[tuple[int, int]]
) -> None:
    """A few bytes overwritten anywhere (headers included): refused naming the file, or read on its grid."""
    product = BY_NAME[name]
    path = product.write(scratch(), BASE)
    members = _members(path, product)
    victim = members[which % len(members)]
    content = bytearray(victim.read_bytes())
    for offset, value in changes:
        if content:
            content[offset % len(content)] = value
    victim.write_bytes(bytes(content))
    check(path)


# ------------------------------------------------------------------ (c) NaN/0 patterns and odd shapes


@st.composite
def raster(draw: st.DrawFn) -> np.ndarray:
    """Wrapped phase of 1 x 1 to 6 x 7 pixels with NaN and 0 at random, sometimes all NaN or all 0."""
    h = draw(st.integers(1, 6))
    w = draw(st.integers(1, 7))
    n = h * w
    values = draw(st.lists(st.floats(-3.0, 3.0, width=32), min_size=n, max_size=n))
    kinds = draw(
        st.one_of(
            st.lists(st.sampled_from(["v", "v", "nan", "0"]), min_size=n, max_size=n),
            st.sampled_from(["nan", "0"]).map(lambda k: [k] * n),
        )
    )
    data = np.array(values, np.float32).reshape(h, w)
    mask = np.array(kinds).reshape(h, w)
    data[mask == "nan"] = np.nan
    data[mask == "0"] = 0.0
    return data


@examples(60)
@given(st.sampled_from([p.name for p in PRODUCTS]), raster())
def test_odd_shapes_and_nan_zero_patterns_read_correctly(
    scratch: Callable[[], Path], name: str, data: np.ndarray
) -> None:
    """Any grid from 1 x 1 up, any NaN/0 pattern: read with the same shape and values; only no valid pixel
    at all may be refused (for the formats whose readers check), and then by name."""
    product = BY_NAME[name]
    path = product.write(scratch(), data)
    expected = product.expect(data).astype(np.float64)
    outcome = check(path)
    if isinstance(outcome, InputError):
        assert product.refuses_empty and np.isnan(expected).all(), f"{name} {data.shape}: {outcome}"
        assert "no valid pixels" in outcome.problem
        return
    values = values_of(outcome, product)
    assert values.shape == data.shape, f"{name}: {data.shape} read as {values.shape}"
    same(values, expected)
    assert (outcome.sizes["y"], outcome.sizes["x"]) == data.shape


# ------------------------------------------------------------------ (d) parameter files with garbage or missing keys

JUNK = st.one_of(
    st.integers(-3, 40).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "", " ", "4.5", "0x4", "1e18", "W", "4 4", "-0"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=6),
)


@st.composite
def par_file(draw: st.DrawFn) -> tuple[str, str, dict[str, str]]:
    """A GAMMA, plain or ISCE parameter file for 4 x 3 data, each key kept, dropped or given junk."""
    kind = draw(st.sampled_from(["off", "mli", "dem", "plain", "isce"]))
    keys = {
        "off": {"interferogram_width": "4", "interferogram_azimuth_lines": "3", "range_samp_1": "4"},
        "mli": {"range_samples": "4", "azimuth_lines": "3", "radar_frequency": "5.405e9", "sensor": "S1A"},
        "dem": {
            "DEM_projection": "EQA", "width": "4", "nlines": "3", "corner_lat": "46", "corner_lon": "7",
            "post_lat": "-0.01", "post_lon": "0.01", "projection_zone": "32", "corner_north": "5e6",
            "corner_east": "4e5", "post_north": "-30", "post_east": "30", "false_northing": "0",
        },
        "plain": {
            "ifg_width": "4", "ifg_length": "3", "corner_x": "0", "corner_y": "0", "x_spacing": "100",
            "y_spacing": "-100",
        },
        "isce": {
            "width": "4", "length": "3", "number_bands": "1", "data_type": "FLOAT", "scheme": "BIL",
            "byte_order": "l", "delta1": "0.001", "delta2": "-0.001", "start1": "7", "start2": "46",
        },
    }[kind]  # fmt: skip
    if kind == "dem":
        keys["DEM_projection"] = draw(st.sampled_from(["EQA", "UTM", "PS"]))
    out = {}
    for key, value in keys.items():
        choice = draw(st.sampled_from(["keep", "keep", "drop", "junk"]))
        if choice == "keep":
            out[key] = value
        elif choice == "junk":
            out[key] = draw(JUNK)
    return kind, draw(st.sampled_from(["unw", "diff", "cc"])), out


def _write_par(folder: Path, kind: str, data_name: str, keys: dict[str, str]) -> None:
    if kind == "isce":
        props = "".join(
            f'<property name="{k}"><value>{v}</value></property>'
            for k, v in keys.items()
            if not k.startswith(("delta", "start"))
        )
        coords = "".join(
            f'<component name="coordinate{i}">'
            + "".join(
                f'<property name="{name}"><value>{keys[key]}</value></property>'
                for name, key in (("delta", f"delta{i}"), ("startingvalue", f"start{i}"))
                if key in keys
            )
            + "</component>"
            for i in (1, 2)
        )
        (folder / f"{data_name}.xml").write_text(f"<imageFile>{props}{coords}</imageFile>")
        return
    name = {"off": f"{PAIR}.off", "mli": "20200101.mli.par", "dem": "dem_par", "plain": f"{PAIR}.par"}[kind]
    (folder / name).write_text("".join(f"{k}: {v}\n" for k, v in keys.items()))


@examples(60)
@given(par_file(), st.sampled_from([48, 96, 100]))
@example(("mli", "unw", {"range_samples": "nan", "azimuth_lines": "3"}), 48)  # was int(nan): ValueError
@example(("plain", "unw", {"ifg_width": "inf", "ifg_length": "3"}), 48)  # was int(inf): OverflowError
@example(("dem", "cc", {"DEM_projection": "UTM", "width": "4", "nlines": "3", "projection_zone": "nan"}), 48)
def test_parameter_files_with_garbage_or_missing_keys(
    scratch: Callable[[], Path], par: tuple[str, str, dict[str, str]], size: int
) -> None:
    """Raw data of 48/96 bytes (4 x 3 float32/complex64) or 100 beside a damaged par: read on a grid the
    bytes fill exactly, or refused naming the data or parameter file."""
    kind, suffix, keys = par
    folder = scratch()
    data_name = f"{PAIR}.{suffix}"
    path = folder / data_name
    path.write_bytes(np.linspace(-1, 1, size // 4, dtype=np.float32).astype(">f4").tobytes())
    _write_par(folder, kind, data_name, keys)
    outcome = check(path)
    if isinstance(outcome, xr.Dataset):
        da = next(iter(outcome.data_vars.values()))
        assert da.ndim == 2 and da.size > 0
        assert size % da.size == 0, f"{path}: {size} bytes read as {da.shape}"
        assert np.isfinite(outcome["x"].values).all() or outcome.rio.crs is None


# ------------------------------------------------------------------ the real command line


BAD = {  # always refused (the other formats print nothing of their own: the property tests cover them)
    "random.nc": bytes(range(200)),  # xarray's message ran over three lines
    f"{PAIR}.diff": bytes(100),  # beside a par whose width is nan
}


def _damaged(path: Path, *changes: tuple[int, int]) -> Path:
    content = bytearray(path.read_bytes())
    for offset, value in changes:
        content[offset % len(content)] ^= value
    path.write_bytes(bytes(content))
    return path


def test_the_real_command_prints_one_line_without_traceback(tmp_path: Path) -> None:
    """``fringenet info`` in its own process, where GDAL, HDF5, asyncio and Python warnings would reach
    stderr: exit 2 and one line naming the file, or (a damaged file that still reads) exit 0 and nothing
    on stderr."""
    good = _fringenet_tif(tmp_path, BASE)
    truncated = tmp_path / f"cut_{PAIR}.tif"  # its geotransform is lost: was NotGeoreferencedWarning x 2
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    refused = [truncated]
    for name, data in BAD.items():
        (tmp_path / name).write_bytes(data)
        refused.append(tmp_path / name)
    (tmp_path / f"{PAIR}.off").write_text("interferogram_width: nan\n")  # was int(nan): ValueError
    for sub in ("meta", "cc", "nc", "chunk", "tag"):
        (tmp_path / sub).mkdir()
    zarr_meta = _zarr(tmp_path / "meta", BASE)
    _damaged(zarr_meta / "x" / "zarr.json", (3, 0xA5))  # zarr failed inside its event loop
    refused.append(zarr_meta)
    zarr_chunk = _zarr(tmp_path / "chunk", BASE)
    _damaged(
        next(p for p in (zarr_chunk / "wrapped_phase").rglob("*") if p.is_file() and p.name == "0"), (5, 0x55)
    )
    stack = _compressed_folder(tmp_path, BASE)
    _damaged(stack / "20200113_20200125_unw.tif", *((o, 0x5A) for o in range(-60, -20)))
    refused.append(stack)  # its damaged tile was a traceback at the first computation (describe)
    either = [
        _damaged(_fringenet_tif(tmp_path / "tag", BASE), (244, 0x80)),  # not UTF-8: tracebacks printed
        _damaged(_licsar_cc(tmp_path / "cc", BASE), (34, 0xFF)),  # GDAL printed "Warning 1: ..." itself
        _damaged(_netcdf(tmp_path / "nc", BASE), (11248, 0xFF)),  # a damaged data chunk
        zarr_chunk,  # a chunk that does not decode
    ]
    env = {**os.environ, "COLUMNS": "200"}
    script = "from fringenet.cli import main; main()"
    paths = [*refused, *either]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, "info", str(p)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for p in paths
    ]
    for path, proc in zip(paths, procs, strict=True):
        stdout, stderr = proc.communicate(timeout=300)
        assert "Traceback" not in stdout + stderr, (path, stderr)
        lines = stderr.strip().splitlines()
        if proc.returncode == 0 and path not in refused:
            assert not lines and stdout.startswith("source: "), (path, stderr)
        else:
            assert proc.returncode == 2, (path, stdout, stderr)
            assert len(lines) == 1 and lines[0].startswith(f"error: {path}"), (path, stderr)
