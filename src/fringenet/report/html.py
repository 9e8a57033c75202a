"""One self-contained HTML report of a monitoring run (``fringenet report RUN_DIR``).

The report reads the run directory (``run.json``, ``quicklook.nc``, ``detections.geojson``,
``detections.gpkg`` (radar geometry: pixel coordinates) or ``inventory.gpkg``, ``targets/<target_id>.csv``
or ``.nc``) and writes a single HTML file that works offline: figures are embedded as base64 PNG data URIs, the CSS is inline, and there are no scripts,
web fonts or links. Every optional piece that is missing or unreadable is reported in the page instead
of stopping the report; only a folder that is not a run (no ``run.json``) is an error.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from numpy.typing import NDArray

from fringenet.errors import InputError
from fringenet.io.atomic import atomic_path
from fringenet.report.quicklook_store import make_quicklook, read_quicklook, write_quicklook
from fringenet.report.targets import plot_detection_map, plot_target_series

__all__ = [
    "make_quicklook",
    "read_target_series",
    "render_report",
    "write_quicklook",
    "write_report",
]

REPORT_NAME = "report.html"
PNG_DPI = 90
MAX_IMAGE_PX = 1000
MAX_SERIES = 60
"""Time-series figures embedded at most; more would make the page slow and large."""

DATE_COLUMNS = ("date", "dates", "time", "epoch")
DISPLACEMENT_COLUMNS = ("displacement_m", "los_displacement_m", "los_displacement", "displacement")
STD_COLUMNS = (
    "displacement_std_m",
    "los_displacement_std_m",
    "std_m",
    "displacement_std",
    "los_displacement_std",
)
MISSING = "–"


@dataclass
class TargetSeries:
    """One target's displacement series: ``(T,)`` dates, displacement and optional std (m)."""

    dates: NDArray[np.datetime64]
    displacement_m: NDArray[np.float64]
    displacement_std_m: NDArray[np.float64] | None
    velocity_m_per_yr: float | None = None
    velocity_std_m_per_yr: float | None = None


@dataclass
class _Report:
    """Everything the template shows, as display-ready text and data URIs."""

    run_name: str
    header: list[tuple[str, str]]
    models: list[tuple[str, str]]
    settings: list[tuple[str, str]]
    notes: list[str]
    scores: list[tuple[str, str]]
    map_image: str | None
    map_message: str
    columns: list[str]
    rows: list[list[str]]
    targets_message: str
    series: list[tuple[str, str]]
    series_missing: list[str]
    series_message: str
    problems: list[str] = field(default_factory=list)
    generated: str = ""
    version: str = ""


def write_report(
    run_dir: str | PathLike[str], out: str | PathLike[str] | None = None, *, max_series: int = MAX_SERIES
) -> Path:
    """Write the run's self-contained offline HTML report (atomically) and return its path.

    Parameters
    ----------
    run_dir
        A run directory written by ``fringenet detect`` / ``fringenet monitor`` (must hold ``run.json``).
    out
        Output file; default ``run_dir/report.html``.
    max_series
        Largest number of per-target time-series figures embedded (the table lists all targets).
    """
    run_path = Path(run_dir)
    page = render_report(run_path, max_series=max_series)
    path = Path(out) if out is not None else run_path / REPORT_NAME
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def render_report(run_dir: str | PathLike[str], *, max_series: int = MAX_SERIES) -> str:
    """The report of ``run_dir`` as one HTML string (see :func:`write_report`)."""
    run_path = Path(run_dir)
    run = _read_run_json(run_path)
    problems: list[str] = []
    targets = _read_targets(run_path, problems)
    quicklook = _read_quicklook(run_path, problems)

    series: dict[str, TargetSeries] = {}
    for row in targets:
        tid = str(row.get("target_id") or "")
        if not tid:
            continue
        try:
            found = read_target_series(run_path / "targets", tid)
        except InputError as err:
            problems.append(str(err))
            continue
        if found is not None:
            found.velocity_m_per_yr = _finite(row.get("velocity_m_per_yr"))
            found.velocity_std_m_per_yr = _finite(row.get("velocity_std_m_per_yr"))
            series[tid] = found

    map_image, map_message = _map_section(quicklook, targets, run_path, problems)
    figures: list[tuple[str, str]] = []
    for tid, s in list(series.items())[: max(max_series, 0)]:
        fig = plot_target_series(
            s.dates, s.displacement_m, s.displacement_std_m, s.velocity_m_per_yr, s.velocity_std_m_per_yr, tid
        )
        figures.append((tid, figure_to_data_uri(fig)))
    ids = [str(r.get("target_id") or "") for r in targets]
    missing = [tid for tid in ids if tid and tid not in series]
    if not targets:
        series_message = "No targets, so no time series."
    elif not series:
        series_message = "No target has a time series in targets/ (the run did not measure them)."
    elif len(series) > len(figures):
        series_message = (
            f"Showing {len(figures)} of {len(series)} time series; the others are in the targets/ folder."
        )
    else:
        series_message = ""

    columns, rows = _target_table(targets)
    report = _Report(
        run_name=run_path.resolve().name,
        header=_header(run, targets, series),
        models=[(str(k), _text(v)) for k, v in _mapping(run.get("models")).items()],
        settings=_flatten(_mapping(run.get("settings"))),
        notes=[_text(n) for n in _as_list(run.get("notes"))],
        scores=_flatten(_mapping(run.get("scores"))),
        map_image=map_image,
        map_message=map_message,
        columns=columns,
        rows=rows,
        targets_message="" if targets else "No targets were detected in this run.",
        series=figures,
        series_missing=missing,
        series_message=series_message,
        problems=problems,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=_version(),
    )
    return _render(report)


