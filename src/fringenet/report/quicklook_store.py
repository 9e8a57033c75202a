"""The run directory's ``quicklook.nc``: decimated wrapped phase, coherence and probability for the report.

A scene can be tens of thousands of pixels on a side; the report only needs a picture, so the layers
are block-averaged to at most ``max_size`` pixels per side (phase averaged as unit complex numbers,
so fringes near +-pi do not average to 0) and kept with the grid's coordinates and CRS.
"""

from __future__ import annotations

import math
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from numpy.typing import ArrayLike, NDArray

from fringenet.errors import InputError
from fringenet.io.netcdf import read_netcdf, write_netcdf
from fringenet.io.schema import coords_from_transform, default_transform, georeference

QUICKLOOK_LAYERS = ("wrapped_phase", "coherence", "probability", "slow_motion_z")
QUICKLOOK_UNITS = {"wrapped_phase": "rad", "coherence": "1", "probability": "1", "slow_motion_z": "1"}
MAX_SIZE = 1024


def decimation_factor(height: int, width: int, max_size: int = MAX_SIZE) -> int:
    """Smallest integer block size that brings both sides of a ``(height, width)`` grid to <= ``max_size``."""
    if max_size < 1:
        raise InputError("quicklook", f"max_size must be >= 1, got {max_size}")
    return max(1, math.ceil(max(height, width) / max_size))


def block_mean(array: ArrayLike, factor: int) -> NDArray[np.float64]:
    """NaN-ignoring mean over ``factor x factor`` blocks of a ``(H, W)`` array -> ``(ceil(H/f), ceil(W/f))``.

    Partial blocks at the bottom and right edges average the pixels they have; all-NaN blocks are NaN.
    Complex input gives a complex mean.
    """
    a = np.asarray(array)
    if a.ndim != 2:
        raise InputError("quicklook", f"layers must be 2-D (y, x), got shape {a.shape}")
    if factor == 1:
        return a.astype(np.complex128 if np.iscomplexobj(a) else np.float64)
    h, w = a.shape
    hb, wb = math.ceil(h / factor), math.ceil(w / factor)
    # single precision: a picture of the scene, and half the memory traffic of a large one
    dtype = np.complex64 if np.iscomplexobj(a) else np.float32
    padded = np.full((hb * factor, wb * factor), np.nan, dtype=dtype)
    padded[:h, :w] = a
    finite = np.isfinite(padded)
    padded[~finite] = 0
    count = finite.reshape(hb, factor, wb, factor).sum(axis=(1, 3))
    total = padded.reshape(hb, factor, wb, factor).sum(
        axis=(1, 3), dtype=np.complex128 if dtype == np.complex64 else np.float64
    )
    # count == 0 only for all-NaN blocks; divide safely and mark them NaN
    out = total / np.maximum(count, 1)
    out[count == 0] = np.nan
    return out


def _phase_block_mean(phase: ArrayLike, factor: int) -> NDArray[np.float64]:
    p = np.asarray(phase, dtype=np.float32)
    z = np.empty(p.shape, np.complex64)
    z.real, z.imag = np.cos(p), np.sin(p)  # NaN phase gives a NaN phasor, ignored by the mean
    return np.angle(block_mean(z, factor)).astype(np.float64)


