"""The offline HTML report of a run directory, its quick-look store and its figures."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine
from shapely.geometry import box

from fringenet.errors import InputError
from fringenet.report.html import read_target_series, render_report, write_report
from fringenet.report.quicklook_store import block_mean, make_quicklook, read_quicklook, write_quicklook
from fringenet.report.targets import linear_fit, plot_detection_map, plot_target_series

CRS = "EPSG:32632"
TRANSFORM = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 4_000_000.0)
H, W = 120, 180
DATES = pd.date_range("2023-01-01", periods=10, freq="24D")
VELOCITY = -0.012  # m/yr


def _layers() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:H, 0:W]
    r2 = (yy - 40.0) ** 2 + (xx - 60.0) ** 2
    phase = np.angle(np.exp(1j * 6.0 * np.exp(-r2 / 300.0)))
    coherence = np.clip(0.9 - xx / (2.0 * W), 0, 1)
    probability = np.exp(-r2 / 200.0) + np.exp(-((yy - 80.0) ** 2 + (xx - 130.0) ** 2) / 150.0)
    return phase, coherence, np.clip(probability, 0, 1)


def _utm_box(row0: int, col0: int, row1: int, col1: int):  # type: ignore[no-untyped-def]
    x0, y0 = TRANSFORM * (col0, row0)
    x1, y1 = TRANSFORM * (col1, row1)
    return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _make_run(
    root: Path,
    *,
    targets: bool = True,
    quicklook: bool = True,
    note: str = "coherence estimated from the phase",
) -> Path:
    run = root / "run"
    run.mkdir()
    meta = {
        "command": "monitor",
        "input": "stack.nc",
        "models": {"detector": "models/unet-resnet34"},
        "settings": {"threshold": 0.5, "window": {"size": 512, "overlap": 64}},
        "notes": [note],
        "created": "2024-05-01T12:00:00+00:00",
        "fringenet": "0.1.0",
        "crs": CRS,
        "scores": {"object": {"recall": 1.0, "precision": 0.5}, "velocity_error_mm_per_yr": 1.234},
    }
    (run / "run.json").write_text(json.dumps(meta))
    if quicklook:
        write_quicklook(run / "quicklook.nc", *_layers(), transform=TRANSFORM, crs=CRS, max_size=64)
    if targets:
        gdf = gpd.GeoDataFrame(
            {
                "target_id": ["T000002", "T000001"],
                "target_type": ["mining", "landslide"],
                "detector": ["unet", "unet"],
                "score_mean": [0.61, 0.83],
                "score_max": [0.9, 0.99],
                "area_m2": [2_500_000.0, 202_500.0],
                "lon": [9.01, 9.0],
                "lat": [36.1, 36.11],
                "elevation_m": [np.nan, 412.0],
                "slope_deg": [np.nan, 12.3],
                "first_seen": ["2023-01-01", "2023-01-25"],
                "last_seen": ["2023-08-29", "2023-08-29"],
                "velocity_m_per_yr": [np.nan, VELOCITY],
                "velocity_std_m_per_yr": [np.nan, 0.0015],
            },
            geometry=[_utm_box(60, 110, 100, 150), _utm_box(25, 45, 55, 75)],
            crs=CRS,
        ).to_crs("EPSG:4326")
        gdf.to_file(run / "detections.geojson", driver="GeoJSON")
        (run / "targets").mkdir()
        years = (DATES - DATES[0]).days.to_numpy() / 365.25
        disp = VELOCITY * years + 0.001 * np.sin(np.arange(len(DATES)))
        pd.DataFrame(
            {"date": DATES.strftime("%Y-%m-%d"), "displacement_m": disp, "displacement_std_m": 0.002}
        ).to_csv(run / "targets" / "T000001.csv", index=False)
        xr.Dataset(
            {"displacement_m": ("date", disp), "displacement_std_m": ("date", np.full(len(DATES), 0.002))},
            coords={"date": DATES.to_numpy()},
        ).to_netcdf(run / "targets" / "T000001.nc")
    return run


# ----------------------------------------------------------------------------- quick-look store


def test_block_mean_ignores_nan_and_averages_partial_edge_blocks() -> None:
    a = np.arange(25, dtype=float).reshape(5, 5)
    a[0, 0] = np.nan
    out = block_mean(a, 2)
    assert out.shape == (3, 3)
    assert out[0, 0] == pytest.approx((1 + 5 + 6) / 3)
    assert out[2, 2] == 24.0  # the lone corner pixel
    assert out[0, 2] == pytest.approx((4 + 9) / 2)
    assert np.isnan(block_mean(np.full((2, 2), np.nan), 2)[0, 0])


def test_make_quicklook_averages_phase_as_complex_and_keeps_the_grid() -> None:
    phase = np.full((4, 4), np.pi - 0.1)
    phase[::2] = -np.pi + 0.1  # alternating rows straddle +-pi: a real mean would give ~0
    ql = make_quicklook(phase, np.full((4, 4), 0.5), transform=TRANSFORM, crs=CRS, max_size=2)
    assert ql.attrs["decimation"] == 2
    assert ql.sizes == {"y": 2, "x": 2}
    assert np.allclose(np.abs(ql.wrapped_phase.values), np.pi, atol=1e-5)
    assert np.allclose(ql.coherence.values, 0.5)
    assert "probability" not in ql
    # block centres: one block = 60 m, first centre 30 m in from the corner
    assert ql.x.values.tolist() == [500_030.0, 500_090.0]
    assert ql.y.values.tolist() == [3_999_970.0, 3_999_910.0]
    assert "32632" in ql.attrs["crs"]


def test_quicklook_round_trip_and_dataset_source(tmp_path: Path) -> None:
    phase, coherence, probability = _layers()
    path = write_quicklook(tmp_path / "q.nc", phase, coherence, probability, TRANSFORM, CRS, max_size=64)
    ql = read_quicklook(path)
    assert ql.sizes == {"y": 40, "x": 60}  # 120x180 at 3x3 blocks
    assert ql.attrs["decimation"] == 3
    assert ql.rio.crs.to_epsg() == 32632
    assert all(ql[n].dtype == np.float32 for n in ("wrapped_phase", "coherence", "probability"))
    # a Dataset source gives the same layers as the arrays (its transform and CRS are used)
    ds = make_quicklook(ql, max_size=20)
    assert ds.attrs["decimation"] == 3 and ds.rio.crs.to_epsg() == 32632


# ----------------------------------------------------------------------------- figures


def test_linear_fit_known_answers() -> None:
    dates = pd.date_range("2020-01-01", periods=5, freq="365D").to_numpy()
    d = 2.0 + 3.0 * (np.arange(5) * 365 / 365.25)
    slope, intercept = linear_fit(dates, d)
    assert slope == pytest.approx(3.0) and intercept == pytest.approx(2.0)
    assert linear_fit(dates, d, 3.0) == pytest.approx((3.0, 2.0))
    assert np.isnan(linear_fit(dates[:1], d[:1])[0])


def test_figures_have_expected_panels_and_title() -> None:
    phase, _, probability = _layers()
    ring = np.array([[10, 10], [30, 10], [30, 30], [10, 30], [10, 10]], dtype=float)
    fig = plot_detection_map(phase, None, probability, [ring], ["T000001"], None)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 2  # coherence left out
    assert all("T000001" in [t.get_text() for t in ax.texts] for ax in images)
    fig = plot_target_series(DATES, np.zeros(10), np.full(10, 0.001), VELOCITY, 0.0015, "T000001")
    assert fig.axes[0].get_title() == "T000001: velocity -12.0 ± 1.5 mm/yr"
    with pytest.raises(InputError):
        plot_detection_map(None, None, None, [], [], None)


# ----------------------------------------------------------------------------- report


def test_report_holds_header_table_figures_and_scores_offline(tmp_path: Path) -> None:
    run = _make_run(tmp_path)
    path = write_report(run)
    assert path == run / "report.html"
    page = path.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<script|<link|@import|url\(", page)
    assert page.count('<img src="data:image/png;base64,') == 2  # map + the one measured target
    table = page[
        page.index('<table class="targets"') : page.index("</table>", page.index('<table class="targets"'))
    ]
    # sorted by id; formatted values
    assert table.index("T000001") < table.index("T000002")
    for text in (
        "landslide",
        "-12.0 ± 1.5",
        "2.50 km²",
        "202,500 m²",
        "412 m / 12.3°",
        "0.83 / 0.99",
        "2023-01-25",
    ):
        assert text in table, text
    assert "coherence estimated from the phase" in page
    assert "models/unet-resnet34" in page and "window.size" in page
    assert "object.recall" in page and "1.234" in page
    assert f"2023-01-01 to {DATES[-1]:%Y-%m-%d} (from the time series)" in page
    assert "EPSG:32632" in page
    assert "No time series for: T000002" in page
    assert "outside the quick-look" not in page  # outlines were reprojected onto the UTM quick-look
    assert len(page) < 600_000


def test_report_escapes_text(tmp_path: Path) -> None:
    run = _make_run(tmp_path, targets=False, quicklook=False, note="<script>alert(1)</script> & more")
    page = render_report(run)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page


def test_run_without_targets_or_quicklook_still_renders(tmp_path: Path) -> None:
    run = _make_run(tmp_path, targets=False, quicklook=False)
    out = write_report(run, tmp_path / "elsewhere" / "r.html")
    page = out.read_text(encoding="utf-8")
    assert "No targets were detected in this run." in page
    assert "quicklook.nc is missing" in page
    assert "data:image/png" not in page
    assert not (run / "report.html").exists()


def test_not_a_run_is_an_input_error(tmp_path: Path) -> None:
    folder = tmp_path / "not_a_run"
    folder.mkdir()
    with pytest.raises(InputError, match=r"not_a_run.*run\.json"):
        write_report(folder)
    assert not list(folder.iterdir())


def test_target_series_from_netcdf_only_and_bad_csv(tmp_path: Path) -> None:
    run = _make_run(tmp_path)
    (run / "targets" / "T000001.csv").unlink()
    series = read_target_series(run / "targets", "T000001")
    assert series is not None and series.dates.size == 10
    assert series.displacement_std_m is not None and np.allclose(series.displacement_std_m, 0.002)
    assert read_target_series(run / "targets", "T000002") is None
    (run / "targets" / "T000002.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="date and a displacement"):
        read_target_series(run / "targets", "T000002")
    # the report names the broken file instead of failing
    assert "T000002.csv" in render_report(run)


# ----------------------------------------------------------------------------- headless browser

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "headless-shell")


def _browser() -> str | None:
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


@pytest.mark.slow
@pytest.mark.skipif(
    _browser() is None, reason=f"no headless browser found (looked for {', '.join(BROWSERS)})"
)
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    from matplotlib.image import imread

    run = _make_run(tmp_path)
    report = write_report(run)
    browser = str(_browser())
    flags = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    shot = tmp_path / "report.png"
    url = report.resolve().as_uri()
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1280,2000", url],
        check=True,
        timeout=60,
        capture_output=True,
    )
    assert shot.exists() and shot.stat().st_size > 20_000
    pixels = imread(shot)
    assert pixels.shape[:2] == (2000, 1280)
    assert float(pixels[..., :3].std()) > 0.05  # not a blank page

    dom = subprocess.run(
        [*flags, "--dump-dom", url], check=True, timeout=60, capture_output=True, text=True
    ).stdout
    assert 'id="target-table"' in dom
    assert "T000001" in dom and "T000002" in dom
    assert dom.count("data:image/png;base64,") == 2