# ----------------------------------------------------------------------------- reading the run


def _read_run_json(run_path: Path) -> dict[str, Any]:
    path = run_path / "run.json"
    if not run_path.is_dir():
        raise InputError(run_path, "run folder not found")
    if not path.is_file():
        raise InputError(run_path, "not a fringenet run folder (no run.json)")
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(path, f"unreadable run description ({err})") from err
    if not isinstance(run, dict):
        raise InputError(path, "run description must be a JSON object")
    return run


def _read_targets(run_path: Path, problems: list[str]) -> list[dict[str, Any]]:
    """This run's targets (``detections.geojson`` or ``.gpkg``, else the inventory), sorted by target_id, as dicts.

    Each dict keeps its shapely ``geometry`` and gets ``_crs`` (the layer CRS) for the map.
    """
    import geopandas as gpd

    # GDAL's GeoJSON driver guesses types from the values: "T000001" reads as a time of day (00:00:01)
    # unless dates and times are kept as strings
    sources: tuple[tuple[str, dict[str, str]], ...] = (
        ("detections.geojson", {"DATE_AS_STRING": "YES"}),
        ("detections.gpkg", {"layer": "targets"}),  # radar geometry: pixel coordinates, no CRS
        ("inventory.gpkg", {"layer": "targets"}),
    )
    for name, kwargs in sources:
        path = run_path / name
        if not path.exists():
            continue
        try:
            gdf = gpd.read_file(path, **kwargs)
        except Exception as err:  # pyogrio raises several types for broken files
            problems.append(f"{path}: unreadable ({type(err).__name__}: {err})")
            continue
        if "target_id" in gdf.columns:
            gdf = gdf.sort_values("target_id", kind="stable")
        rows = []
        for record in gdf.to_dict("records"):
            row = {k: (None if _is_missing(v) else v) for k, v in record.items()}
            row["_crs"] = gdf.crs
            rows.append(row)
        return rows
    return []


def _read_quicklook(run_path: Path, problems: list[str]) -> xr.Dataset | None:
    path = run_path / "quicklook.nc"
    if not path.exists():
        return None
    try:
        return read_quicklook(path)
    except InputError as err:
        problems.append(str(err))
        return None


