"""Pair-date parsing from file names and atomic writes."""

from __future__ import annotations

import pandas as pd
import pytest

from fringenet.io.atomic import atomic_path
from fringenet.io.dates import parse_pair_dates, parse_snap_dates


@pytest.mark.parametrize(
    ("name", "ref", "sec"),
    [
        ("20200101_20200113.geo.diff_pha.tif", "2020-01-01", "2020-01-13"),
        ("S1_20191231-20200112_unw.tif", "2019-12-31", "2020-01-12"),
        ("geo_060619-061002_unw.tif", "2006-06-19", "2006-10-02"),
        ("geo_990619_000105_unw.tif", "1999-06-19", "2000-01-05"),
        ("/data/interferograms/20200101_20200113/20200101_20200113.geo.unw.tif", "2020-01-01", "2020-01-13"),
        ("Phase_ifg_VV_01Jan2020_13Jan2020", "2020-01-01", "2020-01-13"),
    ],
)
def test_parse_pair_dates_recognises_processor_names(name: str, ref: str, sec: str) -> None:
    assert parse_pair_dates(name) == (pd.Timestamp(ref), pd.Timestamp(sec))


@pytest.mark.parametrize(
    "name",
    [
        "dem.tif",
        "20201345_20210101.tif",  # month 13
        "060631-061002_unw.tif",  # 31 June
        "frame_123456789_987654321.tif",  # digits glued on: not dates
        "orbit_000000_000000.tif",
    ],
)
def test_parse_pair_dates_rejects_non_dates(name: str) -> None:
    assert parse_pair_dates(name) is None


def test_parse_pair_dates_skips_an_impossible_match_and_finds_the_real_one() -> None:
    assert parse_pair_dates("20201399_20201400_x_20200101_20200113.tif") == (
        pd.Timestamp("2020-01-01"),
        pd.Timestamp("2020-01-13"),
    )


def test_parse_snap_dates_is_case_insensitive() -> None:
    assert parse_snap_dates("coh_IW1_VV_01JAN2020_13JAN2020") == (
        pd.Timestamp("2020-01-01"),
        pd.Timestamp("2020-01-13"),
    )
    assert parse_snap_dates("coh_IW1_VV_31Feb2020_13Mar2020") is None


def test_atomic_path_renames_file_only_on_success(tmp_path) -> None:
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".txt" and tmp != target
        tmp.write_text("complete")
    assert target.read_text() == "complete"

    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer crashed")
    assert target.read_text() == "complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_path_replaces_directories(tmp_path) -> None:
    target = tmp_path / "store.zarr"
    for content in ("first", "second"):
        with atomic_path(target) as tmp:
            tmp.mkdir()
            (tmp / "data").write_text(content)
    assert (target / "data").read_text() == "second"
    with pytest.raises(ValueError), atomic_path(target) as tmp:
        tmp.mkdir()
        raise ValueError("boom")
    assert (target / "data").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.zarr"]
