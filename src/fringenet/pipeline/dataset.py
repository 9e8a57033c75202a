"""Stage runner of ``fringenet dataset build``: scenes (simulated or real + inventory) → patch dataset."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from fringenet.conventions import days_to_years, displacement_to_phase, wrap
from fringenet.data.channels import CHANNELS, PairLayers, derive_channels
from fringenet.data.config import DatasetConfig, RealSource, SimulatedSource
from fringenet.data.normalise import channel_statistics
from fringenet.data.patches import cut_patches
from fringenet.data.splits import assign_splits, spatial_blocks, split_table
from fringenet.data.store import PatchWriter
from fringenet.errors import InputError
from fringenet.io.atomic import atomic_path
from fringenet.io.schema import PAIR_DIM, is_stack, pixel_size_m, wavelength_of


@dataclass(frozen=True)
class Scene:
    """One interferogram ready to be cut: its layers, label and valid mask, and where it came from."""

    region: str
    scene: str
    layers: PairLayers
    label: NDArray[np.uint8]
    valid: NDArray[np.bool_]
    crs: str
    transform: tuple[float, ...]


@dataclass(frozen=True)
class DatasetSummary:
    """What :func:`run_build_dataset` wrote."""

    path: Path
    n_patches: int
    channels: tuple[str, ...]
    splits: list[dict[str, Any]]
    notes: list[str]


def _values(da: xr.DataArray | None) -> NDArray[np.float64] | None:
    return None if da is None else np.asarray(da.values, dtype=np.float64)


def simulated_scenes(source: SimulatedSource) -> Iterator[Scene]:
    """Simulate ``source.n_scenes`` pairs or stacks; a seeded fraction are hard negatives without targets."""
    from fringenet.config import validate_config
    from fringenet.simulate.config import HARD_NEGATIVES, SimulationConfig
    from fringenet.simulate.scene import simulate_pair, simulate_stack

    for k in range(source.n_scenes):
        seed = source.seed + k
        rng = np.random.default_rng([seed, 0x5EED])
        scenario = source.scenario
        if rng.random() < source.hard_negative_fraction:
            scenario = HARD_NEGATIVES[int(rng.integers(len(HARD_NEGATIVES)))]
        values: dict[str, Any] = {"height": source.height, "width": source.width, "scenario": scenario}
        values["seed"] = seed
        if source.mode == "stack":
            values["n_dates"] = int(rng.integers(source.stack_dates[0], source.stack_dates[1] + 1))
        config = validate_config(SimulationConfig, {**values, **source.overrides}, "simulate.overrides")
        ds = simulate_stack(config) if source.mode == "stack" else simulate_pair(config)
        name = f"sim{seed:05d}"
        layers, label, valid = simulated_layers(ds, source, name)
        yield Scene(
            f"{name}-{scenario}", name, layers, label, valid,
            ds.rio.crs.to_string(), tuple(ds.rio.transform())[:6],
        )  # fmt: skip


def sample_coherence(ds: xr.Dataset) -> NDArray[np.float64]:
    """Coherence as a processor would estimate it: a 5x5 boxcar over the simulated noise phase.

    The noise phase is what is left of the wrapped phase once the simulated deformation and
    atmosphere (both smooth at the window scale) are removed, so this mimics the sample coherence of
    real products, biased upwards where the true coherence is low.
    """
    from scipy.ndimage import uniform_filter

    signal = displacement_to_phase(ds["los_displacement"].values, wavelength_of(ds)) + ds["atmosphere"].values
    noise = np.asarray(ds["wrapped_phase"].values - signal, dtype=np.float32)
    size = (1,) * (noise.ndim - 2) + (5, 5)
    re = uniform_filter(np.cos(noise), size)
    im = uniform_filter(np.sin(noise), size)
    return np.clip(np.hypot(re, im), 0.0, 1.0).astype(np.float64)


def simulated_layers(
    ds: xr.Dataset, source: SimulatedSource, name: str
) -> tuple[PairLayers, NDArray[np.uint8], NDArray[np.bool_]]:
    """Layers, label and valid mask of a simulated pair or stack, as ``source`` asks for them.

    A stack becomes one scene: its per-pair layers are kept for the stack channels, the pair-wise
    layers are the pair of longest time span, and the label marks pixels whose deformation over the
    whole stack reaches the visibility threshold (or is visible in any pair).
    """
    from fringenet.simulate.config import SimulationConfig

    config = SimulationConfig.model_validate_json(ds.attrs["simulation_config"])
    coherence = ds["coherence"].values if source.coherence == "true" else sample_coherence(ds)
    usable = (ds["water"].values == 0) & (ds["layover"].values == 0)
    stack = is_stack(ds)
    spans = ds["secondary_date"].values - ds["reference_date"].values if stack else None
    k = int(np.argmax(spans)) if spans is not None else 0
    pick = (lambda a: np.asarray(a)[k]) if stack else np.asarray
    layers = PairLayers(
        source=name,
        wrapped_phase=pick(ds["wrapped_phase"].values),
        pixel_size_m=config.pixel_size_m,
        wavelength_m=config.wavelength_m,
        coherence=np.mean(coherence, axis=0) if stack else coherence,
        amplitude=pick(ds["amplitude"].values),
        unwrapped_phase=pick(ds["unwrapped_phase"].values),
        los_displacement=pick(ds["los_displacement"].values),
        dem=ds["dem"].values,
        slope=ds["slope"].values,
        aspect=ds["aspect"].values,
        incidence=ds["incidence"].values,
        heading=ds["heading"].values,
        wrapped_stack=ds["wrapped_phase"].values if stack else None,
        coherence_stack=coherence if stack else None,
    )
    if source.label == "decorrelation":
        decorrelated = np.asarray(ds["decorrelation"].values, dtype=bool)
        # a stack's unusable pixels are those decorrelated in most pairs
        label = np.mean(decorrelated, axis=0) >= 0.5 if stack else decorrelated
        return layers, label.astype(np.uint8), np.isfinite(layers.wrapped_phase)
    if stack:
        span_years = _span_years(ds)
        moved = np.abs(displacement_to_phase(ds["los_velocity"].values * span_years, config.wavelength_m))
        label = (moved >= config.visibility_threshold_rad) | np.any(ds["label"].values > 0, axis=0)
        label &= usable & (np.mean(ds["decorrelation"].values, axis=0) < 0.5)
        return layers, label.astype(np.uint8), usable
    label = ds["label"].values > 0
    return layers, label.astype(np.uint8), (ds["valid"].values > 0) & usable


def _span_years(ds: xr.Dataset) -> float:
    dates = np.concatenate([ds["reference_date"].values, ds["secondary_date"].values])
    return float(days_to_years((dates.max() - dates.min()) / np.timedelta64(1, "D")))


def _same_grid(ds: xr.Dataset, other: xr.Dataset, path: Path, what: str) -> None:
    from fringenet.io.stack import grid_difference, grid_of_dataset

    problem = grid_difference(grid_of_dataset(ds), grid_of_dataset(other))
    if problem:
        raise InputError(path, f"{what} is on another grid than the product: {problem}")


def _inventory_label(source: RealSource, ds: xr.Dataset) -> NDArray[np.uint8]:
    from fringenet.io.geotiff import read_geotiff
    from fringenet.io.labels import rasterize_inventory

    path = source.inventory
    if not path.exists():
        raise InputError(path, "inventory not found")
    if path.suffix.lower() in (".tif", ".tiff"):
        raster = read_geotiff(path, "label")
        _same_grid(ds, raster, path, "the label raster")
        values = np.asarray(raster["label"].values)
        return (np.nan_to_num(values) > 0).astype(np.uint8)
    return np.asarray(rasterize_inventory(path, ds, all_touched=source.all_touched).values, dtype=np.uint8)


def _per_pair(ds: xr.Dataset, name: str, k: int, n_pairs: int, path: Path) -> NDArray[np.float64] | None:
    """Variable ``name`` of pair ``k`` (static variables are shared by every pair)."""
    if name not in ds:
        return None
    da = ds[name]
    if PAIR_DIM in da.dims:
        if da.sizes[PAIR_DIM] != n_pairs:
            raise InputError(path, f"{name} has {da.sizes[PAIR_DIM]} pairs, the product {n_pairs}")
        da = da.isel({PAIR_DIM: k})
    return _values(da)


def _align_pairs(ds: xr.Dataset, other: xr.Dataset, path: Path, what: str) -> xr.Dataset:
    """Put the pairs of a companion stack (coherence, amplitude) in the product's pair order."""
    if not (is_stack(ds) and is_stack(other)) or PAIR_DIM not in ds.coords or PAIR_DIM not in other.coords:
        return other
    missing = sorted(set(ds[PAIR_DIM].values.tolist()) - set(other[PAIR_DIM].values.tolist()))
    if missing:
        raise InputError(path, f"{what} lacks pair(s) {missing[:5]} of the product")
    return other.sel({PAIR_DIM: ds[PAIR_DIM].values})