def read_target_series(targets_dir: str | PathLike[str], target_id: str) -> TargetSeries | None:
    """A target's displacement series from ``<target_id>.csv`` (else ``.nc``), or None when neither exists.

    The CSV needs a date column (``date``) and a displacement column in metres (``displacement_m`` or
    ``los_displacement_m``; else the first column naming a displacement); an optional std column
    (``displacement_std_m``...). The NetCDF needs such variables along one date dimension.
    """
    folder = Path(targets_dir)
    csv_path, nc_path = folder / f"{target_id}.csv", folder / f"{target_id}.nc"
    if csv_path.exists():
        try:
            table = pd.read_csv(csv_path)
        except (OSError, ValueError, pd.errors.ParserError) as err:
            raise InputError(csv_path, f"unreadable time series ({err})") from err
        columns = {str(c): table[c].to_numpy() for c in table.columns}
        return _series_from_columns(columns, csv_path)
    if nc_path.exists():
        try:
            with xr.open_dataset(nc_path) as ds:
                ds = ds.load()
        except Exception as err:  # netCDF4/h5netcdf raise many unrelated types for a corrupt file
            raise InputError(nc_path, f"unreadable time series ({type(err).__name__}: {err})") from err
        columns = {}
        for name, var in {**ds.coords, **ds.data_vars}.items():
            if var.ndim == 1:
                columns[str(name)] = var.values
        return _series_from_columns(columns, nc_path)
    return None


def _series_from_columns(columns: Mapping[str, NDArray[Any]], source: Path) -> TargetSeries:
    lower = {k.lower(): k for k in columns}
    date_key = next((lower[c] for c in DATE_COLUMNS if c in lower), None)
    disp_key = next((lower[c] for c in DISPLACEMENT_COLUMNS if c in lower), None)
    if disp_key is None:
        disp_key = next((k for k in columns if "displacement" in k.lower() and "std" not in k.lower()), None)
    std_key = next((lower[c] for c in STD_COLUMNS if c in lower), None)
    if std_key is None:
        std_key = next((k for k in columns if "std" in k.lower() and "disp" in k.lower()), None)
    if date_key is None or disp_key is None:
        raise InputError(
            source, f"time series needs a date and a displacement column, found {sorted(columns)}"
        )
    try:
        dates = pd.to_datetime(np.asarray(columns[date_key])).to_numpy().astype("datetime64[ns]")
    except (ValueError, TypeError) as err:
        raise InputError(source, f"column '{date_key}' does not hold dates ({err})") from err
    disp = pd.to_numeric(pd.Series(columns[disp_key]), errors="coerce").to_numpy(dtype=np.float64)
    std = (
        pd.to_numeric(pd.Series(columns[std_key]), errors="coerce").to_numpy(dtype=np.float64)
        if std_key is not None
        else None
    )
    if dates.size == 0:
        raise InputError(source, "time series is empty")
    return TargetSeries(dates, disp, std)


# ----------------------------------------------------------------------------- figures


def figure_to_data_uri(fig: Figure, dpi: int = PNG_DPI, max_width_px: int = MAX_IMAGE_PX) -> str:
    """A figure as a ``data:image/png;base64,...`` URI, at most ``max_width_px`` wide."""
    width_in = float(fig.get_size_inches()[0])
    dpi = int(min(dpi, max_width_px / width_in)) if width_in > 0 else dpi
    buffer = io.BytesIO()
    # no Software tag: it would carry matplotlib's web address into the file
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _map_section(
    quicklook: xr.Dataset | None, targets: Sequence[Mapping[str, Any]], run_path: Path, problems: list[str]
) -> tuple[str | None, str]:
    if quicklook is None:
        return None, f"No quick-look layers in this run ({run_path.name}/quicklook.nc is missing)."
    layers = {
        n: quicklook[n].values if n in quicklook else None
        for n in ("wrapped_phase", "coherence", "probability", "slow_motion_z")
    }
    extent = _extent(quicklook)
    ql_crs = _crs_of(quicklook)
    rings: list[NDArray[np.float64]] = []
    labels: list[str | None] = []
    for row in targets:
        geometry = row.get("geometry")
        if geometry is None or geometry.is_empty:
            continue
        geometry = _to_crs(geometry, row.get("_crs"), ql_crs, problems)
        parts = list(getattr(geometry, "geoms", [geometry]))
        parts = [p for p in parts if hasattr(p, "exterior")]
        parts.sort(key=lambda p: -p.area)
        for i, part in enumerate(parts):
            rings.append(np.asarray(part.exterior.coords, dtype=np.float64)[:, :2])
            # one label per target, on its largest part
            labels.append(str(row.get("target_id") or "") if i == 0 else None)
    message = ""
    if rings and extent is not None and not any(_overlaps(r, extent) for r in rings):
        message = "The detection outlines fall outside the quick-look (is the quick-look CRS recorded?)."
    if quicklook.attrs.get("decimation", 1) not in (1, None):
        note = f"Layers decimated {quicklook.attrs['decimation']}x for display."
        message = f"{message} {note}".strip()
    fig = plot_detection_map(
        layers["wrapped_phase"], layers["coherence"], layers["probability"], rings, labels, extent,
        slow_motion_z=layers["slow_motion_z"],
    )  # fmt: skip
    return figure_to_data_uri(fig), message


