"""Atomic writers never delete a folder or file they did not create."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from typer.testing import CliRunner

from fringenet.cli import app
from fringenet.errors import InputError
from fringenet.io.atomic import atomic_path
from rasters import write_plain_tif


def test_a_file_output_does_not_replace_an_existing_folder(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="existing folder") as info, atomic_path(folder) as tmp:
        tmp.write_text("output")
    assert info.value.source == str(folder)
    assert (folder / "sub" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # no temporary left


def test_a_folder_output_does_not_replace_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "store.zarr"
    target.write_bytes(b"user data")
    with pytest.raises(InputError, match="existing file"), atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "data").write_text("output")
    assert target.read_bytes() == b"user data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.zarr"]


def test_overwrite_false_refuses_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "out.tif"
    target.write_bytes(b"\x00\x01old")
    with pytest.raises(InputError, match="exists already"), atomic_path(target, overwrite=False) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"\x00\x01old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]

    fresh = tmp_path / "new.tif"
    with atomic_path(fresh, overwrite=False) as tmp:
        tmp.write_bytes(b"new")
    assert fresh.read_bytes() == b"new"


def test_a_folder_still_replaces_a_folder(tmp_path: Path) -> None:
    target = tmp_path / "store.zarr"
    for content in ("first", "second"):
        with atomic_path(target) as tmp:
            tmp.mkdir()
            (tmp / "data").write_text(content)
    assert (target / "data").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.zarr"]


def test_cli_unwrap_onto_an_existing_folder_is_refused_and_keeps_it(tmp_path: Path) -> None:
    yy, xx = np.mgrid[:48, :48]
    phase = np.angle(np.exp(1j * 0.01 * ((xx - 24.0) ** 2 + (yy - 24.0) ** 2))).astype(np.float32)
    pha = write_plain_tif(
        tmp_path / "20200101_20200113.geo.diff_pha.tif", phase,
        crs="EPSG:32633", transform=Affine(100.0, 0, 4e5, 0, -100.0, 5e6),
    )  # fmt: skip
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    result = CliRunner().invoke(app, ["unwrap", str(pha), "--out", str(folder), "--method", "whirlwind"])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "existing folder" in result.output
    assert "Traceback" not in result.output
    assert (folder / "keep.txt").read_text() == "mine"