def real_scenes(source: RealSource) -> Iterator[Scene]:
    """Every pair of a real product, with its inventory label and optional coherence/amplitude/DEM files."""
    from fringenet.io.open import open_product

    ds = open_product(
        source.product, nodata=source.nodata, wavelength_m=source.wavelength_m, variable=source.variable
    )
    region = source.region or source.product.stem
    extra: dict[str, xr.Dataset] = {}
    for what, path in (("coherence", source.coherence), ("amplitude", source.amplitude), ("dem", source.dem)):
        if path is None:
            continue
        other = open_product(path, nodata=source.nodata)
        names = [str(v) for v in other.data_vars]
        if what not in other and len(names) == 1:
            other = other.rename({names[0]: what})  # the config says what this single layer is
        if what not in other:
            raise InputError(path, f"holds no {what} layer (found {sorted(names)})")
        _same_grid(ds, other, path, what)
        extra[what] = _align_pairs(ds, other, path, what)
    label = _inventory_label(source, ds)
    n_pairs = ds.sizes[PAIR_DIM] if is_stack(ds) else 1
    size = pixel_size_m(ds)
    wavelength = wavelength_of(ds)
    for k in range(n_pairs):
        sel = ds.isel({PAIR_DIM: k}) if is_stack(ds) else ds
        notes: list[str] = []
        unwrapped = _per_pair(ds, "unwrapped_phase", k, n_pairs, source.product)
        if "wrapped_phase" in sel:
            phase = _values(sel["wrapped_phase"])
        elif unwrapped is not None:
            phase = np.asarray(wrap(unwrapped), dtype=np.float64)
            notes.append("wrapped phase made by re-wrapping the unwrapped phase")
        else:
            raise InputError(
                source.product, f"holds no interferometric phase (found {sorted(map(str, ds.data_vars))})"
            )
        layer = {
            name: _per_pair(extra.get(name, ds), name, k, n_pairs, getattr(source, name) or source.product)
            for name in ("coherence", "amplitude", "dem")
        }
        layers = PairLayers(
            source=str(source.product),
            wrapped_phase=np.asarray(phase),
            pixel_size_m=size,
            wavelength_m=wavelength,
            coherence=layer["coherence"],
            amplitude=layer["amplitude"],
            unwrapped_phase=unwrapped,
            los_displacement=_per_pair(ds, "los_displacement", k, n_pairs, source.product),
            dem=layer["dem"],
            incidence=_per_pair(ds, "incidence", k, n_pairs, source.product),
            heading=_per_pair(ds, "heading", k, n_pairs, source.product),
            notes=notes,
        )
        pair = str(sel["pair"].values) if "pair" in sel.coords else f"pair{k:03d}"
        yield Scene(
            region, f"{region}:{pair}", layers, label, np.isfinite(layers.wrapped_phase),
            ds.rio.crs.to_string() if ds.rio.crs else "", tuple(ds.rio.transform())[:6],
        )  # fmt: skip