def _extent(ds: xr.Dataset) -> tuple[float, float, float, float] | None:
    if "x" not in ds.coords or "y" not in ds.coords or ds.sizes["x"] < 2 or ds.sizes["y"] < 2:
        return None
    x, y = ds.x.values.astype(np.float64), ds.y.values.astype(np.float64)
    dx, dy = x[1] - x[0], y[1] - y[0]
    # imshow's (left, right, bottom, top) with row 0 at the top, whichever way y runs
    return (x[0] - dx / 2, x[-1] + dx / 2, y[-1] + dy / 2, y[0] - dy / 2)


def _overlaps(ring: NDArray[np.float64], extent: tuple[float, float, float, float]) -> bool:
    left, right, bottom, top = extent
    x0, x1 = sorted((left, right))
    y0, y1 = sorted((bottom, top))
    return bool(
        ring[:, 0].max() >= x0
        and ring[:, 0].min() <= x1
        and ring[:, 1].max() >= y0
        and ring[:, 1].min() <= y1
    )


def _crs_of(ds: xr.Dataset) -> Any:
    wkt = ds.attrs.get("crs")
    if wkt:
        return wkt
    if "crs" in ds.attrs:  # recorded as "": no CRS (radar geometry); rioxarray would try to parse ""
        return None
    return ds.rio.crs if hasattr(ds, "rio") else None


def _to_crs(geometry: Any, src: Any, dst: Any, problems: list[str]) -> Any:
    if src is None or dst is None:
        return geometry
    import shapely
    from pyproj import CRS, Transformer

    try:
        src_crs, dst_crs = CRS.from_user_input(src), CRS.from_user_input(dst)
        if src_crs == dst_crs:
            return geometry
        project = Transformer.from_crs(src_crs, dst_crs, always_xy=True).transform
        return shapely.transform(geometry, lambda xy: np.column_stack(project(xy[:, 0], xy[:, 1])))
    except Exception as err:  # pyproj raises CRSError/ProjError; an outline is not worth failing for
        message = f"could not reproject detection outlines to the quick-look CRS ({err})"
        if message not in problems:
            problems.append(message)
        return geometry


# ----------------------------------------------------------------------------- text


def _header(
    run: Mapping[str, Any], targets: Sequence[Mapping[str, Any]], series: Mapping[str, TargetSeries]
) -> list[tuple[str, str]]:
    rows = [
        ("command", _text(run.get("command")) or MISSING),
        ("input", ", ".join(_text(i) for i in _as_list(run.get("input"))) or MISSING),
        ("date range", _date_range(run, targets, series)),
        ("CRS", _crs_label(run.get("crs"), run.get("coordinates"))),
        ("targets", str(len(targets))),
        ("created", _text(run.get("created")) or MISSING),
        ("fringenet", _text(run.get("fringenet")) or MISSING),
    ]
    return rows


def _date_range(
    run: Mapping[str, Any], targets: Sequence[Mapping[str, Any]], series: Mapping[str, TargetSeries]
) -> str:
    candidates: list[Any] = []
    for key in ("date_range", "dates"):
        candidates += _as_list(run.get(key))
    candidates += [run.get("start_date"), run.get("end_date")]
    source = ""
    if not any(c for c in candidates):
        candidates = [d for s in series.values() for d in (s.dates.min(), s.dates.max())]
        source = " (from the time series)"
    if not any(c is not None for c in candidates):
        candidates = [r.get(k) for r in targets for k in ("first_seen", "last_seen")]
        source = " (first/last seen of the targets)"
    dates = pd.to_datetime(pd.Series([c for c in candidates if c is not None]), errors="coerce").dropna()
    if dates.empty:
        return "not recorded"
    return f"{dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}{source}"


