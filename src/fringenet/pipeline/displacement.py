"""``fringenet displacement``: east/north ground displacement (m) from a pre/post optical image pair.

Both images are checked before any work: one band each, the same grid (shape, transform, CRS), some valid
pixels. Offsets come from a correlator of :mod:`fringenet.displacement.correlate` in pixels and become
metres through the pixel size (north positive, whatever the row direction of the grid). Outputs, written
atomically: ``east_m.tif``, ``north_m.tif`` (float32, the input grid, NaN where either image has no data)
and ``run.json`` (method, pixel size, notes, seconds). Issue 12's learned, SAR and InSAR paths are to come.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fringenet.errors import InputError
from fringenet.io.atomic import atomic_path
from fringenet.pipeline.run_folder import check_run_folder, clear_run_folder


@dataclass(frozen=True)
class Image:
    path: Path
    data: NDArray[np.float64]
    transform: Any
    crs: Any


@dataclass
class DisplacementRun:
    out: Path
    east_tif: Path
    north_tif: Path
    notes: list[str] = field(default_factory=list)


def read_image(path: str | Path) -> Image:
    """Band 1 of a raster as float64 with no-data as NaN; clear errors for what is not one usable band."""
    import rasterio
    from rasterio.errors import RasterioIOError

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        with rasterio.open(path) as src:
            if src.count != 1:
                raise InputError(path, f"has {src.count} bands; give one panchromatic or single-band image")
            data = src.read(1, masked=True).astype(np.float64).filled(np.nan)
            transform, crs = src.transform, src.crs
    except RasterioIOError as err:
        raise InputError(path, f"cannot be read as a raster ({err})") from err
    if not np.isfinite(data).any():
        raise InputError(path, "has no valid pixel (no data everywhere)")
    return Image(path, data, transform, crs)


def check_same_grid(pre: Image, post: Image) -> None:
    if pre.data.shape != post.data.shape:
        raise InputError(
            post.path, f"is {post.data.shape} px, the pre image {pre.path.name} {pre.data.shape}"
        )
    if pre.crs != post.crs:
        raise InputError(
            post.path, f"has CRS {post.crs}, the pre image {pre.crs}: co-register the pair first"
        )
    if not pre.transform.almost_equals(post.transform):
        raise InputError(
            post.path, "is not on the pre image's grid (another transform): co-register the pair first"
        )


def run_displacement(
    pre_path: str | Path, post_path: str | Path, out_dir: str | Path, *, method: str = "phase_correlation",
    overwrite: bool = False,
) -> DisplacementRun:  # fmt: skip
    """Measure the pair's displacement with ``method`` and write the run folder (see the module docstring)."""
    from fringenet.displacement.correlate import METHODS, estimate_offsets
    from fringenet.io.geotiff import write_layer

    out = Path(out_dir)
    if method not in METHODS:
        raise InputError(method, f"unknown correlator (valid: {', '.join(METHODS)})")
    previous = check_run_folder(out, overwrite=overwrite)
    pre, post = read_image(pre_path), read_image(post_path)
    check_same_grid(pre, post)
    dx, dy = float(pre.transform.a), float(pre.transform.e)
    if dx == 0 or dy == 0 or pre.transform.b or pre.transform.d:
        raise InputError(pre.path, "has a rotated or degenerate grid; resample it north-up first")
    notes = clear_run_folder(out, previous)
    if pre.crs is None:
        notes.append(
            "the images have no CRS: offsets are in the pixel grid's units (pixel size from the transform)"
        )
    t0 = time.perf_counter()
    east_px, north_px = estimate_offsets(pre.data, post.data, method)
    seconds = time.perf_counter() - t0
    missing = ~(np.isfinite(pre.data) & np.isfinite(post.data))
    # north offsets count towards decreasing rows; a grid whose rows run northwards (dy > 0) flips them
    layers = {
        "east_m.tif": np.where(missing, np.nan, east_px * abs(dx)),
        "north_m.tif": np.where(missing, np.nan, north_px * abs(dy) * (1.0 if dy < 0 else -1.0)),
    }
    for name, layer in layers.items():
        quantity = name.removesuffix("_m.tif") + " displacement"
        write_layer(
            layer, out / name, crs=pre.crs, transform=pre.transform, tags={"units": "m", "quantity": quantity}
        )
    run = {
        "command": "displacement", "method": method, "pre": str(pre.path), "post": str(post.path),
        "pixel_size": [abs(dx), abs(dy)], "notes": notes, "seconds": {"correlate": round(seconds, 3)},
    }  # fmt: skip
    with atomic_path(out / "run.json") as tmp:
        tmp.write_text(json.dumps(run, indent=2))
    return DisplacementRun(out, out / "east_m.tif", out / "north_m.tif", notes)
