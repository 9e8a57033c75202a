"""Scan a whole stack with a time-series (temporal) bundle: probability, detections and model velocity.

A temporal network reads every interferogram of a window at once (see
:mod:`fringenet.models.temporal`), so the scan cuts the *stack* into overlapping ``window`` x
``window`` tiles, assembles each tile's inputs with :func:`fringenet.data.sequences.stack_inputs`
(pairs in date order, terrain relative to the tile as in training), and blends the overlapping
predictions with the raised-cosine weights of :mod:`fringenet.detect.windows`. The network gives
two maps: the moving-area logit (probability after a sigmoid) and the mean LOS phase rate (rad/yr),
written as a velocity in m/yr, positive towards the satellite (docs/conventions.md).

The scan runs in-process (no Dask): one band of windows is read at a time (all pairs of that band),
and rows are written as soon as no later band overlaps them, so memory is one band of the stack
plus one batch. The pair network is checked once on the whole stack before any computation.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
import torch
import xarray as xr
from affine import Affine
from numpy.typing import NDArray
from rasterio.windows import Window
from torch import nn

from fringenet.conventions import SENTINEL1_WAVELENGTH_M, phase_to_displacement, wrap
from fringenet.data.sequences import (
    StackInputs,
    batch_inputs,
    check_dates,
    check_network,
    stack_inputs,
    terrain_inputs,
)
from fringenet.detect.scene import SceneScan, padding_note
from fringenet.detect.sources import MASK_LAYERS, ruled_out
from fringenet.detect.windows import BandBlender, blend_weights, check_window, window_origins
from fringenet.errors import InputError
from fringenet.io.atomic import atomic_path
from fringenet.io.schema import PAIR_DIM, pixel_size_m
from fringenet.models.bundle import BundleInfo, load_shared_bundle, read_bundle_info
from fringenet.models.device import select_device
from fringenet.models.spec import TemporalModelSpec

if TYPE_CHECKING:
    from fringenet.models.temporal import TemporalNet

TILE = 256
"""Output GeoTIFF block size (px); rows are written in whole block rows."""

BundleArg = str | PathLike[str] | tuple[nn.Module, BundleInfo]
F64 = NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class TemporalScan(SceneScan):
    """What :func:`scan_stack` wrote and measured: a :class:`SceneScan` plus the model's velocity map.

    ``n_windows`` counts windows of the scene (each sees every pair); ``n_pairs`` the stack's pairs.
    """

    velocity_path: Path


def resolve_temporal_bundle(bundle: BundleArg) -> tuple[TemporalNet, BundleInfo, TemporalModelSpec]:
    """The network (eval mode), its bundle info and spec; a clear error if the bundle is not temporal.

    ``bundle`` is a bundle folder, a run folder holding ``model/``, or a loaded ``(module, info)``.
    """
    if isinstance(bundle, tuple):
        net, info = bundle
        name = "model"
    else:
        path = Path(bundle)
        path = path / "model" if (path / "model" / "bundle.json").exists() else path
        info = read_bundle_info(path)  # no weights loaded before the task is known to fit
        name = str(path)
        net = None
    if info.task != "temporal" or not isinstance(info.model, TemporalModelSpec):
        raise InputError(
            name, f"is a {info.task} model, not a time-series (temporal) one; scan it with `detect`"
        )
    if net is None:
        net = load_shared_bundle(name)[0]
    from fringenet.models.temporal import TemporalNet  # timm: only for the time-series model

    if not isinstance(net, TemporalNet):
        raise InputError(name, f"the loaded network is a {type(net).__name__}, not a TemporalNet")
    net.eval()
    return net, info, info.model


def _date_days(values: Any) -> NDArray[np.int64]:
    return np.asarray(values).astype("datetime64[D]").astype(np.int64)


@dataclass
class PreparedStack:
    """A stack made ready for a temporal model: pairs in date order, network checked, terrain at hand.

    Build it with :func:`prepare_stack`. ``dem`` (m), ``slope`` and ``aspect`` (deg) are ``(H, W)``
    of the whole scene (slope/aspect derived from the DEM when absent) or None.
    """

    ds: xr.Dataset
    spec: TemporalModelSpec
    source: str
    phase_name: str
    reference_dates: NDArray[np.datetime64]
    secondary_dates: NDArray[np.datetime64]
    dem: F64 | None
    slope: F64 | None
    aspect: F64 | None
    wavelength_m: float
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.ds.sizes["y"]), int(self.ds.sizes["x"])

    @property
    def n_pairs(self) -> int:
        return int(self.reference_dates.size)

    @property
    def longest_pair(self) -> int:
        """Index (in date order) of the pair spanning the longest time."""
        return int(np.argmax(self.secondary_dates - self.reference_dates))

    def _layer(self, name: str, rows: slice, cols: slice) -> F64 | None:
        if name not in self.ds:
            return None
        da = self.ds[name].isel(y=rows, x=cols)
        da = da.transpose(PAIR_DIM, "y", "x") if PAIR_DIM in da.dims else da.transpose("y", "x")
        return np.asarray(da.values, dtype=np.float64)

    def read(self, row0: int, col0: int, height: int, width: int) -> tuple[F64, F64 | None]:
        """Wrapped phase (rad) and coherence (or None), each ``(P, height, width)``; NaN = missing.

        Pixels outside ``valid`` or inside ``water``/``layover`` masks are NaN, as in training.
        """
        rows, cols = slice(row0, row0 + height), slice(col0, col0 + width)
        phase = self._layer(self.phase_name, rows, cols)
        assert phase is not None
        if self.phase_name == "unwrapped_phase":
            phase = np.asarray(wrap(phase), dtype=np.float64)
        for mask in MASK_LAYERS:
            values = self._layer(mask, rows, cols)
            if values is not None:  # (y, x) masks broadcast over the pairs
                phase = np.where(ruled_out(mask, values), np.nan, phase)
        return phase, self._layer("coherence", rows, cols)

    def inputs(self, phase: F64, coherence: F64 | None, row0: int, col0: int) -> StackInputs:
        """The model's inputs for the tile of ``phase (P, h, w)`` whose top-left pixel is ``(row0, col0)``."""
        h, w = phase.shape[1:]
        rows, cols = slice(row0, row0 + h), slice(col0, col0 + w)

        def cut(a: F64 | None) -> F64 | None:
            return None if a is None else a[rows, cols]

        terrain = terrain_inputs(cut(self.dem), cut(self.slope), cut(self.aspect), (h, w))
        return stack_inputs(
            self.spec, phase, coherence, self.reference_dates, self.secondary_dates, terrain, self.source
        )