def _crs_label(crs: Any, coordinates: Any = None) -> str:
    if not crs and str(coordinates or "").startswith("pixel"):
        return "none: radar geometry, map and outlines in pixel coordinates (column, row)"
    if not crs:
        return MISSING
    try:
        from pyproj import CRS

        parsed = CRS.from_user_input(crs)
        epsg = parsed.to_epsg()
        return f"EPSG:{epsg} ({parsed.name})" if epsg else str(parsed.name)
    except Exception:  # an unparsable CRS is still worth showing as recorded
        return _text(crs)[:120]


TABLE_COLUMNS = [
    "target_id",
    "type",
    "detector",
    "score mean / max",
    "area",
    "lon, lat",
    "elevation / slope",
    "velocity (mm/yr)",
    "first seen",
    "last seen",
]


def _target_table(targets: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    rows = []
    for t in targets:
        rows.append(
            [
                _text(t.get("target_id")) or MISSING,
                _text(t.get("target_type")) or MISSING,
                _text(t.get("detector")) or MISSING,
                _pair(t.get("score_mean"), t.get("score_max"), "{:.2f}", " / "),
                _area(t.get("area_m2"), t.get("area_px")),
                _pair(t.get("lon"), t.get("lat"), "{:.5f}", ", "),
                _elevation_slope(t.get("elevation_m"), t.get("slope_deg")),
                _velocity(t.get("velocity_m_per_yr"), t.get("velocity_std_m_per_yr")),
                _date_text(t.get("first_seen")),
                _date_text(t.get("last_seen")),
            ]
        )
    return TABLE_COLUMNS, rows


def _pair(a: Any, b: Any, fmt: str, sep: str) -> str:
    fa, fb = _finite(a), _finite(b)
    if fa is None and fb is None:
        return MISSING
    return f"{MISSING if fa is None else fmt.format(fa)}{sep}{MISSING if fb is None else fmt.format(fb)}"


def _area(value: Any, pixels: Any = None) -> str:
    a = _finite(value)
    if a is None:
        # radar geometry without a pixel spacing: the pixel count is all there is
        px = _finite(pixels)
        return MISSING if px is None else f"{px:,.0f} px²"
    return f"{a / 1e6:.2f} km²" if a >= 1e6 else f"{a:,.0f} m²"


def _elevation_slope(elevation: Any, slope: Any) -> str:
    e, s = _finite(elevation), _finite(slope)
    if e is None and s is None:
        return MISSING
    return f"{MISSING if e is None else f'{e:.0f} m'} / {MISSING if s is None else f'{s:.1f}°'}"


def _velocity(v: Any, s: Any) -> str:
    fv, fs = _finite(v), _finite(s)
    if fv is None:
        return MISSING
    return f"{fv * 1000:+.1f}" + ("" if fs is None else f" ± {fs * 1000:.1f}")


def _date_text(value: Any) -> str:
    if value is None:
        return MISSING
    try:
        return f"{pd.Timestamp(value):%Y-%m-%d}"
    except (ValueError, TypeError):
        return _text(value)


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested settings/scores as ``("a.b", "value")`` rows; floats to 4 significant digits."""
    rows: list[tuple[str, str]] = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows += _flatten(value, f"{name}.")
        elif isinstance(value, float):
            rows.append((name, f"{value:.4g}"))
        else:
            rows.append((name, _text(value)))
    return rows


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, dict)):
        text = json.dumps(value, default=str)
        return text if len(text) <= 300 else text[:297] + "..."
    return str(value)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _finite(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value)) if np.ndim(value) == 0 else False
    except (TypeError, ValueError):
        return False


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("fringenet")
    except Exception:  # not installed (running from a source tree)
        return "unknown"


# ----------------------------------------------------------------------------- template

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d232a;
       background: #f4f6f8; font-size: 14px; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 24px 40px; background: #fff; }
header { border-bottom: 3px solid #2b6cb0; margin-bottom: 12px; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 17px; margin: 24px 0 8px; border-bottom: 1px solid #d8dee4; padding-bottom: 3px; }
h3 { font-size: 14px; margin: 12px 0 4px; }
.sub { color: #57606a; margin: 0 0 8px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #d8dee4; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #eef2f6; }
table.kv th { width: 11em; }
table.targets td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.targets tbody tr:nth-child(even) { background: #f7f9fb; }
.grid { display: flex; gap: 24px; flex-wrap: wrap; }
.note { background: #fff8e1; border-left: 4px solid #e0a800; padding: 4px 10px; margin: 4px 0; }
.problem { background: #fdecea; border-left: 4px solid #c62828; padding: 4px 10px; margin: 4px 0; }
.empty { color: #57606a; font-style: italic; }
img { max-width: 100%; height: auto; display: block; margin: 6px 0; }
figure { margin: 10px 0 18px; }
figcaption { font-size: 12px; color: #57606a; }
footer { color: #57606a; font-size: 12px; margin-top: 28px; border-top: 1px solid #d8dee4; padding-top: 6px; }
code { font-size: 12px; }
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fringenet report: {{ r.run_name }}</title>
<style>{{ css }}</style>
</head>
<body>
<main>
<header>
<h1>fringenet monitoring report</h1>
<p class="sub">Run <code>{{ r.run_name }}</code></p>
</header>

<section id="run">
<h2>Run</h2>
<div class="grid">
<table class="kv">
{% for key, value in r.header %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>
{% endfor %}</table>
<div>
<h3>Models</h3>
{% if r.models %}<table class="kv">
{% for name, path in r.models %}<tr><th>{{ name }}</th><td><code>{{ path }}</code></td></tr>
{% endfor %}</table>{% else %}<p class="empty">No models recorded (classical detector only).</p>{% endif %}
</div>
</div>
{% if r.notes %}<h3>Notes</h3>
{% for note in r.notes %}<div class="note">{{ note }}</div>
{% endfor %}{% endif %}
<h3>Settings</h3>
{% if r.settings %}<table class="kv">
{% for key, value in r.settings %}<tr><th>{{ key }}</th><td><code>{{ value }}</code></td></tr>
{% endfor %}</table>{% else %}<p class="empty">No settings recorded.</p>{% endif %}
</section>

{% if r.scores %}<section id="scores">
<h2>Scores against the known truth</h2>
<table class="kv">
{% for key, value in r.scores %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>
{% endfor %}</table>
</section>{% endif %}

<section id="map">
<h2>Detection map</h2>
{% if r.map_image %}<figure><img src="{{ r.map_image }}" alt="detection map: wrapped phase, coherence and probability with target outlines">
<figcaption>Detections outlined in red and labelled with their target_id. {{ r.map_message }}</figcaption></figure>
{% else %}<p class="empty">{{ r.map_message }}</p>{% endif %}
</section>

<section id="targets">
<h2>Targets ({{ r.rows | length }})</h2>
{% if r.rows %}<table class="targets" id="target-table">
<thead><tr>{% for c in r.columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in r.rows %}<tr>{% for cell in row %}<td{% if loop.index > 3 %} class="num"{% endif %}>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table>
<p class="sub">Velocity: line of sight, positive towards the satellite, ± one standard deviation.</p>
{% else %}<p class="empty">{{ r.targets_message }}</p>{% endif %}
</section>

<section id="series">
<h2>Time series</h2>
{% if r.series_message %}<p class="empty">{{ r.series_message }}</p>{% endif %}
{% for tid, uri in r.series %}<figure id="series-{{ tid }}"><img src="{{ uri }}" alt="displacement time series of {{ tid }}"></figure>
{% endfor %}
{% if r.series and r.series_missing %}<p class="empty">No time series for: {{ r.series_missing | join(", ") }}.</p>{% endif %}
</section>

{% if r.problems %}<section id="problems">
<h2>Problems while reading the run</h2>
{% for p in r.problems %}<div class="problem">{{ p }}</div>
{% endfor %}
</section>{% endif %}

<footer>Generated {{ r.generated }} by fringenet {{ r.version }}. This page is self-contained and works offline.</footer>
</main>
</body>
</html>
"""


def _render(report: _Report) -> str:
    from jinja2 import Environment, StrictUndefined
    from markupsafe import Markup

    env = Environment(autoescape=True, undefined=StrictUndefined)
    # the CSS is our own constant; escaping would turn its quotes into entities that CSS does not decode
    return env.from_string(_TEMPLATE).render(r=report, css=Markup(_CSS))