def _scenes(config: DatasetConfig) -> Iterator[Scene]:
    if config.simulate is not None:
        yield from simulated_scenes(config.simulate)
    for source in config.real:
        yield from real_scenes(source)


def run_build_dataset(
    config: DatasetConfig, out: str | Path, *, overwrite: bool = False, progress: bool = False
) -> DatasetSummary:
    """Build a patch dataset folder at ``out`` (written atomically) from ``config``'s scenes.

    Splits keep spatial blocks (and so every pair over the same ground) in one split, stratified
    by labelled pixels; normalisation statistics use the training split only.
    """
    from tqdm import tqdm

    from fringenet import __version__

    out = Path(out)
    if out.exists() and not overwrite:
        raise InputError(out, "dataset folder exists already (use --overwrite to replace it)")
    channels = tuple(config.channels)
    notes: list[str] = []
    with atomic_path(out) as tmp:
        writer = PatchWriter(tmp, channels, config.patch_size)
        for scene in tqdm(_scenes(config), desc="scenes", disable=not progress, unit="scene"):
            image = derive_channels(scene.layers, channels)
            patches = cut_patches(
                image, scene.label, scene.valid, channels, config.patch_size,
                stride=config.stride, min_valid_fraction=config.min_valid_fraction,
            )  # fmt: skip
            notes.extend(
                f"{scene.layers.source}: {n}" for n in scene.layers.notes if f"{scene.region}" not in n
            )
            writer.append(
                patches, region=scene.region, scene=scene.scene, crs=scene.crs, transform=scene.transform
            )
        table = writer.table()
        if table.empty:
            raise InputError(out, "no patch has enough valid pixels; nothing to write")
        blocks = spatial_blocks(table["row"].to_numpy(), table["col"].to_numpy(), config.block_px)
        table["group"] = [f"{r}/{b}" for r, b in zip(table["region"], blocks, strict=True)]
        table["split"] = assign_splits(
            table["group"].to_numpy(),
            table["labelled_px"].to_numpy(),
            config.splits.model_dump(),
            config.seed,
        )
        train = np.flatnonzero(table["split"].to_numpy() == "train")
        stats = channel_statistics(
            (
                (np.asarray(writer.arrays["image"][int(i)]), np.asarray(writer.arrays["valid"][int(i)]))
                for i in train
            ),
            channels,
        )
        splits = split_table(
            table["split"].to_numpy(), table["labelled_px"].to_numpy(), table["group"].to_numpy()
        )
        empty = sorted(
            set(config.splits.model_dump()) - set(table["split"]) - {k for k, v in config.splits if v == 0}
        )
        if empty:
            notes.append(
                f"split(s) {empty} got no patches: {table['group'].nunique()} spatial group(s) are too few "
                f"(lower block_px={config.block_px} or add scenes)"
            )
        unique_notes = sorted(set(notes))
        info = {
            "format": "fringenet-patches/1",
            "channels": list(channels),
            "units": {c: CHANNELS[c].unit for c in channels},
            "relative_channels": [c for c in channels if CHANNELS[c].relative],
            "patch_size": config.patch_size,
            "normalisation": stats,
            "normalisation_split": "train",
            "splits": splits,
            "regions": sorted(set(table["region"])),
            "config": config.model_dump(mode="json"),
            "provenance": {"fringenet": __version__, "scenes": int(table["scene"].nunique())},
            "notes": unique_notes,
        }
        writer.finish(table, info)
        (tmp / "splits.md").write_text(splits_markdown(splits))
    return DatasetSummary(out, len(table), channels, splits, unique_notes)


def splits_markdown(rows: list[dict[str, Any]]) -> str:
    """The split table as markdown."""
    head = "| split | patches | groups | patches with labels | labelled pixels |\n|---|---:|---:|---:|---:|\n"
    body = "".join(
        f"| {r['split']} | {r['patches']} | {r['groups']} | {r['patches_with_labels']} | {r['labelled_pixels']} |\n"
        for r in rows
    )
    return head + body