def prepare_stack(ds: xr.Dataset, spec: TemporalModelSpec, source: str | None = None) -> PreparedStack:
    """Check a stack Dataset against ``spec`` before any computation and put its pairs in date order.

    Raises
    ------
    InputError
        Not a stack with per-pair dates, no phase, too few pairs (or dates) for the model, a pair
        given twice or with its dates reversed, or a network that falls apart into groups.
    """
    name = source or str(ds.encoding.get("source", "stack"))
    if PAIR_DIM not in ds.dims:
        raise InputError(
            name, "the time-series model needs a stack of interferograms (pair, y, x); this is a single pair"
        )
    if "y" not in ds.dims or "x" not in ds.dims:
        raise InputError(name, f"expected dims (pair, y, x), found {tuple(ds.dims)}")
    if "reference_date" not in ds.coords or "secondary_date" not in ds.coords:
        raise InputError(name, "the stack has no reference/secondary dates per pair (the model needs them)")
    if "wrapped_phase" in ds:
        phase_name = "wrapped_phase"
        notes: list[str] = []
    elif "unwrapped_phase" in ds:
        phase_name = "unwrapped_phase"
        notes = ["wrapped phase made by re-wrapping the unwrapped phase"]
    else:
        raise InputError(name, f"holds no interferometric phase (found {sorted(map(str, ds.data_vars))})")
    ref_days = _date_days(ds["reference_date"].values)
    sec_days = _date_days(ds["secondary_date"].values)
    order = np.lexsort((sec_days, ref_days))
    if np.any(order != np.arange(order.size)):
        ds = ds.isel({PAIR_DIM: order})
        notes.append("pairs put in date order")
    ref = np.asarray(ds["reference_date"].values).astype("datetime64[D]")
    sec = np.asarray(ds["secondary_date"].values).astype("datetime64[D]")
    if spec.steps_are_dates:
        _, _, dates = check_network(ref, sec, name)
        check_dates(dates, name, min_dates=spec.min_steps)
    else:
        check_network(ref, sec, name, min_pairs=spec.min_steps)
    dem = slope = aspect = None
    if "dem" in ds:
        dem, slope, aspect = (_static(ds, n) for n in ("dem", "slope", "aspect"))
        if dem is not None and (slope is None or aspect is None):
            from fringenet.simulate.terrain import slope_aspect

            slope, aspect = (np.asarray(a, dtype=np.float64) for a in slope_aspect(dem, pixel_size_m(ds)))
    else:
        notes.append("no DEM: terrain context left empty")
    wavelength = ds.attrs.get("wavelength_m")
    if wavelength is None:
        wavelength = SENTINEL1_WAVELENGTH_M
        notes.append(f"no wavelength_m attribute: velocity assumes Sentinel-1 ({wavelength:.4f} m)")
    return PreparedStack(ds, spec, name, phase_name, ref, sec, dem, slope, aspect, float(wavelength), notes)


