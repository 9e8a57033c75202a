"""Scan a whole scene with a segmentation bundle: overlapping windows, blended, written band by band.

The scene is processed in *bands*, one row of windows each. A band reads its rows (plus a small halo
so neighbourhood channels such as the phase-estimated coherence see context), derives the model's
channels exactly as the training patches were made (patch-median for relative channels over valid
pixels, bundle normalisation, invalid pixels zeroed), predicts its windows in batches and returns
``sum(w * p)`` and ``sum(w)`` over its rows. The driver adds bands in order and writes each row as
soon as no later band can touch it, so memory is one band plus one batch, never the scene. With a
Dask client each band is one task; workers load the bundle once per process.

A stack's probability is the mean over the scanned pairs of each pair's probability: atmosphere
differs between pairs, a deforming target does not.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from queue import Empty, Full, Queue
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
import torch
from numpy.typing import NDArray
from rasterio.windows import Window
from torch import nn

from fringenet.data.channels import PairLayers, derive_channels, make_relative, merge_pairs, uses_stack
from fringenet.data.normalise import normalise
from fringenet.detect.sources import WindowSource
from fringenet.detect.windows import BandBlender, blend_weights, check_window, window_origins
from fringenet.errors import InputError
from fringenet.io.atomic import atomic_path
from fringenet.models.bundle import WEIGHTS, BundleInfo, load_shared_bundle, read_bundle_info
from fringenet.models.compiled import load_for_inference
from fringenet.models.device import select_device
from fringenet.models.predict import predict_probabilities

if TYPE_CHECKING:
    from distributed import Client

HALO = 8
"""Rows read beyond each band so windowed neighbourhood filters (coherence estimate, slope) see context."""
TILE = 256
"""Output GeoTIFF block size (px); rows are written in whole block rows."""

ModelArg = str | PathLike[str] | tuple[nn.Module, BundleInfo]


@dataclass(frozen=True)
class SceneScan:
    """What :func:`scan_scene` wrote and measured. ``n_windows`` counts windows per pair."""

    probability_path: Path
    detections_path: Path
    shape: tuple[int, int]
    n_windows: int
    n_pairs: int
    window: int
    overlap: int
    threshold: float
    seconds: float
    megapixels_per_s: float
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BandSettings:
    """Everything a band task needs besides the model and the source (picklable)."""

    channels: tuple[str, ...]
    normalisation: dict[str, dict[str, float]]
    window: int
    overlap: int
    cols: tuple[int, ...]
    batch_size: int
    device: str
    torch_threads: int | None = None
    bfloat16: bool = False


@dataclass
class BandResult:
    """``sum(w p)`` and ``sum(w)`` (``(window, W)`` float64) of the band starting at ``row0``."""

    row0: int
    weighted: NDArray[np.float64]
    weight: NDArray[np.float64]
    notes: list[str]
    error: tuple[str | None, str] | None = None  # an InputError raised on a worker, re-raised by the driver


def _stack_model(channels: Sequence[str]) -> bool:
    """Whether the model reads a whole stack as one input (phase-gradient stacking channels)."""
    return uses_stack(channels)


def _inputs(source: WindowSource, row0: int, height: int, stack: bool) -> Iterator[tuple[PairLayers, int]]:
    """Layers of each pair over rows ``[row0, row0 + height)`` plus halo, and the halo's height on top."""
    top = max(0, row0 - HALO)
    bottom = min(source.shape[0], row0 + height + HALO)
    width = source.shape[1]
    if not stack:
        for k in range(source.n_pairs):
            yield source.read(top, 0, bottom - top, width, pairs=[k])[0], row0 - top
        return
    pairs = source.read(top, 0, bottom - top, width)
    yield merge_pairs(pairs, key_pair=getattr(source, "key_pair", -1)), row0 - top


def _windows(
    source: WindowSource, row0: int, settings: BandSettings, notes: list[str]
) -> Iterator[tuple[int, NDArray[np.float32], NDArray[np.bool_]]]:
    """``(col0, normalised image (C, win, win), valid (win, win))`` of each band window with valid pixels."""
    win = settings.window
    for layers, offset in _inputs(source, row0, win, _stack_model(settings.channels)):
        image = derive_channels(layers, settings.channels)[:, offset : offset + win]
        valid = np.isfinite(np.asarray(layers.wrapped_phase)[offset : offset + win])
        valid &= np.all(np.isfinite(image), axis=0)
        notes.extend(n for n in layers.notes if n not in notes)
        for col0 in settings.cols:
            ok = valid[:, col0 : col0 + win]
            if not ok.any():
                continue  # nothing to predict; also makes all-NaN scenes cheap to reject
            patch = image[:, :, col0 : col0 + win].copy()
            make_relative(patch, ok, settings.channels)
            yield col0, normalise(patch, ok, settings.normalisation, settings.channels), ok


