"""Where a scene scan reads its pixels: windows of GeoTIFF files or of a fringenet Dataset.

A :class:`WindowSource` hands out any rectangle of the scene as one :class:`PairLayers` per
interferogram, reading only that rectangle (rasterio windowed reads; ``isel`` on dask-backed
Datasets), so a scan never holds a whole scene. Sources are plain picklable objects (paths, lazy
Datasets): a Dask worker reads its own rows from the same files.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import rasterio
import xarray as xr
from affine import Affine
from numpy.typing import NDArray
from rasterio.errors import RasterioError
from rasterio.windows import Window

from fringenet.conventions import SENTINEL1_WAVELENGTH_M, wrap
from fringenet.data.channels import PairLayers
from fringenet.errors import InputError
from fringenet.io.geotiff import gdal_reason, infer_variable, truncation
from fringenet.io.schema import EARTH_METRES_PER_DEGREE, PAIR_DIM, pixel_size_m

PathArg = str | PathLike[str]


@runtime_checkable
class WindowSource(Protocol):
    """A georeferenced scene of ``n_pairs`` interferograms that can be read window by window."""

    name: str
    shape: tuple[int, int]
    transform: Affine
    crs: Any
    n_pairs: int

    def read(
        self, row0: int, col0: int, height: int, width: int, pairs: Sequence[int] | None = None
    ) -> list[PairLayers]:
        """Layers ``(height, width)`` of each selected pair (or of ``pairs`` among them); NaN = missing."""
        ...


def _select(pairs: Sequence[int] | None, total: int, source: str) -> list[int]:
    """Validated pair indices (all pairs when None)."""
    if pairs is None:
        return list(range(total))
    chosen = [int(k) for k in pairs]
    bad = [k for k in chosen if not 0 <= k < total]
    if bad or not chosen or len(set(chosen)) != len(chosen):
        raise InputError(source, f"pair selection {list(pairs)} invalid: the source has pairs 0..{total - 1}")
    return chosen


class GeoTiffSource:
    """Windows of GeoTIFF rasters on one grid.

    Parameters
    ----------
    phase
        Wrapped (or unwrapped, told by the name or tags; re-wrapped) phase in rad: one file, a
        multi-band file (one band per pair) or a list of files (a stack, in pair order).
    coherence, amplitude
        Per-pair layers laid out like ``phase``, or one band shared by every pair. uint8
        coherence is scaled from 0-255 to [0, 1].
    dem
        One-band elevation (m).
    wavelength_m
        Radar wavelength (m); default the phase file's ``WAVELENGTH_METRES`` tag, else Sentinel-1.
    nodata
        A further value read as missing (the files' own nodata always is).
    pairs
        Indices of the pairs to scan (default all).
    """

    def __init__(
        self,
        phase: PathArg | Sequence[PathArg],
        coherence: PathArg | Sequence[PathArg] | None = None,
        amplitude: PathArg | Sequence[PathArg] | None = None,
        dem: PathArg | None = None,
        *,
        wavelength_m: float | None = None,
        nodata: float | None = None,
        pairs: Sequence[int] | None = None,
    ) -> None:
        # absolute paths: Dask workers may run in another directory
        paths = [Path(p).absolute() for p in ([phase] if isinstance(phase, str | PathLike) else phase)]
        if not paths:
            raise InputError("phase", "no phase file given")
        self.name = str(paths[0]) + (f" (+{len(paths) - 1} more)" if len(paths) > 1 else "")
        first = paths[0]
        self._headers: dict[Path, dict[str, Any]] = {}
        self._phase = self._bands(paths)
        grid = self._headers[first]
        self.shape: tuple[int, int] = grid["shape"]
        self.transform: Affine = grid["transform"]
        self.crs: Any = grid["crs"]
        total = len(self._phase)
        self._per_pair: dict[str, list[tuple[Path, int]]] = {}
        for what, given in (("coherence", coherence), ("amplitude", amplitude)):
            if given is None:
                continue
            bands = self._bands(
                [Path(given)] if isinstance(given, str | PathLike) else [Path(p) for p in given]
            )
            if len(bands) not in (1, total):
                raise InputError(given if isinstance(given, str | PathLike) else Path(given[0]),
                                 f"{what} has {len(bands)} band(s) for {total} phase pair(s)")  # fmt: skip
            self._per_pair[what] = bands
        self._dem = None
        if dem is not None:
            self._dem = self._bands([Path(dem)])
            if len(self._dem) != 1:
                raise InputError(dem, f"a DEM has one band, found {len(self._dem)}")
        for path, header in self._headers.items():
            if path != first:
                self._same_grid(path, header, grid, first)
        tags = grid["tags"]
        self.wavelength_m = float(wavelength_m or tags.get("WAVELENGTH_METRES", SENTINEL1_WAVELENGTH_M))
        self.nodata = nodata
        self.pixel_size_m = _pixel_size(self.transform, self.crs, self.shape[0])
        self._pairs = _select(pairs, total, self.name)
        self.n_pairs = len(self._pairs)
        self.pair_labels = [
            p.stem + (f":{b}" if self._headers[p]["count"] > 1 else "")
            for p, b in (self._phase[k] for k in self._pairs)
        ]

    def _bands(self, paths: list[Path]) -> list[tuple[Path, int]]:
        out: list[tuple[Path, int]] = []
        for path in (p.absolute() for p in paths):
            if not path.is_file():
                raise InputError(path, "file not found")
            try:
                with rasterio.open(path) as src:
                    self._headers[path] = {
                        "shape": (src.height, src.width), "transform": src.transform, "crs": src.crs,
                        "count": src.count, "dtype": src.dtypes[0], "tags": src.tags(),
                    }  # fmt: skip
                    damage = truncation(src, path)
            except (RasterioError, OSError) as err:
                raise InputError(path, f"not a readable raster ({gdal_reason(err)})") from err
            if damage is not None:
                raise InputError(path, f"corrupt or truncated GeoTIFF ({damage})")
            out.extend((path, b) for b in range(1, self._headers[path]["count"] + 1))
        return out

    @staticmethod
    def _same_grid(path: Path, header: dict[str, Any], grid: dict[str, Any], first: Path) -> None:
        if header["shape"] != grid["shape"]:
            (h, w), (h0, w0) = header["shape"], grid["shape"]
            raise InputError(path, f"grid shape {h} x {w} differs from {first.name} ({h0} x {w0})")
        t, t0 = header["transform"], grid["transform"]
        if not t.almost_equals(t0, precision=1e-9 * max(1.0, abs(t0.c), abs(t0.f))):
            raise InputError(path, f"transform {tuple(t)[:6]} differs from {first.name} ({tuple(t0)[:6]})")
        if header["crs"] != grid["crs"]:
            raise InputError(path, f"CRS {header['crs']} differs from {first.name} ({grid['crs']})")

    def _read(self, band: tuple[Path, int], window: Window) -> NDArray[np.float32]:
        path, index = band
        try:
            with rasterio.open(path) as src:
                data = src.read(index, window=window, masked=True)
        except (RasterioError, OSError) as err:
            raise InputError(path, f"corrupt or truncated GeoTIFF ({gdal_reason(err)})") from err
        values = np.ma.filled(data.astype(np.float32), np.nan)
        if self.nodata is not None:
            values[values == self.nodata] = np.nan
        if self._headers[path]["dtype"] == "uint8" and band in self._per_pair.get("coherence", []):
            values /= 255.0  # coherence stored as 0-255
        return values

    def read(
        self, row0: int, col0: int, height: int, width: int, pairs: Sequence[int] | None = None
    ) -> list[PairLayers]:
        """One :class:`PairLayers` per selected pair (or per ``pairs``) over the window."""
        window = Window(col0, row0, width, height)  # type: ignore[call-arg]
        dem = None if self._dem is None else self._read(self._dem[0], window)
        out = []
        for k in _select(pairs, self.n_pairs, self.name):
            index = self._pairs[k]
            band = self._phase[index]
            phase = self._read(band, window)
            path = band[0]
            layers = PairLayers(
                source=self.name, wrapped_phase=phase, pixel_size_m=self.pixel_size_m,
                wavelength_m=self.wavelength_m, dem=dem,
            )  # fmt: skip
            if infer_variable(path.name, self._headers[path]["tags"]) == "unwrapped_phase":
                layers.unwrapped_phase = phase
                layers.wrapped_phase = wrap(phase)
                layers.note("wrapped phase made by re-wrapping the unwrapped phase")
            for what, bands in self._per_pair.items():
                setattr(layers, what, self._read(bands[index if len(bands) > 1 else 0], window))
            out.append(layers)
        return out


MASK_LAYERS: dict[str, int] = {"valid": 0, "water": 1, "layover": 1}
"""Layers that rule pixels out, each with the value that does: outside ``valid``, inside ``water`` or ``layover``."""


def ruled_out(layer: str, values: NDArray[Any]) -> NDArray[np.bool_]:
    """Where the mask ``layer`` (a key of :data:`MASK_LAYERS`) rules pixels out; NaN rules nothing out."""
    bad = MASK_LAYERS[layer]
    return np.asarray(np.nan_to_num(values, nan=1 - bad) == bad)


_OPTIONAL = (
    "unwrapped_phase",
    "coherence",
    "amplitude",
    "los_displacement",
    "dem",
    "slope",
    "aspect",
    "incidence",
    "heading",
)


class DatasetSource:
    """Windows of a fringenet Dataset: one pair ``(y, x)`` or a stack ``(pair, y, x)``.

    Reads with ``isel``, so a dask-backed Dataset (e.g. from :func:`fringenet.io.open.open_product`)
    stays lazy and only each window's chunks are loaded. The phase is ``wrapped_phase``, or
    ``unwrapped_phase`` re-wrapped; coherence, amplitude, DEM and the other channel layers are
    used when present. Pixels outside ``valid`` or inside ``water``/``layover`` masks count as
    missing, as when the training patches were cut.
    """

    def __init__(
        self, ds: xr.Dataset, *, pairs: Sequence[int] | None = None, name: str | None = None
    ) -> None:
        self.name = name or str(ds.encoding.get("source", "dataset"))
        if "y" not in ds.dims or "x" not in ds.dims:
            raise InputError(self.name, f"expected dims (y, x) or (pair, y, x), found {tuple(ds.dims)}")
        if "wrapped_phase" in ds:
            self._phase = "wrapped_phase"
        elif "unwrapped_phase" in ds:
            self._phase = "unwrapped_phase"
        else:
            raise InputError(
                self.name, f"holds no interferometric phase (found {sorted(map(str, ds.data_vars))})"
            )
        self._ds = ds
        self.shape = (int(ds.sizes["y"]), int(ds.sizes["x"]))
        self.transform = ds.rio.transform()
        self.crs = ds.rio.crs
        self.wavelength_m = float(ds.attrs.get("wavelength_m", SENTINEL1_WAVELENGTH_M))
        self.pixel_size_m = pixel_size_m(ds)
        if (
            self.crs is None
            and np.isclose(abs(self.transform.a), 1.0)
            and np.isclose(abs(self.transform.e), 1.0)
        ):
            # radar geometry on its pixel grid: a step of 1 is a pixel, not a metre; channels needing
            # ground distances (slope, local incidence) get NaN unless the Dataset has those layers
            self.pixel_size_m = float("nan")
        total = int(ds.sizes[PAIR_DIM]) if PAIR_DIM in ds.dims else 1
        self._pairs = _select(pairs, total, self.name)
        self.n_pairs = len(self._pairs)
        labels = (
            [str(v) for v in ds[PAIR_DIM].values] if PAIR_DIM in ds.dims and PAIR_DIM in ds.coords else None
        )
        self.pair_labels = [labels[k] if labels else f"pair{k:03d}" for k in self._pairs]
        self.key_pair = -1
        """Index (among the selected pairs) of the pair of longest time span, for stack models."""
        if "reference_date" in ds.coords and PAIR_DIM in ds["reference_date"].dims:
            spans = ds["secondary_date"].values[self._pairs] - ds["reference_date"].values[self._pairs]
            self.key_pair = int(np.argmax(spans))

    def _values(self, sub: xr.Dataset, name: str, pair: int) -> NDArray[np.floating] | None:
        if name not in sub:
            return None
        da = sub[name]
        if PAIR_DIM in da.dims:
            da = da.isel({PAIR_DIM: pair})
        return np.asarray(da.transpose("y", "x").values, dtype=np.float32)

    def read(
        self, row0: int, col0: int, height: int, width: int, pairs: Sequence[int] | None = None
    ) -> list[PairLayers]:
        """One :class:`PairLayers` per selected pair (or per ``pairs``) over the window."""
        sub = self._ds.isel(y=slice(row0, row0 + height), x=slice(col0, col0 + width))
        out = []
        for k in _select(pairs, self.n_pairs, self.name):
            pair = self._pairs[k]
            phase = self._values(sub, self._phase, pair)
            assert phase is not None
            missing = np.zeros(phase.shape, dtype=bool)
            for mask in MASK_LAYERS:
                values = self._values(sub, mask, pair)
                if values is not None:
                    missing |= ruled_out(mask, values)
            phase[missing] = np.nan
            layers = PairLayers(self.name, phase, self.pixel_size_m, self.wavelength_m)
            for name in _OPTIONAL:
                setattr(layers, name, self._values(sub, name, pair))
            if self._phase == "unwrapped_phase":
                layers.wrapped_phase = wrap(phase)
                layers.note("wrapped phase made by re-wrapping the unwrapped phase")
            out.append(layers)
        return out


def _pixel_size(transform: Affine, crs: Any, height: int) -> float:
    """Mean ground pixel size (m); geographic grids converted at the scene's central latitude."""
    dx, dy = abs(transform.a), abs(transform.e)
    if crs is not None and crs.is_geographic:
        lat = transform.f + transform.e * height / 2.0
        dx *= EARTH_METRES_PER_DEGREE * np.cos(np.radians(lat))
        dy *= EARTH_METRES_PER_DEGREE
    return float((dx + dy) / 2.0)


class ArraySource:
    """An in-memory scene: wrapped phase ``(H, W)`` or ``(pair, H, W)`` (rad, NaN = missing) and optional
    coherence and DEM, on a pixel grid without georeferencing (radar geometry, benchmarks, tests).

    Exact zeros of the phase are no-data only when ``zero_is_nodata`` (as in LiCSAR/GAMMA products).
    """

    def __init__(
        self,
        wrapped_phase: NDArray[np.floating],
        *,
        pixel_size_m: float,
        wavelength_m: float = SENTINEL1_WAVELENGTH_M,
        coherence: NDArray[np.floating] | None = None,
        dem: NDArray[np.floating] | None = None,
        zero_is_nodata: bool = False,
        name: str = "array",
    ) -> None:
        phase = np.asarray(wrapped_phase, dtype=np.float32)
        phase = phase[None] if phase.ndim == 2 else phase
        if phase.ndim != 3:
            raise InputError(name, f"wrapped phase must be (H, W) or (pair, H, W), got shape {phase.shape}")
        if zero_is_nodata:
            phase = np.where(phase == 0, np.float32(np.nan), phase)
        self._phase = phase
        self._coherence = None
        if coherence is not None:
            coh = np.asarray(coherence, dtype=np.float32)
            coh = coh[None] if coh.ndim == 2 else coh
            if coh.shape[-2:] != phase.shape[-2:] or coh.shape[0] not in (1, phase.shape[0]):
                raise InputError(name, f"coherence {coh.shape} and phase {phase.shape} differ in shape")
            self._coherence = np.broadcast_to(coh, phase.shape)
        self._dem = None if dem is None else np.asarray(dem, dtype=np.float32)
        for what, layer in (("coherence", self._coherence), ("dem", self._dem)):
            if layer is not None and layer.shape[-2:] != phase.shape[-2:]:
                raise InputError(
                    name, f"{what} {layer.shape[-2:]} and phase {phase.shape[-2:]} differ in shape"
                )
        self.name = name
        self.shape = (int(phase.shape[1]), int(phase.shape[2]))
        self.transform = Affine(pixel_size_m, 0.0, 0.0, 0.0, -pixel_size_m, 0.0)
        self.crs = None
        self.n_pairs = int(phase.shape[0])
        self.pixel_size_m = float(pixel_size_m)
        self.wavelength_m = float(wavelength_m)
        self.key_pair = -1

    def read(
        self, row0: int, col0: int, height: int, width: int, pairs: Sequence[int] | None = None
    ) -> list[PairLayers]:
        """One :class:`PairLayers` per pair (or per ``pairs``) over the window."""
        rows, cols = slice(row0, row0 + height), slice(col0, col0 + width)
        out = []
        for k in _select(pairs, self.n_pairs, self.name):
            layers = PairLayers(
                self.name, self._phase[k, rows, cols].copy(), self.pixel_size_m, self.wavelength_m
            )
            if self._coherence is not None:
                layers.coherence = self._coherence[k, rows, cols].copy()
            if self._dem is not None:
                layers.dem = self._dem[rows, cols].copy()
            out.append(layers)
        return out
