"""The accumulating target inventory: a GeoPackage layer that keeps every target ever detected.

Each run of ``fringenet detect`` / ``fringenet monitor`` matches its detections to the targets
already in the inventory (see :func:`update_inventory` for the rule), so a target keeps its id and
``first_seen`` date across runs while its geometry, scores and measurements follow the latest run.
The file is always rewritten through :func:`fringenet.io.atomic.atomic_path`, so an interrupted run
leaves the previous inventory intact.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from fringenet.errors import InputError
from fringenet.io.atomic import atomic_path

#: Attribute columns of a target polygon (inventory and per-run detections), in file order.
TARGET_COLUMNS: tuple[str, ...] = (
    "target_id",
    "score_mean",
    "score_max",
    "area_m2",
    "lon",
    "lat",
    "xmin",
    "ymin",
    "xmax",
    "ymax",
    "elevation_m",
    "slope_deg",
    "aspect_deg",
    "target_type",
    "detector",
    "first_seen",
    "last_seen",
)
#: Columns set by :func:`set_measurements` once a target has been measured.
MEASUREMENT_COLUMNS: tuple[str, ...] = (
    "velocity_m_per_yr",
    "velocity_std_m_per_yr",
    "n_dates",
    "unwrapper",
    "reference_px",
)
STRING_COLUMNS = frozenset({"target_id", "target_type", "detector", "first_seen", "last_seen", "unwrapper"})
#: Counts, stored as nullable integers (pandas ``Int64``).
INT_COLUMNS = frozenset({"n_dates", "reference_px"})
FLOAT_COLUMNS = frozenset(TARGET_COLUMNS + MEASUREMENT_COLUMNS) - STRING_COLUMNS - INT_COLUMNS
#: Columns an existing inventory must have to be updated.
REQUIRED_COLUMNS: tuple[str, ...] = ("target_id", "first_seen", "last_seen")
#: Default intersection-over-union above which a detection is the same target as an inventory entry.
DEFAULT_MATCH_IOU = 0.1
DEFAULT_LAYER = "targets"
ID_PREFIX = "T"
ID_DIGITS = 6
#: Layer metadata key holding the highest id number ever issued, so deleted ids are not reused.
LAST_ID_KEY = "fringenet_last_id_number"
_ID_PATTERN = re.compile(rf"^{ID_PREFIX}(\d+)$")


@dataclass(frozen=True)
class InventoryUpdate:
    """Result of :func:`update_inventory`.

    Attributes
    ----------
    path
        The GeoPackage written.
    table
        The whole updated inventory (layer CRS), one row per target.
    ids_matched
        Ids of existing targets seen again in this run (in detection order).
    ids_new
        Ids given to targets first seen in this run.
    n_total
        Number of targets in the inventory after the update.
    notes
        Things the caller may want to log (e.g. that detections were reprojected).
    """

    path: Path
    table: gpd.GeoDataFrame
    ids_matched: list[str]
    ids_new: list[str]
    n_total: int
    notes: list[str] = field(default_factory=list)


def format_target_id(number: int) -> str:
    """``3 -> "T000003"``; numbers beyond six digits simply get longer."""
    return f"{ID_PREFIX}{number:0{ID_DIGITS}d}"


def target_number(target_id: str) -> int | None:
    """``"T000003" -> 3``; ``None`` for ids that do not follow the pattern (e.g. hand-edited)."""
    found = _ID_PATTERN.match(str(target_id))
    return int(found.group(1)) if found else None


def check_iso_date(value: str, source: str = "seen") -> str:
    """Return ``value`` if it is an ISO date or date-time string, else raise :class:`InputError`."""
    try:
        dt.datetime.fromisoformat(str(value))
    except ValueError as err:
        raise InputError(source, f"{value!r} is not an ISO date (YYYY-MM-DD)") from err
    return str(value)


def empty_targets(crs: Any, *, measurements: bool = False) -> gpd.GeoDataFrame:
    """A target table with no rows, the contract's columns and dtypes, in ``crs``."""
    columns = TARGET_COLUMNS + (MEASUREMENT_COLUMNS if measurements else ())
    data = {
        name: pd.Series(
            dtype=object if name in STRING_COLUMNS else ("Int64" if name in INT_COLUMNS else float)
        )
        for name in columns
    }
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _normalise_dtypes(table: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    # GeoPackage round trips turn nullable integers into floats and strings into pandas' str dtype;
    # give callers the same dtypes whether the table came from disk or from vectorising.
    table = table.copy()
    for name in table.columns:
        if name == table.geometry.name:
            continue
        if name in STRING_COLUMNS:
            values = table[name].astype(object)
            table[name] = values.where(values.notna(), None)
        elif name in INT_COLUMNS:
            table[name] = pd.to_numeric(table[name], errors="coerce").round().astype("Int64")
        elif name in FLOAT_COLUMNS:
            table[name] = pd.to_numeric(table[name], errors="coerce").astype(float)
    return table


def read_inventory_table(path: str | PathLike[str], *, layer: str = DEFAULT_LAYER) -> gpd.GeoDataFrame:
    """Read the target layer of an inventory GeoPackage.

    Parameters
    ----------
    path
        A ``.gpkg`` written by :func:`update_inventory`.
    layer
        Layer name (``"targets"``).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per target, in the layer CRS; may be empty.

    Raises
    ------
    InputError
        Naming the file when it is missing, not a readable GeoPackage, lacks ``layer`` or the
        required columns (``target_id``, ``first_seen``, ``last_seen``), or holds duplicate target
        ids. A layer without CRS holds targets in pixel coordinates (radar geometry).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "inventory file not found")
    try:
        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except Exception as err:  # pyogrio/GDAL raise several types for a corrupt file
        raise InputError(path, f"not a readable GeoPackage ({type(err).__name__}: {err})") from err
    if layer not in layers:
        raise InputError(path, f"has no layer {layer!r} (layers: {', '.join(layers) or 'none'})")
    try:
        table = gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as err:
        raise InputError(path, f"layer {layer!r} cannot be read ({type(err).__name__}: {err})") from err
    missing = [name for name in REQUIRED_COLUMNS if name not in table.columns]
    if not isinstance(table, gpd.GeoDataFrame) or missing:
        raise InputError(path, f"layer {layer!r} is not a fringenet inventory (missing {missing})")
    if table["target_id"].isna().any() or table["target_id"].duplicated().any():
        raise InputError(path, f"layer {layer!r} has missing or duplicate target_id values")
    return _normalise_dtypes(table.reset_index(drop=True))


def _check_detections(detections: gpd.GeoDataFrame) -> None:
    if not isinstance(detections, gpd.GeoDataFrame):
        raise InputError("detections", f"expected a GeoDataFrame, got {type(detections).__name__}")
    missing = [name for name in TARGET_COLUMNS if name not in detections.columns]
    if missing:
        raise InputError("detections", f"missing columns {missing}")
    geoms = detections.geometry
    if (geoms.isna() | geoms.is_empty).any():
        raise InputError("detections", "some rows have no geometry")


def match_targets(
    existing: gpd.GeoSeries, new: gpd.GeoSeries, *, min_iou: float = DEFAULT_MATCH_IOU
) -> list[tuple[int, int, float]]:
    """Pair new polygons with existing ones, one-to-one, by intersection over union (IoU).

    Every overlapping pair is scored by ``area(A ∩ B) / area(A ∪ B)``; pairs are then taken
    greedily from the highest IoU down, skipping polygons already paired, and only pairs with
    ``IoU >= min_iou`` are kept. IoU is symmetric and penalises size mismatch, so a small new
    blob at the edge of a large old target does not inherit its id, while a target that shifted
    or grew moderately between runs (up to ~``1/min_iou`` times its area) keeps it.

    Parameters
    ----------
    existing, new
        Polygons in the same CRS (positional order matters, not the index).
    min_iou
        Threshold in ``(0, 1]``.

    Returns
    -------
    list of (existing_position, new_position, iou)
        Sorted by decreasing IoU.
    """
    if not 0.0 < min_iou <= 1.0:
        raise InputError("match_iou", f"must be in (0, 1], got {min_iou}")
    if len(existing) == 0 or len(new) == 0:
        return []
    old_geoms = np.asarray(existing.geometry.values, dtype=object)
    new_geoms = np.asarray(new.geometry.values, dtype=object)
    tree = shapely.STRtree(old_geoms)
    new_pos, old_pos = tree.query(new_geoms, predicate="intersects")
    if len(new_pos) == 0:
        return []
    inter = shapely.area(shapely.intersection(old_geoms[old_pos], new_geoms[new_pos]))
    union = shapely.area(old_geoms[old_pos]) + shapely.area(new_geoms[new_pos]) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    order = np.lexsort((new_pos, old_pos, -iou))  # ties: deterministic by position
    used_old: set[int] = set()
    used_new: set[int] = set()
    pairs: list[tuple[int, int, float]] = []
    for k in order:
        if iou[k] < min_iou:
            break
        o, n = int(old_pos[k]), int(new_pos[k])
        if o in used_old or n in used_new:
            continue
        used_old.add(o)
        used_new.add(n)
        pairs.append((o, n, float(iou[k])))
    return pairs


def _bounds_in_layer_crs(table: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    bounds = table.geometry.bounds
    table = table.copy()
    table["xmin"], table["ymin"] = bounds["minx"].to_numpy(), bounds["miny"].to_numpy()
    table["xmax"], table["ymax"] = bounds["maxx"].to_numpy(), bounds["maxy"].to_numpy()
    return table


def _max_number(ids: Iterable[str]) -> int:
    return max((n for n in (target_number(i) for i in ids) if n is not None), default=0)


def last_issued_number(path: str | PathLike[str], *, layer: str = DEFAULT_LAYER) -> int:
    """Highest target number ever issued in the inventory (0 for a missing file or layer).

    Taken from the layer metadata written by :func:`write_inventory_table`, so targets deleted
    from the table still block their ids; ids in the table count too (files edited elsewhere).
    """
    path = Path(path)
    if not path.exists():
        return 0
    try:
        info = pyogrio.read_info(path, layer=layer)
        ids = pyogrio.read_dataframe(path, layer=layer, columns=["target_id"], read_geometry=False)
    except Exception:
        return 0
    stored = (info.get("layer_metadata") or {}).get(LAST_ID_KEY, "0")
    try:
        issued = int(stored)
    except ValueError:
        issued = 0
    return max(issued, _max_number(ids["target_id"]))


def write_inventory_table(
    table: gpd.GeoDataFrame, path: str | PathLike[str], *, layer: str = DEFAULT_LAYER
) -> Path:
    """Write ``table`` as ``layer`` of the GeoPackage ``path``, atomically.

    Other layers of an existing file are preserved: the file is copied to a temporary sibling,
    the layer is replaced there, and the copy then replaces ``path``. Geometries are written as
    MultiPolygon so the layer type does not change from run to run. The highest id number ever
    issued is kept in the layer metadata (see :func:`last_issued_number`).
    """
    path = Path(path)
    last = max(last_issued_number(path, layer=layer), _max_number(table["target_id"]))
    with atomic_path(path) as tmp:
        if _other_layers(path, layer):
            shutil.copyfile(path, tmp)  # replacing a layer in place is slow: copy only when needed
        _write_layer(table, tmp, layer, {LAST_ID_KEY: str(last)})
    return path


def _other_layers(path: Path, layer: str) -> bool:
    if not path.exists():
        return False
    try:
        return any(str(name) != layer for name in pyogrio.list_layers(path)[:, 0])
    except Exception:
        return False


def _write_layer(table: gpd.GeoDataFrame, path: Path, layer: str, metadata: dict[str, str]) -> None:
    # Kept separate so tests can make the write fail part-way.
    table.to_file(
        path,
        layer=layer,
        driver="GPKG",
        engine="pyogrio",
        promote_to_multi=True,
        geometry_type="MultiPolygon",
        layer_metadata=metadata,
    )


def update_inventory(
    path: str | PathLike[str],
    detections: gpd.GeoDataFrame,
    *,
    seen: str,
    layer: str = DEFAULT_LAYER,
    match_iou: float = DEFAULT_MATCH_IOU,
) -> InventoryUpdate:
    """Merge one run's detections into the inventory GeoPackage at ``path``.

    Parameters
    ----------
    path
        The ``.gpkg``; created if absent.
    detections
        This run's targets (columns :data:`TARGET_COLUMNS`, optionally :data:`MEASUREMENT_COLUMNS`),
        with provisional ids, e.g. from :func:`fringenet.detect.vectorise.vectorise_detections`.
    seen
        ISO date of this run's observations; becomes ``last_seen`` of every detected target and
        ``first_seen`` of new ones.
    layer
        Layer name.
    match_iou
        IoU threshold of :func:`match_targets`.

    Returns
    -------
    InventoryUpdate

    Notes
    -----
    - A detection matched to a target replaces that target's row (geometry and all attributes it
      carries), except that ``target_id`` and ``first_seen`` are kept. Columns the detections do not
      have at all (e.g. measurements in a detect-only run) keep the target's previous values.
    - Unmatched detections get new ids, continuing after the highest number ever issued (kept in
      the layer metadata), so ids are never reused, even after deletions. Targets not detected in this run are kept unchanged.
    - Detections without CRS (radar geometry, pixel coordinates) go only into an inventory without
      CRS, and map detections only into one with a CRS; mixing them is an :class:`InputError`.
    - Detections in another CRS are reprojected to the inventory's CRS (bounding boxes recomputed;
      lon/lat unchanged) and a note says so.
    - The whole file is rewritten via :func:`write_inventory_table`; an exception leaves the old
      file as it was.
    """
    path = Path(path)
    seen = check_iso_date(seen)
    _check_detections(detections)
    notes: list[str] = []
    new = _normalise_dtypes(detections.reset_index(drop=True))
    if path.exists():
        existing = read_inventory_table(path, layer=layer)
        if (new.crs is None) != (existing.crs is None):  # pixel coordinates never mix with a map
            kinds = ("pixel coordinates (no CRS)", "map coordinates (a CRS)")
            raise InputError(
                path, f"holds targets in {kinds[existing.crs is not None]}, the detections are in "
                f"{kinds[new.crs is not None]}; use another inventory",
            )  # fmt: skip
        if new.crs is not None and not CRS.from_user_input(new.crs).equals(CRS.from_user_input(existing.crs)):
            notes.append(f"detections reprojected from {new.crs.to_string()} to the inventory's CRS")
            new = _bounds_in_layer_crs(new.to_crs(existing.crs))
    else:
        existing = empty_targets(new.crs)

    pairs = match_targets(existing.geometry, new.geometry, min_iou=match_iou)
    matched_new = {n: o for o, n, _ in pairs}
    next_number = max(last_issued_number(path, layer=layer), _max_number(existing["target_id"])) + 1

    columns = list(dict.fromkeys([*TARGET_COLUMNS, *existing.columns, *new.columns]))
    columns.remove(existing.geometry.name)
    # Rows as plain dicts: assigning e.g. a string into a column that was all-NaN float would be
    # refused by pandas, so dtypes are inferred once from the final values.
    records = pd.DataFrame(existing.drop(columns=existing.geometry.name)).to_dict("records")
    geometry = list(existing.geometry.values)
    new_records = pd.DataFrame(new.drop(columns=new.geometry.name)).to_dict("records")
    new_geoms = list(new.geometry.values)
    ids_matched: list[str] = []
    ids_new: list[str] = []
    for n, values in enumerate(new_records):
        values["last_seen"] = seen
        if n in matched_new:
            o = matched_new[n]
            values["target_id"] = records[o]["target_id"]
            values["first_seen"] = records[o]["first_seen"]
            records[o].update(values)
            geometry[o] = new_geoms[n]
            ids_matched.append(str(values["target_id"]))
        else:
            values["target_id"] = format_target_id(next_number)
            values["first_seen"] = seen
            next_number += 1
            records.append(values)
            geometry.append(new_geoms[n])
            ids_new.append(str(values["target_id"]))
    result = gpd.GeoDataFrame(
        pd.DataFrame.from_records(records, columns=columns),
        geometry=gpd.GeoSeries(geometry, crs=existing.crs),
        crs=existing.crs,
    )
    result = _normalise_dtypes(result)
    write_inventory_table(result, path, layer=layer)
    return InventoryUpdate(
        path=path, table=result, ids_matched=ids_matched, ids_new=ids_new, n_total=len(result), notes=notes
    )


def set_measurements(
    gdf: gpd.GeoDataFrame, measurements: Mapping[str, Mapping[str, Any]]
) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` with measurement columns set for the given target ids.

    Parameters
    ----------
    gdf
        Targets with a ``target_id`` column.
    measurements
        ``{target_id: {column: value}}`` with columns from :data:`MEASUREMENT_COLUMNS`:
        ``velocity_m_per_yr`` and ``velocity_std_m_per_yr`` (m/yr, LOS, positive towards the
        satellite), ``n_dates`` (int), ``unwrapper`` (str), ``reference_px`` (int, pixels in the
        reference area).

    Returns
    -------
    geopandas.GeoDataFrame
        All measurement columns present (missing values NaN / ``<NA>`` / ``None``).

    Raises
    ------
    InputError
        For an id not in ``gdf`` or a column that is not a measurement column.
    """
    if "target_id" not in gdf.columns:
        raise InputError("targets", "have no target_id column")
    out = gdf.copy()
    for name in MEASUREMENT_COLUMNS:
        if name not in out.columns:
            out[name] = None if name in STRING_COLUMNS else np.nan
    out = _normalise_dtypes(out)
    out["velocity_m_per_yr"] = out["velocity_m_per_yr"].astype(float)
    out["velocity_std_m_per_yr"] = out["velocity_std_m_per_yr"].astype(float)
    position = {str(tid): k for k, tid in enumerate(out["target_id"])}
    unknown = sorted(set(map(str, measurements)) - set(position))
    if unknown:
        raise InputError("measurements", f"unknown target ids {unknown}")
    for target_id, values in measurements.items():
        bad = sorted(set(values) - set(MEASUREMENT_COLUMNS))
        if bad:
            raise InputError("measurements", f"{target_id}: not measurement columns {bad}")
        row = out.index[position[str(target_id)]]
        for name, value in values.items():
            if name == "unwrapper":
                value = None if value is None else str(value)
            elif name in INT_COLUMNS:
                value = pd.NA if value is None or pd.isna(value) else int(value)
            else:
                value = np.nan if value is None else float(value)
            out.at[row, name] = value
    return out