_BandItem = tuple[int, tuple[int, NDArray[np.float32], NDArray[np.bool_]] | list[str]]
"""``(row0, (col0, image, valid))`` for a window, ``(row0, notes)`` when band ``row0`` has no more."""


def _band_stream(source: WindowSource, rows: Sequence[int], settings: BandSettings) -> Iterator[_BandItem]:
    """The windows of each band in ``rows``, in order, each band closed by its notes."""
    for row0 in rows:
        notes: list[str] = []
        for item in _windows(source, row0, settings, notes):
            yield row0, item
        yield row0, notes


def _prefetched(items: Iterator[_BandItem], depth: int) -> Iterator[_BandItem]:
    """``items`` computed on a thread ``depth`` ahead of the consumer.

    Deriving channels (NumPy/SciPy) and the forward passes (torch, which releases the GIL) then overlap
    instead of taking turns; the items and their order are the same. An error on the thread is raised
    here, at the item where it happened; closing this generator stops the thread.
    """
    end = object()
    queue: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        queue.put((item, None), timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put((end, None))
        except BaseException as err:  # re-raised on the consumer's side
            queue.put((end, err))

    thread = threading.Thread(target=produce, name="fringenet-band-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, err = queue.get()
            if item is end:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            with suppress(Empty):
                queue.get(timeout=0.1)
        thread.join()


def predict_bands(
    model: nn.Module, items: Iterator[_BandItem], settings: BandSettings, width: int
) -> Iterator[BandResult]:
    """Blend the predictions of every window (and pair) of each band of ``items`` into one result per band."""
    win = settings.window
    weights = blend_weights(win, settings.overlap).astype(np.float64)
    device = torch.device(settings.device)
    weighted, weight = np.zeros((win, width)), np.zeros((win, width))
    batch: list[tuple[int, NDArray[np.float32], NDArray[np.bool_]]] = []

    def flush() -> None:
        probs = predict_probabilities(
            model,
            np.stack([b[1] for b in batch]),
            batch_size=len(batch),
            device=device,
            bfloat16=settings.bfloat16,
        )
        for (col0, _, ok), p in zip(batch, probs, strict=True):
            w = weights * ok
            weighted[:, col0 : col0 + win] += w * p
            weight[:, col0 : col0 + win] += w
        batch.clear()

    try:
        for row0, item in items:
            if isinstance(item, list):  # the band is complete
                if batch:
                    flush()
                yield BandResult(row0, weighted, weight, item)
                weighted, weight = np.zeros((win, width)), np.zeros((win, width))
                continue
            batch.append(item)
            if len(batch) == settings.batch_size:
                flush()
    finally:
        getattr(items, "close", lambda: None)()  # stops a prefetching thread when the scan ends early


def scan_bands(
    model: nn.Module,
    source: WindowSource,
    rows: Sequence[int],
    settings: BandSettings,
    *,
    prefetch: bool = True,
) -> Iterator[BandResult]:
    """:class:`BandResult` of each band in ``rows``, in order; with ``prefetch`` the next windows' channels
    are derived on a thread while the network runs on the current ones (the results are the same)."""
    items = _band_stream(source, rows, settings)
    if prefetch:
        items = _prefetched(items, depth=2 * settings.batch_size)
    return predict_bands(model, items, settings, source.shape[1])


def scan_band(model: nn.Module, source: WindowSource, row0: int, settings: BandSettings) -> BandResult:
    """Blend the predictions of every window (and pair) of the band starting at ``row0``."""
    return next(scan_bands(model, source, [row0], settings, prefetch=False))


_MODELS: dict[tuple[str, str, int], nn.Module] = {}


def worker_model(bundle: str, device: str) -> nn.Module:
    """The bundle's network on ``device``, loaded once per process (keyed by path and weights' mtime)."""
    path = Path(bundle).resolve()
    weights = path / WEIGHTS
    key = (str(path), device, weights.stat().st_mtime_ns if weights.exists() else 0)
    if key not in _MODELS:
        _MODELS[key] = load_for_inference(path)[0].to(torch.device(device))
    return _MODELS[key]


def band_task(bundle: str, source: WindowSource, row0: int, settings: BandSettings) -> BandResult:
    """One band on a Dask worker."""
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    try:
        return scan_band(worker_model(bundle, settings.device), source, row0, settings)
    except InputError as err:  # travels as data: InputError's two-argument init does not unpickle
        empty = np.zeros((0, 0))
        return BandResult(row0, empty, empty, [], (err.source, err.problem))


class _Writer:
    """``probability.tif`` and ``detections.tif`` filled top to bottom in whole block rows."""

    def __init__(self, prob: Path, det: Path, source: WindowSource, threshold: float) -> None:
        height, width = source.shape
        tiled = height >= TILE and width >= TILE
        # deflate level 1: about 4x faster than GDAL's default level on probabilities, 5 % larger
        profile: dict[str, Any] = {
            "driver": "GTiff", "height": height, "width": width, "count": 1, "crs": source.crs,
            "transform": source.transform, "compress": "deflate", "zlevel": 1, "tiled": tiled,
            **({"blockxsize": TILE, "blockysize": TILE} if tiled else {}),
        }  # fmt: skip
        self.prob = rasterio.open(prob, "w", dtype="float32", nodata=np.nan, predictor=3, **profile)
        self.det = rasterio.open(det, "w", dtype="uint8", predictor=2, **profile)
        self.prob.update_tags(FRINGENET_VARIABLE="probability", UNITS="1", THRESHOLD=repr(threshold))
        self.det.update_tags(FRINGENET_VARIABLE="detections", UNITS="1", THRESHOLD=repr(threshold))
        self.threshold, self.width, self.start, self.n_valid = threshold, width, 0, 0
        self.pending: list[NDArray[np.float32]] = []

    def add(self, rows: NDArray[np.float32], last: bool = False) -> None:
        self.pending.append(rows)
        end = self.start + sum(len(p) for p in self.pending)
        cut = end if last else end // TILE * TILE
        if cut > self.start:
            data = np.concatenate(self.pending)
            block, rest = data[: cut - self.start], data[cut - self.start :]
            window = Window(0, self.start, self.width, len(block))  # type: ignore[call-arg]
            self.prob.write(block, 1, window=window)
            self.det.write((block >= self.threshold).astype(np.uint8), 1, window=window)
            self.n_valid += int(np.isfinite(block).sum())
            self.pending, self.start = ([rest] if len(rest) else []), cut

    def close(self) -> None:
        self.prob.close()
        self.det.close()


def _cluster_bands(
    client: Client, bundle: Path, source: WindowSource, rows: list[int], settings: BandSettings
) -> Iterator[BandResult]:
    """Band results in row order, computed as Dask tasks; at most two per worker in flight (or finished
    and waiting for an earlier band), which bounds the driver's and the workers' memory."""
    remote = client.scatter(source, broadcast=True, hash=False)
    path = str(bundle.absolute())
    limit = max(2, 2 * len(client.nthreads()))
    todo, running = iter(rows), deque[Any]()
    try:
        while True:
            while len(running) < limit and (row0 := next(todo, None)) is not None:
                running.append(client.submit(band_task, path, remote, row0, settings, pure=False))
            if not running:
                return
            future = running.popleft()
            band = future.result()
            future.release()
            yield band
    finally:
        client.cancel(list(running))


def _resolve(model: ModelArg) -> tuple[Path | None, nn.Module | None, BundleInfo]:
    if isinstance(model, tuple):
        return None, model[0], model[1]
    path = Path(model)
    path = path / "model" if (path / "model" / "bundle.json").exists() else path
    return path, None, read_bundle_info(path)


def scan_scene(
    model: ModelArg,
    source: WindowSource,
    out_dir: str | PathLike[str],
    *,
    window: int | None = None,
    overlap: int = 32,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    client: Client | None = None,
    worker_threads: int | None = None,
    bfloat16: bool = False,
    progress: bool = False,
    progress_label: str = "bands",
) -> SceneScan:
    """Write ``out_dir/probability.tif`` (float32 in [0, 1], NaN = no valid input) and ``detections.tif``
    (uint8, probability >= the bundle's threshold) for a whole scene, both atomically.

    Parameters
    ----------
    model
        Bundle folder (or a run folder holding ``model/``), or a loaded ``(module, BundleInfo)``
        (local scans only; the module is moved to ``device``).
    source
        The scene (:class:`~fringenet.detect.sources.GeoTiffSource`, ``DatasetSource``).
    window, overlap
        Window side (px; default the bundle's patch size) and overlap between windows (px).
    batch_size
        Windows per forward pass.
    device
        ``"auto"``/None picks CUDA, MPS or CPU.
    client
        A Dask ``distributed.Client`` (see :func:`connect`): bands run as tasks on its workers,
        which must read ``model`` and the source's files at the same paths.
    worker_threads
        torch threads per worker task (None: the worker's setting, 1 under Dask's defaults).
    progress, progress_label
        Show a progress bar over bands (on stderr, gone when the scan ends), labelled so.

    Raises
    ------
    InputError
        Before scanning: a channel the model needs cannot be derived from the source. After it
        (windows without valid pixels are skipped, so this costs one read of the phase): no valid
        pixel at all. No output file is left on any error.

    A scene smaller than one window is padded with no-data on the bottom/right (those pixels get no
    weight) and scanned in one window per short axis; the outputs keep the scene's size, with a note.
    """
    from tqdm import tqdm

    start = time.perf_counter()
    bundle, net, info = _resolve(model)
    window = window or info.default_window
    check_window(window, overlap)
    height, width = source.shape
    if client is not None and bundle is None:
        raise InputError("model", "a Dask scan needs the bundle path (workers load it), not a loaded model")
    notes: list[str] = []
    check_channels(info, source)
    scanned: WindowSource = source
    if height < window or width < window:  # padded with no-data, which the windows give no weight
        scanned = PaddedSource(source, window)
        notes.append(padding_note((height, width), window, scanned.shape))
    rows = window_origins(scanned.shape[0], window, overlap)
    cols = window_origins(scanned.shape[1], window, overlap)
    dev = device if isinstance(device, torch.device) else select_device(device or "auto")
    settings = BandSettings(
        tuple(info.channels), info.normalisation, window, overlap, tuple(cols), batch_size, str(dev),
        worker_threads, bfloat16,
    )  # fmt: skip
    if client is None:
        net = net if net is not None else load_shared_bundle(bundle)[0]  # type: ignore[arg-type]
        net = net.to(dev)
        bands: Iterator[BandResult] = scan_bands(net, scanned, rows, settings)
    else:
        bands = _cluster_bands(client, bundle, scanned, rows, settings)  # type: ignore[arg-type]
    out = Path(out_dir)
    paths = out / "probability.tif", out / "detections.tif"
    with ExitStack() as stack:
        prob_tmp, det_tmp = (stack.enter_context(atomic_path(p)) for p in paths)
        writer = _Writer(prob_tmp, det_tmp, source, info.threshold)
        stack.callback(writer.close)
        stack.callback(getattr(bands, "close", lambda: None))  # cancels outstanding Dask tasks on error
        blender = BandBlender(rows, window, *scanned.shape)
        written = 0
        bars = tqdm(bands, total=len(rows), desc=progress_label, disable=not progress, leave=False)
        for k, band in enumerate(bars):
            if band.error is not None:
                raise InputError(*band.error)
            notes.extend(n for n in band.notes if n not in notes)
            done = blender.add(band.row0, band.weighted, band.weight)[: height - written, :width]
            written += len(done)
            writer.add(done, last=k == len(rows) - 1)
        if writer.n_valid == 0:
            raise InputError(source.name, "no valid pixel: the phase is all no-data/NaN")
    seconds = time.perf_counter() - start
    return SceneScan(
        paths[0], paths[1], (height, width), len(rows) * len(cols), source.n_pairs, window, overlap,
        info.threshold, seconds, height * width / 1e6 / seconds, notes,
    )  # fmt: skip


def check_channels(info: BundleInfo, source: WindowSource) -> None:
    """Refuse ``source`` when a channel of the model cannot be derived from it (one read of its top rows).

    :func:`scan_scene` checks this first; a call scanning many products checks every one before any scan.
    """
    for layers, _ in _inputs(source, 0, min(32, source.shape[0]), _stack_model(info.channels)):
        derive_channels(layers, info.channels)  # a missing layer fails here, naming the source
        break


def connect(scheduler: str | None = None, n_workers: int = 2, *, timeout_s: float = 10.0) -> Client:
    """A Dask client: a new LocalCluster (``n_workers`` processes, one thread each, no dashboard)
    when ``scheduler`` is None, else the scheduler at ``scheduler`` (``tcp://HOST:PORT``).

    The LocalCluster is quiet: its scheduler's HTTP server (kept for health checks) takes a free port, so
    a busy 8787 gives no "Port 8787 is already in use" warning, and Dask's logs below ERROR (cancelled
    tasks, closed comms at shutdown) stay out of stderr, in this process and in the workers', until it
    closes.
    """
    import logging

    from distributed import Client

    if scheduler is None:
        return Client(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
            scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.ERROR, set_as_default=False,
        )  # fmt: skip
    try:
        return Client(scheduler, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise InputError(
            scheduler, f"no Dask scheduler answers at {scheduler} (timeout {timeout_s:g} s)"
        ) from err


def padding_note(shape: tuple[int, int], window: int, padded: tuple[int, int]) -> str:
    """The note of a scene padded to ``padded`` because it is smaller than one ``window``."""
    return (
        f"scene {shape[0]} x {shape[1]} px is smaller than the {window} px window: padded with no-data "
        f"to {padded[0]} x {padded[1]} px for the model (outputs keep {shape[0]} x {shape[1]} px)"
    )


class PaddedSource:
    """A source padded with no-data on the bottom/right to at least ``size`` px per side.

    Every layer of the pairs read is padded: float rasters with NaN, masks (``valid``) with False;
    scalar layers (a constant incidence or heading) stay as they are. A window over the padding has no
    valid pixel there, so the blending gives it no weight. Picklable as the source it wraps.
    """

    def __init__(self, source: WindowSource, size: int) -> None:
        self._source = source
        self.name, self.transform, self.crs, self.n_pairs = (
            source.name,
            source.transform,
            source.crs,
            source.n_pairs,
        )
        self.key_pair = getattr(source, "key_pair", -1)
        self.shape = (max(size, source.shape[0]), max(size, source.shape[1]))

    def read(
        self, row0: int, col0: int, height: int, width: int, pairs: Sequence[int] | None = None
    ) -> list[Any]:
        h, w = self._source.shape
        inner_h, inner_w = max(0, min(height, h - row0)), max(0, min(width, w - col0))
        if inner_h == height and inner_w == width:
            return self._source.read(row0, col0, height, width, pairs)
        read_h, read_w = max(inner_h, 1), max(inner_w, 1)  # a window wholly in the padding reads 1 px
        out = []
        for layers in self._source.read(min(row0, h - 1), min(col0, w - 1), read_h, read_w, pairs):
            for name in _RASTER_LAYERS:
                value = getattr(layers, name)
                if value is None or np.ndim(value) != 2:
                    continue
                value = np.asarray(value)
                mask = value.dtype == np.bool_
                full: NDArray[Any] = np.full(
                    (height, width), False if mask else np.nan, np.bool_ if mask else np.float32
                )
                full[:inner_h, :inner_w] = value[:inner_h, :inner_w]
                setattr(layers, name, full)
            out.append(layers)
        return out


_RASTER_LAYERS = (
    "wrapped_phase", "coherence", "amplitude", "unwrapped_phase", "los_displacement", "dem", "slope",
    "aspect", "incidence", "heading", "valid",
)  # fmt: skip
"""The ``(H, W)`` layers of :class:`~fringenet.data.channels.PairLayers` a padded read pads."""


def predict_scene(
    model: ModelArg,
    source: WindowSource,
    *,
    window: int | None = None,
    overlap: int = 32,
    batch_size: int = 8,
    device: str | torch.device | None = None,
) -> NDArray[np.float32]:
    """Deformation probability ``(H, W)`` float32 of a whole scene held in memory (NaN = no valid input).

    The same windows, channels and blending as :func:`scan_scene`, without files: for benchmarks,
    notebooks and scenes smaller than a window, which are padded with no-data rather than refused.
    """
    bundle, net, info = _resolve(model)
    window = window or info.default_window
    height, width = source.shape
    if height < window or width < window:
        source = PaddedSource(source, window)
    overlap = min(overlap, window // 2 - 1) if overlap >= window // 2 else overlap
    check_window(window, overlap)
    padded_h, padded_w = source.shape
    rows, cols = window_origins(padded_h, window, overlap), window_origins(padded_w, window, overlap)
    dev = device if isinstance(device, torch.device) else select_device(device or "auto")
    settings = BandSettings(
        tuple(info.channels), info.normalisation, window, overlap, tuple(cols), batch_size, str(dev)
    )
    net = (net if net is not None else load_for_inference(bundle)[0]).to(dev)  # type: ignore[arg-type]
    blender = BandBlender(rows, window, padded_h, padded_w)
    parts = [blender.add(b.row0, *_band_sums(b)) for b in scan_bands(net, source, rows, settings)]
    return np.concatenate(parts)[:height, :width]


def _band_sums(band: BandResult) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    return band.weighted, band.weight
