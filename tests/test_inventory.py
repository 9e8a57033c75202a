"""The accumulating target inventory: id matching across runs, measurements, bad files, atomic writes."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from affine import Affine
from shapely.geometry import box

import fringenet.io.inventory as inventory_module
from fringenet.detect.vectorise import vectorise_detections
from fringenet.errors import InputError
from fringenet.io.inventory import (
    MEASUREMENT_COLUMNS,
    match_targets,
    read_inventory_table,
    set_measurements,
    update_inventory,
)

UTM = "EPSG:32632"
TRANSFORM = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 5_000_000.0)
SHAPE = (40, 40)


def _detections(*windows: tuple[slice, slice], seen: str) -> gpd.GeoDataFrame:
    mask = np.zeros(SHAPE, bool)
    for rows, cols in windows:
        mask[rows, cols] = True
    return vectorise_detections(mask, mask * 0.8, transform=TRANSFORM, crs=UTM, seen=seen)


A = (slice(2, 8), slice(2, 8))
A_SHIFTED = (slice(3, 9), slice(3, 9))  # IoU 25/47 with A
B = (slice(20, 25), slice(20, 26))
C = (slice(2, 6), slice(30, 36))


def test_second_run_keeps_ids_appends_new_and_keeps_unseen(tmp_path: Path) -> None:
    path = tmp_path / "inventory.gpkg"
    first = update_inventory(path, _detections(A, B, seen="2024-01-01"), seen="2024-01-01")
    assert first.ids_new == ["T000001", "T000002"] and first.ids_matched == [] and first.n_total == 2

    # Run 2: A moved one pixel, B not detected, C is new. C comes first in raster order, so its
    # provisional id is T000001: provisional ids must not leak into the inventory.
    second = update_inventory(path, _detections(A_SHIFTED, C, seen="2024-02-01"), seen="2024-02-01")
    assert second.ids_matched == ["T000001"] and second.ids_new == ["T000003"] and second.n_total == 3
    table = read_inventory_table(path).set_index("target_id")
    assert table.loc["T000001", "first_seen"] == "2024-01-01"
    assert table.loc["T000001", "last_seen"] == "2024-02-01"
    assert table.loc["T000001", "xmin"] == pytest.approx(500_000.0 + 3 * 30.0)  # new geometry
    assert table.loc["T000001"].geometry.equals(box(500_090.0, 5_000_000.0 - 270, 500_270.0, 4_999_910.0))
    assert table.loc["T000002", "first_seen"] == "2024-01-01" == table.loc["T000002", "last_seen"]
    assert table.loc["T000003", "first_seen"] == "2024-02-01" == table.loc["T000003", "last_seen"]
    assert table.loc["T000003", "xmin"] == pytest.approx(500_000.0 + 30 * 30.0)
    assert table.crs.to_epsg() == 32632
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inventory.gpkg"]  # no temporaries left


def test_ids_continue_after_the_highest_and_are_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "inventory.gpkg"
    update_inventory(path, _detections(A, B, C, seen="2024-01-01"), seen="2024-01-01")
    table = read_inventory_table(path)
    assert table["target_id"].tolist() == ["T000001", "T000002", "T000003"]  # raster order: A, C, B
    # Someone removed the newest target (B, T000003): its number must not be handed out again.
    inventory_module.write_inventory_table(table[table["target_id"] != "T000003"], path)
    assert read_inventory_table(path)["target_id"].tolist() == ["T000001", "T000002"]
    update = update_inventory(path, _detections(B, seen="2024-03-01"), seen="2024-03-01")
    assert update.ids_new == ["T000004"] and update.n_total == 3


def test_detections_in_another_crs_are_reprojected(tmp_path: Path) -> None:
    path = tmp_path / "inventory.gpkg"
    update_inventory(path, _detections(A, seen="2024-01-01"), seen="2024-01-01")
    update = update_inventory(path, _detections(A, seen="2024-02-01").to_crs(4326), seen="2024-02-01")
    assert update.ids_matched == ["T000001"] and update.ids_new == []
    assert any("reprojected" in note for note in update.notes)
    assert update.table.crs.to_epsg() == 32632
    assert update.table.loc[0, "xmin"] == pytest.approx(500_060.0, abs=0.01)


def test_greedy_one_to_one_matching_by_iou() -> None:
    old = gpd.GeoSeries([box(0, 0, 10, 10), box(100, 0, 110, 10)])
    new = gpd.GeoSeries([box(1, 0, 11, 10), box(0, 0, 10, 10), box(100, 0, 101, 1)])
    pairs = match_targets(old, new, min_iou=0.1)
    # new[1] is identical to old[0] (IoU 1) and wins over new[0] (IoU 9/11); new[2] is too small.
    assert [(o, n) for o, n, _ in pairs] == [(0, 1)]
    assert pairs[0][2] == pytest.approx(1.0)


def test_measurements_are_set_kept_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "inventory.gpkg"
    detections = set_measurements(
        _detections(A, B, seen="2024-01-01"),
        {
            "T000002": {
                "velocity_m_per_yr": -0.012,
                "velocity_std_m_per_yr": 0.002,
                "n_dates": 14,
                "unwrapper": "snaphu",
                "reference_px": 9,
            }
        },
    )
    assert set(MEASUREMENT_COLUMNS) <= set(detections.columns)
    assert np.isnan(detections.loc[0, "velocity_m_per_yr"]) and detections.loc[0, "n_dates"] is pd.NA
    update_inventory(path, detections, seen="2024-01-01")
    # A detect-only run (no measurement columns) must not wipe earlier measurements.
    update_inventory(path, _detections(B, seen="2024-02-01"), seen="2024-02-01")
    table = read_inventory_table(path).set_index("target_id")
    assert table.loc["T000002", "velocity_m_per_yr"] == pytest.approx(-0.012)
    assert table.loc["T000002", "n_dates"] == 14 and str(table["reference_px"].dtype) == "Int64"
    assert table.loc["T000002", "unwrapper"] == "snaphu" and table.loc["T000002", "reference_px"] == 9
    assert table.loc["T000002", "last_seen"] == "2024-02-01"
    # Measurements arriving for a target first stored without any (column types change).
    update_inventory(path, _detections(B, C, seen="2024-03-01"), seen="2024-03-01")
    measured = set_measurements(
        _detections(C, seen="2024-04-01"), {"T000001": {"unwrapper": "whirlwind", "n_dates": 5}}
    )
    update = update_inventory(path, measured, seen="2024-04-01")
    assert update.ids_matched == ["T000003"]
    table = read_inventory_table(path).set_index("target_id")
    assert table.loc["T000003", "unwrapper"] == "whirlwind" and table.loc["T000003", "n_dates"] == 5
    assert table.loc["T000002", "unwrapper"] == "snaphu" and table["score_mean"].dtype == float
    with pytest.raises(InputError, match="T000009"):
        set_measurements(detections, {"T000009": {"n_dates": 3}})
    with pytest.raises(InputError, match="velocity"):
        set_measurements(detections, {"T000001": {"velocity": 3.0}})


def test_corrupt_or_foreign_files_raise_input_error_naming_the_file(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.gpkg"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(InputError, match=r"corrupt\.gpkg"):
        update_inventory(corrupt, _detections(A, seen="2024-01-01"), seen="2024-01-01")
    assert corrupt.read_bytes() == np.random.default_rng(0).bytes(4096)

    foreign = tmp_path / "foreign.gpkg"
    gpd.GeoDataFrame({"name": ["x"]}, geometry=[box(0, 0, 1, 1)], crs=UTM).to_file(foreign, layer="roads")
    with pytest.raises(InputError, match=r"foreign.gpkg.*no layer 'targets'"):
        read_inventory_table(foreign)
    with pytest.raises(InputError, match=r"foreign.gpkg.*missing"):
        read_inventory_table(foreign, layer="roads")


def test_failed_write_leaves_the_old_inventory_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "inventory.gpkg"
    update_inventory(path, _detections(A, seen="2024-01-01"), seen="2024-01-01")
    before = path.read_bytes()

    def write_then_crash(table: gpd.GeoDataFrame, target: Path, layer: str, metadata: dict[str, str]) -> None:
        target.write_bytes(b"half a geopackage")
        raise OSError("disk full")

    monkeypatch.setattr(inventory_module, "_write_layer", write_then_crash)
    with pytest.raises(OSError, match="disk full"):
        update_inventory(path, _detections(A, B, seen="2024-02-01"), seen="2024-02-01")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inventory.gpkg"]
    assert read_inventory_table(path)["target_id"].tolist() == ["T000001"]


def test_other_layers_of_the_geopackage_survive(tmp_path: Path) -> None:
    path = tmp_path / "inventory.gpkg"
    update_inventory(path, _detections(A, seen="2024-01-01"), seen="2024-01-01")
    gpd.GeoDataFrame({"note": ["aoi"]}, geometry=[box(0, 0, 1, 1)], crs=UTM).to_file(path, layer="aoi")
    update_inventory(path, _detections(A, B, seen="2024-02-01"), seen="2024-02-01")
    assert gpd.read_file(path, layer="aoi")["note"].tolist() == ["aoi"]
    assert len(read_inventory_table(path)) == 2


def test_empty_first_run_creates_an_empty_inventory(tmp_path: Path) -> None:
    path = tmp_path / "inventory.gpkg"
    update = update_inventory(path, _detections(seen="2024-01-01"), seen="2024-01-01")
    assert update.n_total == 0 and path.exists()
    assert update_inventory(path, _detections(A, seen="2024-02-01"), seen="2024-02-01").ids_new == ["T000001"]
