"""Lazy reads that fail by name: a block of a file that cannot be read raises :class:`InputError`.

A lazily opened product is read where it is computed (``describe``, a scan, a Dask worker), far from its
reader; a damaged block there would raise the codec's or GDAL's own error without the file's name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask.array as darray
import numpy as np
import xarray as xr
from dask.base import tokenize

from fringenet.errors import InputError


def reason(err: BaseException) -> str:
    """``Type: first line of the message`` of the innermost error of the chain (rasterio's outer one says
    only "See previous exception for details"; libraries' messages may run over several lines)."""
    while err.__cause__ is not None or err.__context__ is not None:
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


class _Guarded:
    """``variable`` (lazy, not Dask) for :func:`dask.array.from_array`: a block that fails raises
    :class:`InputError` naming ``path``."""

    def __init__(
        self, variable: xr.Variable, path: Path, what: str, quiet: Callable[[], Any] | None = None
    ) -> None:
        self.variable, self.path, self.what, self.quiet = variable, path, what, quiet
        self.shape, self.dtype, self.ndim = variable.shape, variable.dtype, variable.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        try:
            with self.quiet() if self.quiet is not None else contextlib.nullcontext():
                return np.asarray(self.variable[key].values)
        except Exception as err:  # codecs and GDAL raise RuntimeError, ValueError, CPLE_* ... for damage
            raise InputError(self.path, f"{self.what} ({reason(err)})") from err


def guarded(
    lazy: xr.Variable,
    chunks: tuple[tuple[int, ...], ...],
    path: Path,
    what: str,
    quiet: Callable[[], Any] | None = None,
) -> darray.Array:
    """A Dask array of ``lazy`` in ``chunks`` whose blocks raise ``InputError(path, what (reason))``.

    ``quiet`` is a context manager factory each block is read in (e.g. GDAL's messages collected).
    """
    token = tokenize(str(path), what, path.stat().st_mtime_ns, lazy.shape, chunks)
    return darray.from_array(_Guarded(lazy, path, what, quiet), chunks=chunks, name=f"read-{token}")