def _static(ds: xr.Dataset, name: str) -> F64 | None:
    if name not in ds:
        return None
    da = ds[name]
    if PAIR_DIM in da.dims:
        da = da.isel({PAIR_DIM: 0})
    return np.asarray(da.transpose("y", "x").values, dtype=np.float64)


@torch.no_grad()
def predict_stack(
    model: nn.Module, items: list[StackInputs], device: torch.device, *, bfloat16: bool = False
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Probability ``(B, H, W)`` in [0, 1] and mean LOS phase rate ``(B, H, W)`` (rad/yr) of a batch.

    ``bfloat16`` runs the forward pass under CPU bfloat16 autocast (ignored on other devices).
    """
    arrays = batch_inputs(items)
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in arrays.items()}
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16 and device.type == "cpu"):
        out = model(**tensors)
    probability = torch.sigmoid(out["logits"].float())[:, 0].cpu().numpy()
    rate = out["rate"].float()[:, 0].cpu().numpy()
    return probability.astype(np.float32), rate.astype(np.float32)


class _Writer:
    """``probability.tif``, ``detections.tif`` and ``velocity.tif`` filled top to bottom in block rows."""

    def __init__(
        self, paths: tuple[Path, Path, Path], shape: tuple[int, int], transform: Affine, crs: Any,
        threshold: float,
    ) -> None:  # fmt: skip
        height, width = shape
        tiled = height >= TILE and width >= TILE
        profile: dict[str, Any] = {
            "driver": "GTiff", "height": height, "width": width, "count": 1, "crs": crs,
            "transform": transform, "compress": "deflate", "zlevel": 1, "tiled": tiled,
            **({"blockxsize": TILE, "blockysize": TILE} if tiled else {}),
        }  # fmt: skip
        self.prob = rasterio.open(paths[0], "w", dtype="float32", nodata=np.nan, predictor=3, **profile)
        self.det = rasterio.open(paths[1], "w", dtype="uint8", predictor=2, **profile)
        self.vel = rasterio.open(paths[2], "w", dtype="float32", nodata=np.nan, predictor=3, **profile)
        self.prob.update_tags(FRINGENET_VARIABLE="probability", UNITS="1", THRESHOLD=repr(threshold))
        self.det.update_tags(FRINGENET_VARIABLE="detections", UNITS="1", THRESHOLD=repr(threshold))
        self.vel.update_tags(
            FRINGENET_VARIABLE="model_velocity",
            UNITS="m/yr",
            CONVENTION="LOS, positive towards the satellite",
        )
        self.threshold, self.width, self.start, self.n_valid = threshold, width, 0, 0
        self.pending: list[tuple[NDArray[np.float32], NDArray[np.float32]]] = []

    def add(self, prob: NDArray[np.float32], vel: NDArray[np.float32], last: bool = False) -> None:
        self.pending.append((prob, vel))
        end = self.start + sum(len(p) for p, _ in self.pending)
        cut = end if last else end // TILE * TILE
        if cut <= self.start:
            return
        p_all = np.concatenate([p for p, _ in self.pending])
        v_all = np.concatenate([v for _, v in self.pending])
        n = cut - self.start
        window = Window(0, self.start, self.width, n)  # type: ignore[call-arg]
        self.prob.write(p_all[:n], 1, window=window)
        self.det.write((p_all[:n] >= self.threshold).astype(np.uint8), 1, window=window)
        self.vel.write(v_all[:n], 1, window=window)
        self.n_valid += int(np.isfinite(p_all[:n]).sum())
        self.pending = [(p_all[n:], v_all[n:])] if len(p_all) > n else []
        self.start = cut

    def close(self) -> None:
        for dst in (self.prob, self.det, self.vel):
            dst.close()


def check_scene_window(stack: PreparedStack, window: int, overlap: int) -> None:
    """Raise :class:`InputError` unless ``window`` fits the scene and is a multiple of the model's tile
    (for one exact window, as ``explain`` reads; a scan pads and rounds instead, see :func:`scene_window`)."""
    check_window(window, overlap)
    height, width = stack.shape
    if height < window or width < window:
        raise InputError(stack.source, f"scene {height} x {width} px is smaller than one {window} px window; "
                         f"use a smaller --window (at most {min(height, width)})")  # fmt: skip
    tile = stack.spec.patch
    if window % tile:
        raise InputError("window", f"window {window} px is not a multiple of the model's {tile} px tile")


def scene_window(stack: PreparedStack, window: int, overlap: int, notes: list[str]) -> int:
    """``window`` rounded to the nearest multiple of the model's tile (the network cuts a window into
    tiles), with a note when it changes; then checked against ``overlap``."""
    tile = stack.spec.patch
    rounded = max(-(-16 // tile), (window + tile // 2) // tile) * tile  # at least 16 px (check_window)
    if rounded != window:
        notes.append(
            f"window {window} px rounded to {rounded} px, the nearest multiple of the model's {tile} px tile"
        )
    check_window(rounded, overlap)
    return rounded


def _extend(coord: NDArray[Any], pad: int) -> NDArray[Any]:
    """A regular coordinate continued ``pad`` steps past its end."""
    if pad == 0:
        return coord
    step = coord[1] - coord[0] if coord.size > 1 else 1
    return np.concatenate([coord, coord[-1] + step * np.arange(1, pad + 1)])


def pad_stack(stack: PreparedStack, window: int) -> PreparedStack:
    """``stack`` padded with no-data (NaN phase, coherence and terrain) on the bottom/right to at least
    ``window`` px per side, so a scene smaller than one window is scanned by one; lazy like the stack."""
    height, width = stack.shape
    pad_y, pad_x = max(0, window - height), max(0, window - width)
    if not pad_y and not pad_x:
        return stack
    ds = stack.ds.pad(y=(0, pad_y), x=(0, pad_x))
    for dim, pad in (("y", pad_y), ("x", pad_x)):
        if dim in stack.ds.coords:
            ds = ds.assign_coords({dim: _extend(np.asarray(stack.ds[dim].values), pad)})

    def grow(a: F64 | None) -> F64 | None:
        return None if a is None else np.pad(a, ((0, pad_y), (0, pad_x)), constant_values=np.nan)

    return replace(stack, ds=ds, dem=grow(stack.dem), slope=grow(stack.slope), aspect=grow(stack.aspect))


def _band_windows(
    stack: PreparedStack, row0: int, window: int, cols: list[int]
) -> Iterator[tuple[int, StackInputs]]:
    """``(col0, inputs)`` of each window of the band at ``row0`` with at least one valid pixel."""
    phase, coherence = stack.read(row0, 0, window, stack.shape[1])
    for col0 in cols:
        sub = phase[:, :, col0 : col0 + window]
        if not np.isfinite(sub).any():
            continue  # nothing to predict; also makes all-NaN scenes cheap to reject
        coh = None if coherence is None else coherence[:, :, col0 : col0 + window]
        yield col0, stack.inputs(sub, coh, row0, col0)


def _scan_band(
    net: nn.Module, stack: PreparedStack, row0: int, weights: F64, cols: list[int], batch_size: int,
    device: torch.device, bfloat16: bool, notes: list[str],
) -> tuple[F64, F64, F64]:  # fmt: skip
    """``sum(w p)``, ``sum(w v)`` and ``sum(w)``, each ``(window, W)``, of the band at ``row0`` (v in m/yr).

    Inputs are built lazily, one batch at a time, so a wide scene never holds a band's inputs at once.
    """
    window = weights.shape[0]
    prob_sum, vel_sum, weight_sum = (np.zeros((window, stack.shape[1])) for _ in range(3))

    def flush(batch: list[tuple[int, StackInputs]]) -> None:
        probs, rates = predict_stack(net, [i for _, i in batch], device, bfloat16=bfloat16)
        for (col0, inputs), p, r in zip(batch, probs, rates, strict=True):
            notes.extend(n for n in inputs.notes if n not in notes)
            w = weights * inputs.valid
            cols_ = slice(col0, col0 + window)
            prob_sum[:, cols_] += w * p
            vel_sum[:, cols_] += w * phase_to_displacement(r, stack.wavelength_m)
            weight_sum[:, cols_] += w

    batch: list[tuple[int, StackInputs]] = []
    for item in _band_windows(stack, row0, window, cols):
        batch.append(item)
        if len(batch) == batch_size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    return prob_sum, vel_sum, weight_sum


def scan_stack(
    bundle: BundleArg,
    ds: xr.Dataset | PreparedStack,
    out_dir: str | PathLike[str],
    *,
    window: int | None = None,
    overlap: int = 16,
    batch_size: int = 4,
    device: str | torch.device | None = None,
    bfloat16: bool = False,
    progress: bool = False,
) -> TemporalScan:
    """Write ``probability.tif`` (float32 in [0, 1], NaN = no valid input), ``detections.tif`` (uint8,
    probability >= the bundle's threshold) and ``velocity.tif`` (float32 model LOS velocity, m/yr,
    positive towards the satellite) of a whole stack to ``out_dir``, each atomically.

    Runs in-process (no Dask client): a temporal window needs every pair at once, so bands of the
    stack are read and predicted one after the other.

    Parameters
    ----------
    bundle
        Temporal bundle folder (or a run folder holding ``model/``), or a loaded ``(module, BundleInfo)``.
    ds
        Stack Dataset ``(pair, y, x)`` with ``reference_date``/``secondary_date`` per pair and
        ``wrapped_phase`` (or ``unwrapped_phase``, re-wrapped); optional ``coherence``, ``dem``,
        ``slope``, ``aspect``, ``valid``/``water``/``layover`` masks and ``attrs["wavelength_m"]``;
        or the :class:`PreparedStack` a caller already checked with :func:`prepare_stack`.
    window, overlap
        Window side (px; default the bundle's patch size; rounded to the nearest multiple of the
        model's tile, with a note) and the overlap between windows (px). A scene smaller than one
        window is padded with no-data (:func:`pad_stack`); the outputs keep the scene's size.
    batch_size
        Windows per forward pass.
    device
        ``"auto"``/None picks CUDA, MPS or CPU.
    bfloat16
        CPU bfloat16 autocast.
    progress
        Show a progress bar over bands.

    Raises
    ------
    InputError
        Before scanning: not a temporal bundle, not a stack, a bad pair network (too few pairs or
        dates, repeated pairs, disconnected), or an overlap too large for the window. After it: no valid
        pixel at all. No output file is left on any error.
    """
    from tqdm import tqdm

    start = time.perf_counter()
    net, info, spec = resolve_temporal_bundle(bundle)
    stack = ds if isinstance(ds, PreparedStack) else prepare_stack(ds, spec)
    notes = list(stack.notes)
    window = scene_window(stack, window or info.patch_size, overlap, notes)
    height, width = stack.shape
    grid = (stack.shape, stack.ds.rio.transform(), stack.ds.rio.crs)  # the outputs': the scene's own
    if height < window or width < window:  # padded with no-data, which the windows give no weight
        stack = pad_stack(stack, window)
        notes.append(padding_note((height, width), window, stack.shape))
    rows, cols = (
        window_origins(stack.shape[0], window, overlap),
        window_origins(stack.shape[1], window, overlap),
    )
    dev = device if isinstance(device, torch.device) else select_device(device or "auto")
    net = net.to(dev)
    weights = blend_weights(window, overlap).astype(np.float64)
    out = Path(out_dir)
    paths = out / "probability.tif", out / "detections.tif", out / "velocity.tif"
    with ExitStack() as es:
        tmps = tuple(es.enter_context(atomic_path(p)) for p in paths)
        writer = _Writer((tmps[0], tmps[1], tmps[2]), *grid, info.threshold)
        es.callback(writer.close)
        prob_blend = BandBlender(rows, window, *stack.shape)
        vel_blend = BandBlender(rows, window, *stack.shape)
        written = 0
        for k, row0 in enumerate(tqdm(rows, desc="bands", disable=not progress, leave=False)):
            prob_sum, vel_sum, weight = _scan_band(
                net, stack, row0, weights, cols, batch_size, dev, bfloat16, notes
            )
            keep = slice(0, height - written), slice(0, width)
            prob = prob_blend.add(row0, prob_sum, weight)[keep]
            writer.add(prob, vel_blend.add(row0, vel_sum, weight)[keep], last=k == len(rows) - 1)
            written += len(prob)
        if writer.n_valid == 0:
            raise InputError(stack.source, "no valid pixel: the phase is all no-data/NaN")
    seconds = time.perf_counter() - start
    return TemporalScan(
        paths[0], paths[1], (height, width), len(rows) * len(cols), stack.n_pairs, window, overlap,
        info.threshold, seconds, height * width / 1e6 / seconds, notes, velocity_path=paths[2],
    )  # fmt: skip
