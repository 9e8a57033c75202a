"""Stage runners of ``fringenet detect`` and ``fringenet monitor``: the detection-first chain.

``monitor`` scans a whole stack (Mask Net for unusable phase, the detector for deformation), turns
the detections into target polygons, and only then spends the expensive work on small crops around
each target: unwrapping, referencing to the target's own stable surroundings, SBAS inversion. The
targets with their velocities go into an inventory that accumulates across runs, the time series
into ``targets/``, and everything into a self-contained HTML report. ``detect`` is the first half.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import xarray as xr
from affine import Affine
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator

from fringenet.conventions import wrap
from fringenet.errors import InputError
from fringenet.io.atomic import atomic_path
from fringenet.io.schema import PAIR_DIM, is_stack, pixel_size_m, wavelength_of
from fringenet.pipeline.radar import (
    PIXEL_GRID,
    RADAR_NOTE,
    check_inventory_coordinates,
    ground_spacing_m,
    is_radar_geometry,
    quiet_pixel_grids,
    radar_lookup,
    with_radar_terrain,
)
from fringenet.pipeline.run_folder import check_run_folder, clear_run_folder

if TYPE_CHECKING:
    from fringenet.detect.slow_motion import SlowMotionResult


class DetectConfig(BaseModel):
    """Settings of the scanning half (``fringenet detect``)."""

    model_config = ConfigDict(extra="forbid")

    model: Path | None = Field(
        None,
        description="Detector bundle, or the name of a shipped model ('temporal' for the time-series model); "
        "default: the package's shipped detector.",
    )
    window: int | None = Field(
        None, ge=32, le=4096,
        description="Window side (px) of every model (detector, Mask Net, time-series model); default: each "
        "model's own. Scenes smaller than a window are padded with no-data.",
    )  # fmt: skip
    overlap: int = Field(16, ge=0, le=1024, description="Overlap of neighbouring windows (px), blended.")
    batch_size: int = Field(8, ge=1, le=256, description="Windows per forward pass.")
    threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Probability threshold; default: the bundle's (chosen on validation).",
    )
    min_pixels: int = Field(9, ge=1, description="Smallest detection kept (pixels).")
    target_type: str = Field(
        "deformation",
        description="What is looked for: landslide, rock_glacier, volcanic, subsidence, mining, coseismic or "
        "deformation; decides the default slope filter.",
    )
    min_slope_deg: float | None = Field(
        None, ge=0.0, le=90.0,
        description="Drop detections on terrain flatter than this (needs a DEM); default by target type "
        "(10 deg for landslide / rock_glacier, off otherwise).",
    )  # fmt: skip
    mask: Literal["masknet", "otsu", "none"] = Field(
        "none",
        description="How unusable (decorrelated) phase is found (written to unusable.tif and dropped from the "
        "detections): the Mask Net, Otsu on the coherence layer, or none. detect's default is none: the detector "
        "learned decorrelation as a hard negative, and on the selection benchmark the Mask Net only removed true "
        "detections (IoU 0.521 without, 0.481 with, same false alarms) at three times the cost.",
    )
    mask_model: Path | None = Field(None, description="Mask Net bundle; default: the shipped one.")
    max_pairs: int = Field(
        32, ge=1, le=100_000,
        description="Pairs of a stack a single-interferogram detector scans, spread evenly over the stack (its "
        "probability is their mean, in which atmosphere averages out); long stacks are thinned to this many. The "
        "slow-motion stage and a time-series model read every pair.",
    )  # fmt: skip
    slow_motion: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Also flag steady motion too slow to see in any one pair: the rate from stacked phase "
        "gradients against its local background, its threshold calibrated to about 5 % false alarms on motionless "
        "stacks; its regions join the detector's (found_by says which found a target). 'auto': on for stacks of "
        "at least 5 dates.",
    )
    device: str = Field("auto", description="'auto', 'cpu', 'cuda' (or 'cuda:N') or 'mps'.")
    precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="Network arithmetic on CPU: 'auto' uses bfloat16 autocast where the CPU has native bf16 "
        "(several times faster, probabilities within ~1e-2) on scenes of 512 x 512 px or more, else float32.",
    )
    scheduler: str = Field(
        "auto",
        description="'auto' (detect: in this process up to 4 Mpx scanned, where a cluster's start-up costs more "
        "than it saves, or on fewer than 3 cores, else a LocalCluster; monitor: a LocalCluster), 'local' (a Dask "
        "LocalCluster of `workers` "
        "processes), 'inline' (no Dask) or the address of a running scheduler, tcp://HOST:PORT.",
    )
    workers: int = Field(2, ge=1, le=256, description="Workers of the LocalCluster.")
    variable: str | None = Field(
        None,
        description="What generic GeoTIFFs hold (wrapped_phase, unwrapped_phase, ...) when their names do "
        "not say; default: from the name, else from the values (within ±π: wrapped phase).",
    )

    lookup: Path | None = Field(
        None,
        description="Geocoding of a product in radar geometry (no CRS): a GAMMA lookup table (lt, lt_fine; its "
        "DEM par beside it), ISCE lat.rdr (lon.rdr beside it) or their folder, latitude/longitude GeoTIFFs "
        "(lat*.tif + lon*.tif) or MintPy geometryRadar.h5. Targets then go to detections.geojson (EPSG:4326) "
        "and the probability and detections also to *_geo.tif on a longitude/latitude grid.",
    )

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
            raise ValueError(f"unknown device {value!r}; one of auto, cpu, cuda, cuda:N, mps")
        return value

    @field_validator("scheduler")
    @classmethod
    def _known_scheduler(cls, value: str) -> str:
        if value not in ("auto", "local", "inline") and not re.fullmatch(r"(tcp|tls)://[^\s/]+:\d+", value):
            raise ValueError(f"unknown scheduler {value!r}; one of auto, local, inline or tcp://HOST:PORT")
        return value

    @field_validator("variable")
    @classmethod
    def _known_variable(cls, value: str | None) -> str | None:
        from fringenet.io.schema import VARIABLES

        if value is not None and value not in VARIABLES:
            raise ValueError(f"unknown variable {value!r}; one of {', '.join(VARIABLES)}")
        return value

    @field_validator("target_type")
    @classmethod
    def _known_target_type(cls, value: str) -> str:
        from fringenet.detect.filters import DEFAULT_MIN_SLOPE_DEG

        name = value.strip().lower().replace("-", "_").replace(" ", "_")
        if name not in DEFAULT_MIN_SLOPE_DEG:
            raise ValueError(f"unknown target type {value!r}; one of {', '.join(DEFAULT_MIN_SLOPE_DEG)}")
        return name


class MonitorConfig(DetectConfig):
    """Settings of the whole chain (``fringenet monitor``)."""

    mask: Literal["masknet", "otsu", "none"] = Field(
        "masknet",
        description="How unusable (decorrelated) phase is found: the Mask Net, Otsu on the coherence layer, or "
        "none. monitor's default is the Mask Net: the measurements keep unusable pixels out of unwrapping and "
        "of the reference area (they are also dropped from the detections).",
    )
    unwrapper: Literal["snaphu", "whirlwind", "punet"] = Field(
        "snaphu", description="Unwrapper of the target crops; 'punet' uses the shipped PUNet unless given."
    )
    punet_model: Path | None = Field(None, description="PUNet bundle for unwrapper 'punet'.")
    coherence_looks: float = Field(
        9.0, ge=1.0, le=10_000.0,
        description="Equivalent number of independent looks behind the coherence layer (SNAPHU's nlooks, times a "
        "crop's own multilooking): how far SNAPHU trusts the coherence. Default 9, a 3 x 3 estimation window, the "
        "smallest in common use; 1 made SNAPHU cut the demo's crops into small unwrapping components, of which only "
        "the reference's is measured (82 % of the pixel-pairs lost, velocities half the truth).",
    )  # fmt: skip
    margin_px: int | None = Field(
        None, ge=4, le=2048, description="Crop margin around a target (px); default grows with its size."
    )
    min_coherence: float = Field(0.0, ge=0.0, le=1.0, description="Pixels below this are left out of SBAS.")
    max_crop_px: int = Field(
        192, ge=32, le=4096,
        description="Crops longer than this (px) are multilooked to fit before unwrapping, which bounds the "
        "time per target.",
    )  # fmt: skip
    inventory: Path | None = Field(
        None,
        description="Inventory GeoPackage that accumulates runs (kept by --overwrite); default: RUN/inventory.gpkg, "
        "part of the run.",
    )

    @field_validator("inventory")
    @classmethod
    def _geopackage(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix.lower() != ".gpkg":
            raise ValueError(f"an inventory is a GeoPackage (.gpkg), not {value.name!r}")
        return value


@dataclass
class RunResult:
    """What a detect or monitor run wrote and found."""

    out_dir: Path
    detections: Any  # GeoDataFrame
    notes: list[str]
    files: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    """Bundle folder of each model the run used, by role."""
    windows: dict[str, int] = field(default_factory=dict)
    """Window side (px) each scanning model used, by role (``masknet``, ``detector``)."""
    geocoding: Any = None
    """The :class:`~fringenet.io.lookup.RadarLookup` the run geocodes its targets with (``--lookup``), or None."""


def open_input(
    path: str | Path | xr.Dataset, *, stack_only: bool = False, notes: list[str] | None = None,
    variable: str | None = None, georeferenced: bool = False,
) -> xr.Dataset:  # fmt: skip
    """Open an interferogram or stack product and check it can be scanned.

    With ``notes``, the pairs of a stack without a valid pixel are left out, each named in a note, and
    what the reader inferred (e.g. the variable of a generic file name) is noted. ``variable`` goes to
    :func:`~fringenet.io.open.open_product`; ``georeferenced`` requires a CRS. A product without one is
    in radar geometry (:mod:`fringenet.pipeline.radar`): the run works in pixel coordinates, said in a
    note, and a DEM gets its slope and aspect here from the ground pixel spacing (NaN without one).
    """
    from fringenet.io.open import open_product
    from fringenet.io.stack import drop_empty_pairs

    ds = path if isinstance(path, xr.Dataset) else open_product(path, variable=variable)
    source = str(ds.encoding.get("source", path if not isinstance(path, xr.Dataset) else "input"))
    if notes is not None:
        notes.extend(ds.encoding.get("notes", []))
    if georeferenced and ds.rio.crs is None:
        raise InputError(source, "has no CRS (radar geometry?): geocode the product first")
    if "wrapped_phase" not in ds and "unwrapped_phase" not in ds:
        raise InputError(source, f"holds no interferometric phase (found {sorted(map(str, ds.data_vars))})")
    if stack_only and not is_stack(ds):
        raise InputError(source, "monitor needs a stack of interferograms; scan a single pair with `detect`")
    if stack_only and ("reference_date" not in ds.coords or "secondary_date" not in ds.coords):
        raise InputError(source, "the stack has no reference/secondary dates per pair (needed for SBAS)")
    name = "wrapped_phase" if "wrapped_phase" in ds else "unwrapped_phase"
    if notes is not None and is_stack(ds):
        ds = drop_empty_pairs(ds, name, notes)  # one read of the phase, also for the next check
        empty = ds.sizes[PAIR_DIM] == 0
    else:
        empty = not bool(np.isfinite(ds[name]).any())
    if empty:
        raise InputError(source, "has no valid pixel (the phase is NaN everywhere)")
    if "wrapped_phase" in ds:
        check_wrapped_radians(float(np.abs(ds["wrapped_phase"]).max()), source)
    if is_radar_geometry(ds):
        spacing, spacing_note = ground_spacing_m(ds)
        radar_notes = [RADAR_NOTE, spacing_note]
        ds = with_radar_terrain(ds, spacing, radar_notes)
        if notes is not None:
            notes.extend(radar_notes)
    return ds


def check_wrapped_radians(largest: float, source: str) -> None:
    """Refuse wrapped phase that cannot be radians in [-π, π] (``largest``: its largest |value|).

    Degrees (±180) or scaled integers (e.g. milliradians, ±3142) would otherwise be wrapped again and
    scanned as noise; an all-zero raster is a product without phase.
    """
    if largest == 0.0:
        raise InputError(source, "the wrapped phase is 0 everywhere: no interferometric signal")
    if largest <= np.pi * 1.001:
        return
    if largest <= 180.5:
        unit = "degrees (values up to ±180): multiply by π/180"
    elif largest <= 3141.6 * 1.001:
        unit = "milliradians or scaled integers (values up to ±3142): divide by 1000"
    else:
        unit = "a scaled or unwrapped phase"
    raise InputError(
        source, f"wrapped phase reaches ±{largest:.4g}, outside ±π radians; it looks like {unit}"
    )


def _bundle(path: Path | None, name: str) -> Path:
    """The bundle at ``path``; the shipped ``name`` without one; a shipped model named instead of a path."""
    from fringenet.models.shipped import SHIPPED, shipped_bundle

    if path is None:
        return shipped_bundle(name)
    if not Path(path).exists() and str(path) in SHIPPED:
        return shipped_bundle(str(path))
    if not (Path(path) / "bundle.json").exists():
        raise InputError(path, "is not a model bundle (no bundle.json)")
    return Path(path)


AUTO_BFLOAT16_MIN_PX = 512 * 512
"""``precision: auto`` uses bfloat16 from this many scanned pixels (pairs x rows x columns) on a CPU with native
bf16: autocast of a traced network pays off only after the JIT's two profiling calls (about 0.3 s), more
than a scene of a few windows takes in float32."""


def _bfloat16(config: DetectConfig, ds: xr.Dataset) -> bool:
    from fringenet.models.predict import cpu_has_bfloat16

    if config.precision != "auto":
        return config.precision == "bfloat16"
    n = ds.sizes[PAIR_DIM] if is_stack(ds) else 1
    return n * ds.sizes["y"] * ds.sizes["x"] >= AUTO_BFLOAT16_MIN_PX and cpu_has_bfloat16()


AUTO_INLINE_PX = 4_000_000
"""``scheduler: auto`` scans up to this many pixels (pairs x rows x columns) in process: a LocalCluster takes
several seconds to start, more than its second worker saves on such a scene."""
AUTO_CLUSTER_MIN_CORES = 3
"""Below this many usable cores ``auto`` scans every scene in process: on 2 cores one process with 2 torch
threads beat 2 one-thread workers end to end (4096 x 4096 px: 74 s and 1.85 GB against 86 s and 3.09 GB,
``benchmarks/detect.py --end-to-end``)."""


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity where the OS tells it)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _client(config: DetectConfig, ds: xr.Dataset | None = None, notes: list[str] | None = None) -> Any:
    """The Dask client of a run, or None to run in this process; with ``ds``, ``auto`` decides by its size."""
    from fringenet.detect.scene import connect

    scheduler = config.scheduler
    if scheduler == "auto" and ds is not None:
        pixels = ds.sizes["y"] * ds.sizes["x"] * (ds.sizes[PAIR_DIM] if is_stack(ds) else 1)
        cores = usable_cores()
        if pixels <= AUTO_INLINE_PX or cores < AUTO_CLUSTER_MIN_CORES:
            if notes is not None:
                why = "" if pixels <= AUTO_INLINE_PX else f" ({cores} cores: faster than a cluster)"
                notes.append(f"scheduler auto: {pixels / 1e6:.2g} Mpx scanned in this process{why} (no Dask "
                             "cluster; --scheduler local starts one)")  # fmt: skip
            return None
    if scheduler == "auto":
        scheduler = "local"
    if scheduler == "inline":
        return None
    return connect(None if scheduler == "local" else scheduler, config.workers)


def _longest_pair(ds: xr.Dataset) -> int:
    if not is_stack(ds) or "reference_date" not in ds.coords:
        return 0
    return int(np.argmax(ds["secondary_date"].values - ds["reference_date"].values))


def _read_tif(path: Path) -> NDArray[np.float32]:
    import rasterio

    with rasterio.open(path) as src:
        return np.asarray(src.read(1), dtype=np.float32)


def _lookup(ds: xr.Dataset, config: DetectConfig, notes: list[str]) -> Any:
    """The lookup of ``config.lookup`` for a radar-geometry ``ds`` (see :func:`radar_lookup`)."""
    return radar_lookup(
        ds, config.lookup, notes, "targets in EPSG:4326 (detections.geojson), probability and detections also "
        "on a longitude/latitude grid (probability_geo.tif, detections_geo.tif)",
    )  # fmt: skip


def _write_geocoded(
    lookup: Any, probability: NDArray[np.float32], mask: NDArray[np.bool_], out: Path
) -> dict:
    """``probability_geo.tif`` and ``detections_geo.tif``: the radar-grid rasters on a lon/lat grid."""
    from fringenet.io.lookup import write_geocoded

    return {
        "probability_geo": write_geocoded(
            probability.astype(np.float32), lookup, out / "probability_geo.tif"
        ),
        "detections_geo": write_geocoded(
            mask.astype(np.uint8), lookup, out / "detections_geo.tif", np.uint8(0)
        ),
    }


def _scanned_pairs(ds: xr.Dataset, max_pairs: int, notes: list[str]) -> list[int] | None:
    """The pairs a single-interferogram detector scans: all, or ``max_pairs`` spread evenly (with a note)."""
    n = ds.sizes[PAIR_DIM] if is_stack(ds) else 1
    if n <= max_pairs:
        return None
    notes.append(
        f"the detector scanned {max_pairs} of the {n} pairs, spread evenly over the stack (--max-pairs)"
    )
    return spread_pairs(n, max_pairs)


def spread_pairs(n: int, count: int) -> list[int]:
    """``count`` pair indices (at most ``n``) spread evenly over ``0 .. n - 1``, first and last included."""
    return sorted({int(k) for k in np.linspace(0, n - 1, min(n, count))})


def _ground_pixel_m(ds: xr.Dataset) -> float | None:
    """Mean ground pixel spacing (m); in radar geometry from the metadata, None where it is unknown."""
    if not is_radar_geometry(ds):
        return pixel_size_m(ds)
    spacing, _ = ground_spacing_m(ds)
    return None if spacing is None else float(np.mean(spacing))


def _write_layer(ds: xr.Dataset, layer: NDArray[np.bool_] | NDArray[np.float32], path: Path) -> Path:
    """One ``(y, x)`` layer on the grid of ``ds``: a mask as uint8, else float32 with NaN as nodata."""
    from fringenet.io.geotiff import write_layer

    return write_layer(layer, path, crs=ds.rio.crs, transform=ds.rio.transform())


def unusable_mask(
    ds: xr.Dataset, config: DetectConfig, out: Path, client: Any, notes: list[str],
    windows: dict[str, int] | None = None, progress: bool = False,
) -> NDArray[np.bool_] | None:  # fmt: skip
    """Pixels whose phase is unusable (decorrelated, water, layover), from the Mask Net or Otsu.

    The Mask Net scans with ``config.window`` when given (the detector's ``--window``), else its own
    patch size; a scene smaller than the window is padded. Its window goes into ``windows["masknet"]``.
    """
    from fringenet.detect.scene import scan_scene
    from fringenet.detect.sources import DatasetSource
    from fringenet.insar.masking import otsu_coherence_mask

    if config.mask == "none":
        return None
    if config.mask == "otsu":
        if "coherence" not in ds:
            notes.append("no coherence layer: Otsu masking skipped")
            return None
        coherence = ds["coherence"].mean(PAIR_DIM) if is_stack(ds) else ds["coherence"]
        mask, threshold = otsu_coherence_mask(np.asarray(coherence.values))
        notes.append(f"unusable phase: mean coherence below the Otsu threshold {threshold:.2f}")
        return np.asarray(mask, dtype=bool)
    bundle = _bundle(config.mask_model, "masknet")
    # a handful of pairs spread over the stack vote (mean probability): decorrelation is persistent
    n = ds.sizes[PAIR_DIM] if is_stack(ds) else 1
    pairs = spread_pairs(n, 5)
    scan = scan_scene(
        str(bundle), DatasetSource(ds, pairs=pairs), out / "masknet", window=config.window,
        overlap=config.overlap, batch_size=config.batch_size, device=config.device, client=client,
        bfloat16=_bfloat16(config, ds), progress=progress, progress_label="Mask Net bands",
    )  # fmt: skip
    notes.extend(f"Mask Net: {n}" for n in scan.notes)
    if windows is not None:
        windows["masknet"] = scan.window
    probability = _read_tif(scan.probability_path)
    return np.nan_to_num(probability, nan=1.0) >= scan.threshold


@quiet_pixel_grids
def run_detect(
    input_path: str | Path | xr.Dataset, out_dir: str | Path, config: DetectConfig | None = None, *,
    client: Any = None, progress: bool = False, overwrite: bool = False,
) -> RunResult:  # fmt: skip
    """Scan a whole interferogram or stack and write detections (``detect``'s run folder).

    A folder holding a previous run is refused unless ``overwrite``, which removes that run's files first
    (see :mod:`fringenet.pipeline.run_folder`).
    """
    out = Path(out_dir)
    previous = check_run_folder(out, overwrite=overwrite, keep=_paths(input_path))
    notes: list[str] = []
    config = config or DetectConfig()
    ds = open_input(input_path, notes=notes, variable=config.variable)
    notes[:0] = clear_run_folder(out, previous)
    return _detect(ds, input_path, out, config, client, progress, notes)


def _paths(*paths: Any) -> list[Path]:
    """The file arguments among ``paths`` (inputs a run must never remove)."""
    return [Path(p) for p in paths if isinstance(p, str | Path)]


def _detect(
    ds: xr.Dataset, input_path: Any, out_dir: str | Path, config: DetectConfig, client: Any, progress: bool,
    notes: list[str], command: str = "detect", shared_client: bool = False,
) -> RunResult:  # fmt: skip
    """:func:`run_detect` on a dataset :func:`open_input` has already checked, in a checked folder.

    As the first stage of ``monitor`` (``command="monitor"``), its ``run.json`` says ``complete: false``
    until the measurements replace it, so a folder left by a killed run is not taken for a finished one.
    With ``shared_client`` the caller decided where to scan (``client``, None: in this process) for many
    products at once; else a run without a client starts its own by ``config.scheduler``.
    """
    from fringenet.detect.filters import default_min_slope, detection_mask, remove_small_objects, slope_filter
    from fringenet.detect.scene import SceneScan, scan_scene
    from fringenet.detect.slow_motion import detect_slow_motion, plan_slow_motion
    from fringenet.detect.sources import DatasetSource
    from fringenet.detect.temporal import PreparedStack, TemporalScan, prepare_stack, scan_stack
    from fringenet.detect.vectorise import vectorise_detections, write_detections
    from fringenet.models.bundle import read_bundle_info
    from fringenet.models.spec import TemporalModelSpec

    out = Path(out_dir)
    seconds: dict[str, float] = {}
    windows: dict[str, int] = {}
    detector = _bundle(config.model, "detector")
    info = read_bundle_info(detector)
    prepared: PreparedStack | None = None
    source = str(ds.encoding.get("source", input_path if isinstance(input_path, str | Path) else "input"))
    if info.task == "temporal":
        assert isinstance(info.model, TemporalModelSpec)
        # a single pair or a bad pair network fails here, before any computation
        prepared = prepare_stack(ds, info.model, source)
    slow_motion, skipped = plan_slow_motion(ds, config.slow_motion, source)
    if skipped:
        notes.append(skipped)
    lookup = _lookup(ds, config, notes)  # a lookup of another grid fails here, before the scan
    own_client = client is None and not shared_client
    client = _client(config, ds, notes) if own_client else client
    scan: SceneScan | TemporalScan
    try:
        t0 = time.perf_counter()
        unusable = unusable_mask(ds, config, out, client, notes, windows, progress)
        seconds["mask"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if (
            prepared is not None
        ):  # in-process: a window needs every pair at once, which Dask bands do not give
            scan = scan_stack(
                detector, prepared, out, window=config.window, overlap=config.overlap,
                batch_size=config.batch_size, device=config.device, bfloat16=_bfloat16(config, ds),
                progress=progress,
            )  # fmt: skip
        else:
            scan = scan_scene(
                str(detector), DatasetSource(ds, pairs=_scanned_pairs(ds, config.max_pairs, notes)), out,
                window=config.window, overlap=config.overlap,
                batch_size=config.batch_size, device=config.device, client=client, progress=progress,
                bfloat16=_bfloat16(config, ds),
            )  # fmt: skip
        seconds["scan"] = time.perf_counter() - t0
        windows["detector"] = scan.window
    finally:
        if own_client and client is not None:
            client.close()
    notes.extend(scan.notes)
    probability = _read_tif(scan.probability_path)
    threshold = info.threshold if config.threshold is None else config.threshold
    mask = detection_mask(probability, threshold, info.grow_threshold)
    if info.grow_threshold is not None and info.grow_threshold < threshold:
        notes.append(
            f"detections: probability >= {threshold:g}, grown over connected pixels >= {info.grow_threshold:g} "
            "(the bundle's hysteresis)"
        )
    slow = None
    if slow_motion:
        t0 = time.perf_counter()
        slow = detect_slow_motion(ds, _ground_pixel_m(ds), None if unusable is None else ~unusable, notes)
        seconds["slow_motion"] = time.perf_counter() - t0
        found_by_detector = mask.copy()
        mask |= slow.detection.mask
    if unusable is not None:
        mask &= ~unusable
        _write_layer(ds, unusable, out / "unusable.tif")
    min_slope = config.min_slope_deg
    if min_slope is None:
        min_slope = default_min_slope(config.target_type)
    dem, slope, aspect = _terrain(ds)
    if min_slope is not None and slope is None:
        notes.append(f"no DEM/slope layer: the {min_slope:g} deg slope filter was not applied")
    elif min_slope is not None and slope is not None:
        mask = slope_filter(mask, slope, min_slope)
        notes.append(f"slope filter: detections on slopes below {min_slope:g} deg dropped")
    mask = remove_small_objects(mask, config.min_pixels)
    _write_layer(ds, mask, out / "detections.tif")
    seen = _last_date(ds)
    radar = is_radar_geometry(ds)
    detections = vectorise_detections(
        mask, probability, transform=_target_grid(ds), crs=ds.rio.crs, dem=dem,
        # in radar geometry the aspect layer is relative to the grid, not clockwise from north
        slope=slope, aspect=None if radar else aspect, target_type=config.target_type,
        detector=f"{info.model.architecture}/{info.model.encoder}:{detector.name}", min_pixels=config.min_pixels,
        seen=seen, pixel_spacing_m=ground_spacing_m(ds)[0] if radar else None,
    )  # fmt: skip
    files = {"probability": scan.probability_path, "detections_tif": out / "detections.tif"}
    if slow is not None or isinstance(scan, TemporalScan):  # per-target attributes on the labels vectorised
        targets = _target_labels(mask, config.min_pixels)
        if slow is not None:
            _add_slow_motion_attributes(detections, targets, found_by_detector, slow, notes)
            files["slow_motion_z"] = _write_layer(ds, slow.detection.z, out / "slow_motion_z.tif")
            files["slow_motion_velocity"] = _write_layer(
                ds, slow.velocity_m_per_yr, out / "slow_motion_velocity.tif"
            )
        if isinstance(scan, TemporalScan):
            detections["model_velocity_m_per_yr"] = _target_means(targets, _read_tif(scan.velocity_path))
            files["velocity"] = scan.velocity_path
    if lookup is not None:
        from fringenet.io.lookup import geocode_polygons

        files.update(_write_geocoded(lookup, probability, mask, out))
        if slow is not None:
            from fringenet.io.lookup import write_geocoded

            files["slow_motion_velocity_geo"] = write_geocoded(
                slow.velocity_m_per_yr, lookup, out / "slow_motion_velocity_geo.tif"
            )
        geocoded = geocode_polygons(detections, lookup)
        files["detections"] = write_detections(geocoded, out)
        if command == "detect":  # monitor measures on the radar grid first, then geocodes
            detections = geocoded
    else:
        files["detections"] = write_detections(detections, out)
    z = None if slow is None else slow.detection.z
    files["quicklook"] = _quicklook(ds, probability, out / "quicklook.nc", slow_motion_z=z)
    models = {"detector": str(detector)}
    if config.mask == "masknet":
        models["masknet"] = str(_bundle(config.mask_model, "masknet"))
    _write_run_json(
        out, command, input_path, config, models, notes, seconds, len(detections), crs=_crs(ds), windows=windows,
        complete=command == "detect",
    )  # fmt: skip
    return RunResult(out, detections, notes, files, seconds, models, windows, lookup)


def _target_labels(mask: NDArray[np.bool_], min_pixels: int) -> tuple[NDArray[np.int32], int]:
    """The targets of ``mask`` labelled 1..n exactly as ``vectorise_detections`` orders them (small ones dropped,
    8-connected, raster order)."""
    from scipy import ndimage

    from fringenet.detect.filters import EIGHT_CONNECTED, remove_small_objects

    labels, n = ndimage.label(remove_small_objects(mask, min_pixels), structure=EIGHT_CONNECTED)
    return labels, int(n)


def _target_means(
    targets: tuple[NDArray[np.int32], int], values: NDArray[np.floating]
) -> NDArray[np.float64]:
    """Mean of the finite ``values`` over each of the ``(labels, n)`` targets of :func:`_target_labels`."""
    from scipy import ndimage

    labels, n = targets
    index = np.arange(1, n + 1)
    finite = np.isfinite(values)
    total = np.asarray(ndimage.sum_labels(np.where(finite, values, 0.0), labels, index), dtype=float)
    count = np.asarray(ndimage.sum_labels(finite, labels, index), dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _add_slow_motion_attributes(
    detections: Any, targets: tuple[NDArray[np.int32], int], found_by_detector: NDArray[np.bool_],
    slow: SlowMotionResult, notes: list[str],
) -> None:  # fmt: skip
    """Per target: what found it (``found_by``, and the ``detector`` column as the report shows it), the
    slow-motion stage's ring-referenced velocity and whether that may be aliased."""
    from fringenet.detect.slow_motion import ring_referenced_velocities

    found = _target_means(targets, found_by_detector.astype(np.float32)) > 0
    slowly = _target_means(targets, slow.detection.mask.astype(np.float32)) > 0
    detections["found_by"] = np.where(found & slowly, "both", np.where(slowly, "slow_motion", "detector"))
    network = detections["detector"].astype(str)
    detections["detector"] = np.where(
        found & slowly,
        network + " + " + SLOW_MOTION_DETECTOR,
        np.where(slowly, SLOW_MOTION_DETECTOR, network),
    )
    detections["slow_motion_velocity_m_per_yr"] = ring_referenced_velocities(*targets, slow)
    aliased = _target_means(targets, slow.detection.aliased.astype(np.float32)) > 0
    detections["slow_motion_aliased"] = aliased
    if aliased.any():
        notes.append(
            f"slow-motion stage: {int(aliased.sum())} target(s) steeper than a quarter cycle per pixel in the "
            "longest pair; their stacked velocity may read low (slow_motion_aliased)"
        )


def _crs(ds: xr.Dataset) -> str:
    return ds.rio.crs.to_string() if ds.rio.crs else ""


def _target_grid(ds: xr.Dataset) -> Affine:
    """Transform of the target polygons: the product's, or pixel coordinates in radar geometry."""
    return PIXEL_GRID if is_radar_geometry(ds) else ds.rio.transform()


def _static(ds: xr.Dataset, name: str) -> NDArray[np.float64] | None:
    if name not in ds:
        return None
    da = ds[name]
    if PAIR_DIM in da.dims:
        da = da.isel({PAIR_DIM: 0})
    return np.asarray(da.values, dtype=np.float64)


Layer = NDArray[np.float64] | None


def _terrain(ds: xr.Dataset) -> tuple[Layer, Layer, Layer]:
    """DEM (m), slope and aspect (deg) of the scene; slope and aspect from the DEM when absent."""
    dem, slope, aspect = (_static(ds, name) for name in ("dem", "slope", "aspect"))
    if dem is not None and (slope is None or aspect is None):
        from fringenet.simulate.terrain import slope_aspect

        slope, aspect = (np.asarray(a, dtype=np.float64) for a in slope_aspect(dem, pixel_size_m(ds)))
    # all NaN: unknown (radar geometry without a pixel spacing), as if there were no layer
    slope, aspect = (None if a is None or not np.isfinite(a).any() else a for a in (slope, aspect))
    return dem, slope, aspect


def _last_date(ds: xr.Dataset) -> str:
    if "secondary_date" in ds.coords:
        return str(np.datetime64(np.max(ds["secondary_date"].values), "D"))
    return dt.date.today().isoformat()


def _quicklook(
    ds: xr.Dataset, probability: NDArray[np.float32], path: Path, *, slow_motion_z: NDArray | None = None
) -> Path:
    from fringenet.report.quicklook_store import write_quicklook  # (not report.html: no matplotlib)

    k = _longest_pair(ds)
    sel = ds.isel({PAIR_DIM: k}) if is_stack(ds) else ds
    phase = (
        sel["wrapped_phase"].values
        if "wrapped_phase" in sel
        else np.angle(np.exp(1j * sel["unwrapped_phase"]))
    )
    coherence = ds["coherence"].mean(PAIR_DIM).values if is_stack(ds) and "coherence" in ds else None
    if coherence is None and "coherence" in sel:
        coherence = sel["coherence"].values
    # on the targets' grid (pixel coordinates in radar geometry), so the report's outlines fit
    return write_quicklook(
        path, phase, coherence, probability, _target_grid(ds), ds.rio.crs, slow_motion_z=slow_motion_z
    )


def _write_run_json(
    out: Path, command: str, input_path: Any, config: BaseModel, models: dict[str, str],
    notes: list[str], seconds: dict[str, float], n_targets: int, scores: dict[str, Any] | None = None,
    crs: str = "", windows: dict[str, int] | None = None, complete: bool = True,
) -> Path:  # fmt: skip
    from fringenet import __version__

    record = {
        "command": command,
        "complete": complete,
        "input": str(input_path) if not isinstance(input_path, xr.Dataset) else "in-memory dataset",
        "models": models,
        "windows": windows or {},
        "settings": config.model_dump(mode="json"),
        "notes": list(dict.fromkeys(notes)),
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "n_targets": n_targets,
        "crs": crs,
        "coordinates": "map" if crs else "pixel (column, row)",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "fringenet": __version__,
    }
    if scores is not None:
        record["scores"] = scores
    path = out / "run.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str))
    return path


class PunetUnwrapper:
    """A picklable unwrapper callable that loads a PUNet bundle once per process."""

    _cache: dict[str, Any] = {}  # noqa: RUF012 - one model per bundle path and process

    def __init__(self, bundle: Path) -> None:
        self.bundle = str(bundle)

    def __call__(self, wrapped: NDArray[np.floating], coherence: NDArray[np.floating] | None) -> NDArray:
        from fringenet.models.punet import load_punet, unwrap_with_punet

        if self.bundle not in self._cache:
            self._cache[self.bundle] = load_punet(self.bundle)
        model = self._cache[self.bundle]
        return unwrap_with_punet(wrapped, model, coherence=coherence).unwrapped


def _unwrapper(config: MonitorConfig) -> str | Callable[..., Any]:
    if config.unwrapper != "punet":
        return config.unwrapper
    return PunetUnwrapper(_bundle(config.punet_model, "punet"))


@quiet_pixel_grids
def run_monitor(
    stack_path: str | Path | xr.Dataset, out_dir: str | Path, config: MonitorConfig | None = None, *,
    progress: bool = False, scores: Callable[[RunResult], dict[str, Any]] | None = None,
    overwrite: bool = False,
) -> RunResult:  # fmt: skip
    """The whole detection-first chain on a stack; writes the run folder and the report.

    A folder holding a previous run is refused unless ``overwrite``, which removes that run's files first,
    the default inventory ``RUN/inventory.gpkg`` included; an explicit ``config.inventory`` is kept and
    accumulates (see :mod:`fringenet.pipeline.run_folder`).
    """
    from fringenet.io.inventory import read_inventory_table, set_measurements, update_inventory
    from fringenet.report.html import write_report

    config = config or MonitorConfig()
    out = Path(out_dir)
    previous = check_run_folder(out, overwrite=overwrite, keep=_paths(stack_path, config.inventory))
    inventory_crs: Any = False  # no inventory yet
    if config.inventory is not None and config.inventory.exists():  # a bad one fails now, not after the scan
        inventory_crs = read_inventory_table(config.inventory).crs
    if config.unwrapper == "punet":
        _bundle(config.punet_model, "punet")
    notes: list[str] = []
    ds = open_input(stack_path, stack_only=True, notes=notes, variable=config.variable)
    if inventory_crs is not False:  # with a lookup, targets of a radar grid are geocoded
        check_inventory_coordinates(
            config.inventory, inventory_crs, is_radar_geometry(ds) and config.lookup is None
        )
    notes[:0] = clear_run_folder(out, previous, _paths(config.inventory))
    client = _client(config)
    try:
        result = _detect(ds, stack_path, out, config, client, progress, notes, command="monitor")
        t0 = time.perf_counter()
        measurements = measure_targets(ds, result.detections, out, config, client, result.notes, progress)
        result.seconds["measure"] = time.perf_counter() - t0
    finally:
        if client is not None:
            client.close()
    detections = set_measurements(result.detections, measurements)
    if result.geocoding is not None:  # measured on the radar grid, stored on the map
        from fringenet.io.lookup import geocode_polygons

        detections = geocode_polygons(detections, result.geocoding)
    result.detections = detections
    from fringenet.detect.vectorise import write_detections

    write_detections(detections, out)
    inventory = update_inventory(config.inventory or out / "inventory.gpkg", detections, seen=_last_date(ds))
    result.files["inventory"] = inventory.path
    if config.unwrapper == "punet":
        result.models["punet"] = str(_bundle(config.punet_model, "punet"))
    extra = scores(result) if scores is not None else None
    _write_run_json(
        out, "monitor", stack_path, config, result.models, result.notes, result.seconds, len(detections), extra,
        _crs(ds), result.windows,
    )  # fmt: skip
    result.files["report"] = write_report(out)
    return result


SLOW_MOTION_DETECTOR = "stacked rate (slow-motion stage)"
"""The ``detector`` attribute of a target the slow-motion stage found."""

REFERENCE_MAX_Z = 2.0
"""Reference pixels must also look stable to the slow-motion stage: its robust z-score below this."""


def measure_targets(
    ds: xr.Dataset, detections: Any, out: Path, config: MonitorConfig, client: Any, notes: list[str],
    progress: bool = False,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Measure every detected target on its own crop (Dask tasks when a client is given); ``progress``
    shows a bar over the targets on stderr."""
    from rasterio.features import rasterize
    from tqdm import tqdm

    from fringenet.measure.crop import margin_for, target_window
    from fringenet.measure.target import measure_target
    from fringenet.measure.write import write_target_series

    if len(detections) == 0:
        return {}
    shape = (ds.sizes["y"], ds.sizes["x"])
    transform = ds.rio.transform()  # of the rasters; the polygons are on _target_grid(ds)
    grid = _target_grid(ds)
    unusable_path = out / "unusable.tif"
    unusable = _read_tif(unusable_path) > 0 if unusable_path.exists() else None
    others = rasterize(
        ((geom, 1) for geom in detections.geometry), out_shape=shape, transform=grid, dtype="uint8"
    ).astype(bool)
    z_path = out / "slow_motion_z.tif"
    if z_path.exists():  # a target's slow flanks, below the detection threshold, are no reference either
        others |= np.abs(_read_tif(z_path)) >= REFERENCE_MAX_Z
    unwrapper = _unwrapper(config)
    if "wrapped_phase" not in ds:
        notes.append("the targets are measured on the re-wrapped unwrapped phase (unwrapped again per crop)")
    jobs = []
    for _, row in detections.iterrows():
        target = rasterize([(row.geometry, 1)], out_shape=shape, transform=grid, dtype="uint8").astype(bool)
        margin = config.margin_px or margin_for(int(target.sum()))
        r0, r1, c0, c1 = target_window(target, shape, margin)
        crop = ds.isel(y=slice(r0, r1), x=slice(c0, c1))
        looks = int(np.ceil(max(r1 - r0, c1 - c0) / config.max_crop_px))
        target_id = str(row["target_id"])
        layers = {
            "wrapped": _wrapped_phase(crop),
            "coherence": np.asarray(crop["coherence"].values, dtype=np.float64)
            if "coherence" in crop
            else None,
            "target_mask": target[r0:r1, c0:c1],
            "unusable": None if unusable is None else unusable[r0:r1, c0:c1],
            "detections": (others & ~target)[r0:r1, c0:c1],
        }
        if looks > 1:
            layers = _multilooked(layers, looks)
            notes.append(f"{target_id}: crop of {r1 - r0} x {c1 - c0} px multilooked {looks} x {looks}")
        arrays = {
            "wrapped": layers["wrapped"], "coherence": layers["coherence"], "target_mask": layers["target_mask"],
            "reference_dates": crop["reference_date"].values, "secondary_dates": crop["secondary_date"].values,
        }  # fmt: skip
        kwargs = {
            "wavelength_m": wavelength_of(ds), "unwrapper": unwrapper, "min_coherence": config.min_coherence,
            "target_id": target_id, "nlooks": config.coherence_looks * looks * looks,
            "unusable": layers["unusable"], "detections": layers["detections"],
        }  # fmt: skip
        jobs.append((arrays, kwargs, transform * Affine.translation(c0, r0) * Affine.scale(looks)))
    if client is None:
        bar = tqdm(jobs, desc="targets", disable=not progress, leave=False)
        results = [_measure_safely(measure_target, a, k) for a, k, _ in bar]
    else:
        # the crops go to the workers as data, not inside the task graph
        crops = client.scatter([a for a, _, _ in jobs], hash=False)
        futures = [
            client.submit(_measure_safely, measure_target, c, k, pure=False)
            for c, (_, k, _) in zip(crops, jobs, strict=True)
        ]
        if progress:
            from distributed import as_completed

            for _ in tqdm(as_completed(futures), total=len(futures), desc="targets", leave=False):
                pass
        results = client.gather(futures)
    measurements: dict[str, dict[str, Any]] = {}
    for (_, kwargs, crop_transform), result in zip(jobs, results, strict=True):
        target_id = kwargs["target_id"]
        if isinstance(result, str):
            notes.append(f"{target_id}: not measured ({result})")
            continue
        write_target_series(result, out / "targets", crs=ds.rio.crs, transform=crop_transform)
        measurements[target_id] = {
            "velocity_m_per_yr": result.velocity_m_per_yr,
            "velocity_std_m_per_yr": result.velocity_std_m_per_yr,
            "n_dates": len(result.dates),
            "unwrapper": result.unwrapper,
            "reference_px": result.reference_px,
        }
        notes.extend(f"{target_id}: {n}" for n in result.notes)
    return measurements


def _wrapped_phase(crop: xr.Dataset) -> NDArray[np.float64]:
    """The crop's wrapped phase (rad), or its unwrapped phase wrapped."""
    if "wrapped_phase" in crop:
        return np.asarray(crop["wrapped_phase"].values, dtype=np.float64)
    return np.asarray(wrap(np.asarray(crop["unwrapped_phase"].values, dtype=np.float64)))


def _multilooked(layers: dict[str, Any], looks: int) -> dict[str, Any]:
    """A crop's layers averaged over ``looks`` x ``looks`` blocks (phase coherently, masks by majority)."""
    from fringenet.insar.multilook import multilook, multilook_interferogram

    out: dict[str, Any] = {
        "wrapped": np.angle(multilook_interferogram(np.exp(1j * layers["wrapped"]), looks))
    }
    out["coherence"] = None if layers["coherence"] is None else multilook(layers["coherence"], looks, looks)
    for name in ("target_mask", "unusable", "detections"):
        mask = layers[name]
        out[name] = (
            None if mask is None else np.asarray(multilook(mask.astype(np.float64), looks, looks)).real > 0.5
        )
    return out


def _measure_safely(func: Callable[..., Any], arrays: dict[str, Any], kwargs: dict[str, Any]) -> Any:
    """Run one target's measurement; an input problem becomes a message, not a failed run."""
    try:
        return func(**arrays, **kwargs)
    except InputError as exc:
        return str(exc)