def make_quicklook(
    source: xr.Dataset | ArrayLike | None = None,
    coherence: ArrayLike | None = None,
    probability: ArrayLike | None = None,
    *,
    slow_motion_z: ArrayLike | None = None,
    transform: Affine | None = None,
    crs: Any = None,
    max_size: int = MAX_SIZE,
) -> xr.Dataset:
    """Decimate the report layers to <= ``max_size`` pixels per side.

    Parameters
    ----------
    source
        Either a georeferenced Dataset (one pair, dims ``(y, x)``) from which ``wrapped_phase``,
        ``coherence`` and ``probability`` are taken when present (its transform and CRS are used
        unless given), or the ``(H, W)`` wrapped phase (rad) itself, or None.
    coherence, probability
        ``(H, W)`` coherence and deformation probability (0-1); they override the Dataset's.
    slow_motion_z
        ``(H, W)`` robust z-score of the slow-motion stage's phase rate against its background (1).
    transform, crs
        Affine transform and CRS of the full-resolution grid (default: a 30 m local grid, no CRS).
    max_size
        Largest side of the output grid (pixels).

    Returns
    -------
    Dataset with float32 ``(y, x)`` variables among ``wrapped_phase`` (rad), ``coherence``,
    ``probability``, ``slow_motion_z``; coordinates of the block centres in the input CRS; attrs ``crs`` (WKT, "" when
    unknown) and ``decimation`` (block size in input pixels).
    """
    layers: dict[str, Any] = {}
    if isinstance(source, xr.Dataset):
        one = source.isel(pair=0) if "pair" in source.dims else source
        for name in QUICKLOOK_LAYERS:
            if name in one:
                layers[name] = one[name].values
        if transform is None and "x" in one.dims:
            transform = one.rio.transform()
        if crs is None:
            crs = one.rio.crs
    elif source is not None:
        layers["wrapped_phase"] = np.asarray(source)
    if coherence is not None:
        layers["coherence"] = np.asarray(coherence)
    if probability is not None:
        layers["probability"] = np.asarray(probability)
    if slow_motion_z is not None:
        layers["slow_motion_z"] = np.asarray(slow_motion_z)
    if not layers:
        raise InputError("quicklook", "no layer given (wrapped phase, coherence or probability)")
    shapes = {name: np.shape(a) for name, a in layers.items()}
    if len(set(shapes.values())) != 1 or any(len(s) != 2 for s in shapes.values()):
        raise InputError("quicklook", f"layers must be 2-D arrays of one shape, got {shapes}")
    height, width = next(iter(shapes.values()))
    transform = transform if transform is not None else default_transform(height)

    factor = decimation_factor(height, width, max_size)
    data_vars: dict[str, Any] = {}
    for name in QUICKLOOK_LAYERS:
        if name not in layers:
            continue
        if name == "wrapped_phase":
            small = _phase_block_mean(layers[name], factor)
        else:
            small = block_mean(np.asarray(layers[name], dtype=np.float64), factor)
        data_vars[name] = (("y", "x"), small.astype(np.float32), {"units": QUICKLOOK_UNITS[name]})
    small_transform = transform * Affine.scale(factor)
    hb, wb = math.ceil(height / factor), math.ceil(width / factor)
    y, x = coords_from_transform(small_transform, hb, wb)
    wkt = _crs_wkt(crs)
    ds = georeference(xr.Dataset(data_vars, coords={"y": y, "x": x}), small_transform, crs if wkt else None)
    # after georeference: rioxarray's write_crs drops a dataset attr named "crs"
    ds.attrs.update({"crs": wkt, "decimation": factor})
    return ds


def _crs_wkt(crs: Any) -> str:
    if crs is None:
        return ""
    from pyproj import CRS

    return str(CRS.from_user_input(crs).to_wkt())


def write_quicklook(
    path: str | PathLike[str],
    wrapped_phase: xr.Dataset | ArrayLike | None,
    coherence: ArrayLike | None,
    probability: ArrayLike | None,
    transform: Affine | None = None,
    crs: Any = None,
    max_size: int = MAX_SIZE,
    *,
    slow_motion_z: ArrayLike | None = None,
) -> Path:
    """Decimate the layers with :func:`make_quicklook` and write them to ``path`` (NetCDF, atomic).

    ``wrapped_phase`` may be a georeferenced Dataset (see :func:`make_quicklook`); the other layers
    then override its variables.
    """
    ds = make_quicklook(
        wrapped_phase, coherence, probability, slow_motion_z=slow_motion_z, transform=transform, crs=crs,
        max_size=max_size,
    )  # fmt: skip
    return write_netcdf(ds, path)


def read_quicklook(path: str | PathLike[str]) -> xr.Dataset:
    """Read a ``quicklook.nc`` written by :func:`write_quicklook` (any subset of the layers)."""
    ds = read_netcdf(path)
    if not any(name in ds for name in QUICKLOOK_LAYERS):
        raise InputError(path, f"quick-look holds none of {list(QUICKLOOK_LAYERS)}")
    return ds
