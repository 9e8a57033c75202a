"""Boxcar multilooking: block averages that reduce resolution and phase noise."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fringenet.errors import InputError


def _check_looks(looks_y: int, looks_x: int) -> tuple[int, int]:
    for name, value in (("looks_y", looks_y), ("looks_x", looks_x)):
        if int(value) != value or value < 1:
            raise InputError("multilook", f"{name} must be a positive integer (got {value!r})")
    return int(looks_y), int(looks_x)


def multilook(array: ArrayLike, looks_y: int, looks_x: int) -> NDArray[np.generic]:
    """Average non-overlapping ``looks_y x looks_x`` blocks of the last two axes.

    Parameters
    ----------
    array
        Real or complex array of shape ``(..., y, x)``; NaN marks missing pixels.
    looks_y, looks_x
        Block size in pixels along rows and columns.

    Returns
    -------
    ndarray
        Shape ``(..., y // looks_y, x // looks_x)``: rows/columns that do not fill a whole block
        are cropped. Float input gives float64, complex gives complex128. Each output pixel is the
        mean of the finite pixels of its block, NaN when the block has none. Units are unchanged.
    """
    ly, lx = _check_looks(looks_y, looks_x)
    arr = np.asarray(array)
    if arr.ndim < 2:
        raise InputError("multilook", f"array must have at least 2 dimensions (got shape {arr.shape})")
    ny, nx = arr.shape[-2] // ly, arr.shape[-1] // lx
    if ny == 0 or nx == 0:
        raise InputError("multilook", f"array of shape {arr.shape} is smaller than one {ly}x{lx} block")
    dtype = np.complex128 if np.iscomplexobj(arr) else np.float64
    cropped = arr[..., : ny * ly, : nx * lx].astype(dtype, copy=False)
    blocks = cropped.reshape(*arr.shape[:-2], ny, ly, nx, lx)
    valid = ~np.isnan(blocks)
    total = np.where(valid, blocks, 0).sum(axis=(-3, -1))
    count = valid.sum(axis=(-3, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / count
    out[count == 0] = np.nan
    return out


def multilook_interferogram(ifg_complex: ArrayLike, looks: int | tuple[int, int]) -> NDArray[np.complex128]:
    """Coherently multilook a complex interferogram.

    Parameters
    ----------
    ifg_complex
        Complex interferogram ``(..., y, x)`` (amplitude times ``exp(i phase)``); NaN = missing.
    looks
        One integer for square blocks, or ``(looks_y, looks_x)``.

    Returns
    -------
    ndarray of complex128
        The block mean of the complex values, shape ``(..., y // looks_y, x // looks_x)``;
        ``np.angle`` of it is the multilooked phase (rad).
    """
    arr = np.asarray(ifg_complex)
    if not np.iscomplexobj(arr):
        raise InputError("multilook_interferogram", f"expected a complex array (got dtype {arr.dtype})")
    ly, lx = (looks, looks) if isinstance(looks, int | np.integer) else tuple(looks)
    return multilook(arr, int(ly), int(lx)).astype(np.complex128, copy=False)
