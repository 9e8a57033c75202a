"""Zarr (v3) stores: chunked, lazily readable fringenet Datasets, written atomically."""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path
from typing import Any

import xarray as xr

from fringenet.errors import InputError
from fringenet.io.atomic import atomic_path
from fringenet.io.guard import guarded, reason
from fringenet.io.netcdf import prepare_for_file, restore_from_file
from fringenet.io.schema import PAIR_DIM, pair_label

DEFAULT_CHUNKS = {PAIR_DIM: 1, "y": 512, "x": 512}


def write_zarr(ds: xr.Dataset, path: str | PathLike[str], *, chunks: dict[str, int] | None = None) -> Path:
    """Write a fringenet Dataset to a Zarr v3 store (one pair per chunk, 512 x 512 tiles by default).

    The store is written under a temporary name and renamed into place, replacing any
    existing store at ``path`` only when the write succeeded.
    """
    path = Path(path)
    wanted = {**DEFAULT_CHUNKS, **(chunks or {})}
    out = prepare_for_file(ds)
    if PAIR_DIM in out.coords and out[PAIR_DIM].dtype.kind in "USO" and "reference_date" in out.coords:
        # Zarr v3 has no stable string dtype; the labels are rebuilt from the dates on reading.
        out = out.drop_vars(PAIR_DIM)
    out = out.chunk({dim: min(size, out.sizes[dim]) for dim, size in wanted.items() if dim in out.dims})
    with atomic_path(path) as tmp:
        out.to_zarr(tmp, mode="w", zarr_format=3, consolidated=False)
    return path


def read_zarr(path: str | PathLike[str], *, chunks: Any = None) -> xr.Dataset:
    """Open a Zarr store written by :func:`write_zarr` lazily (dask arrays, the store's chunks by default)."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "Zarr store not found")
    _check_metadata(path)
    try:
        ds = xr.open_zarr(
            path, consolidated=False, decode_coords="all", chunks={} if chunks is None else chunks
        )
        lazy = xr.open_zarr(path, consolidated=False, decode_coords="all", chunks=None)
    except Exception as err:  # zarr raises many types for a damaged store
        raise InputError(path, f"not a readable Zarr store ({reason(err)})") from err
    for name, var in ds.data_vars.items():
        if var.chunks is not None:  # a damaged chunk fails where it is read, naming the store
            data = guarded(lazy[name].variable, var.chunks, path, f"damaged chunk of {name}")
            ds[name] = var.copy(data=data)
    if PAIR_DIM in ds.dims and PAIR_DIM not in ds.coords and "reference_date" in ds.coords:
        labels = [
            pair_label(r, s)
            for r, s in zip(ds["reference_date"].values, ds["secondary_date"].values, strict=True)
        ]
        ds = ds.assign_coords({PAIR_DIM: labels})
    return restore_from_file(ds, path, "fringenet Zarr")


def _check_metadata(path: Path) -> None:
    """Every metadata document of the store parses as JSON (zarr itself fails on a damaged one inside
    its event loop and leaves pending tasks that print to stderr when collected)."""
    for meta in sorted(path.rglob("*")):
        if meta.name in ("zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata") and meta.is_file():
            try:
                json.loads(meta.read_bytes())
            except (ValueError, OSError) as err:
                where = meta.relative_to(path)
                raise InputError(path, f"damaged Zarr metadata {where} ({reason(err)})") from err
