"""Sequence datasets for the time-series models: simulated SLC stacks, one sample per scene.

Layout of ``DATASET/``::

    sequences.zarr/  slc (N, T, P, P) complex64, dates (N, T) int32 days since 1970-01-01,
                     terrain (N, 3, P, P) float32 (DEM m, slope deg, aspect deg),
                     label (N, P, P) uint8 (moving area), velocity (N, P, P) float32 (m/yr), valid (N, P, P) uint8
    samples.csv      one row per scene: seed, scenario, split, labelled pixels, dates, span
    dataset.json     format, config, wavelength, splits

SLCs rather than interferograms are stored: every representation (interferograms of any network,
full coherence matrices) is derived from them at training time, and random date subsets and
networks make every epoch see other stacks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
import zarr
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch.utils.data import Dataset

from fringenet.data.config import SplitFractions, check_scenario
from fringenet.data.sequences import (
    StackInputs,
    coherence_matrix_inputs,
    interferogram_inputs,
    terrain_inputs,
)
from fringenet.data.store import DatasetFolder, read_dataset_folder
from fringenet.errors import InputError
from fringenet.io.atomic import atomic_path
from fringenet.models.spec import TemporalModelSpec
from fringenet.simulate.config import HARD_NEGATIVES, TARGET_SCENARIOS

FORMAT = "fringenet-sequences/1"
ARRAYS = ("slc", "dates", "terrain", "label", "velocity", "valid")
SNOW_SEASONS: tuple[tuple[int, ...], ...] = ((), (12, 1, 2, 3), (11, 12, 1, 2, 3, 4), (1, 2))
"""Snow seasons drawn per scene (no acquisitions in these months)."""


class SequenceDatasetConfig(BaseModel):
    """How to build a sequence dataset (``fringenet dataset build`` with ``format: sequences``)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["sequences"] = Field("sequences", description="Marks a sequence (time-series) dataset.")
    n_scenes: int = Field(600, ge=1, le=1_000_000, description="Simulated scenes (one sample each).")
    size: int = Field(64, ge=16, le=1024, description="Scene height and width (px); a multiple of 8.")
    n_dates: int = Field(20, ge=3, le=200, description="SLC acquisitions per scene.")
    scenario: str = Field("mixed", description=f"Target scenario, one of {TARGET_SCENARIOS}.")
    hard_negative_fraction: float = Field(
        0.25, ge=0.0, le=1.0, description=f"Scenes without targets ({', '.join(HARD_NEGATIVES)})."
    )
    seed: int = Field(0, ge=0, description="Seed of scene 0; scene k uses seed + k.")
    splits: SplitFractions = Field(default_factory=SplitFractions, description="Split fractions (by scene).")
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="Further SimulationConfig fields applied to every scene."
    )

    @field_validator("size")
    @classmethod
    def _size(cls, value: int) -> int:
        if value % 8:
            raise ValueError(f"size must be a multiple of 8 (the token tile), got {value}")
        return value

    @field_validator("scenario")
    @classmethod
    def _scenario(cls, value: str) -> str:
        return check_scenario(value)


def scene_config(config: SequenceDatasetConfig, k: int) -> Any:
    """The simulation config of scene ``k``: realistic, widely randomised sampling.

    6- or 12-day revisits, 0-30 % missed acquisitions, a snow season in most scenes, a random start
    in the year and 30-60 m pixels; 'hard' scenes have no target (atmosphere only, decorrelated,
    strongly stratified).
    """
    from fringenet.config import validate_config
    from fringenet.simulate.config import SimulationConfig

    seed = config.seed + k
    rng = np.random.default_rng([seed, 0x5E9])
    scenario = config.scenario
    if rng.random() < config.hard_negative_fraction:
        scenario = HARD_NEGATIVES[int(rng.integers(len(HARD_NEGATIVES)))]
    values: dict[str, Any] = {
        "height": config.size, "width": config.size, "scenario": scenario, "seed": seed,
        "n_dates": config.n_dates, "gap_probability": float(rng.uniform(0.0, 0.3)),
        "snow_months": SNOW_SEASONS[int(rng.integers(len(SNOW_SEASONS)))],
        "start_date": str(np.datetime64("2018-01-01") + np.timedelta64(int(rng.integers(0, 365 * 4)), "D")),
        "pixel_size_m": float(rng.choice([30.0, 40.0, 60.0])),
    }  # fmt: skip
    return validate_config(SimulationConfig, {**values, **config.overrides}, "sequences.overrides")


@dataclass(frozen=True)
class SequenceSummary:
    """What :func:`build_sequence_dataset` wrote."""

    path: Path
    n_samples: int
    splits: dict[str, int]
    seconds: float


def build_sequence_dataset(
    config: SequenceDatasetConfig, out: str | Path, *, overwrite: bool = False, progress: bool = False
) -> SequenceSummary:
    """Simulate ``config.n_scenes`` SLC stacks into a sequence dataset folder (written atomically)."""
    import time

    from tqdm import tqdm

    from fringenet import __version__
    from fringenet.simulate.slc import simulate_slc_stack

    out = Path(out)
    if out.exists() and not overwrite:
        raise InputError(out, "dataset folder exists already (use --overwrite to replace it)")
    tic = time.perf_counter()
    p, t = config.size, config.n_dates
    rng = np.random.default_rng([config.seed, 0x5917])
    fractions = config.splits.model_dump()
    names = list(fractions)
    split_of = rng.choice(names, size=config.n_scenes, p=np.asarray([fractions[n] for n in names]))
    rows: list[dict[str, Any]] = []
    wavelength = None
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        group = zarr.open_group(tmp / "sequences.zarr", mode="w")
        shapes = {
            "slc": ((t, p, p), "complex64"), "dates": ((t,), "int32"), "terrain": ((3, p, p), "float32"),
            "label": ((p, p), "uint8"), "velocity": ((p, p), "float32"), "valid": ((p, p), "uint8"),
        }  # fmt: skip
        arrays = {
            name: group.create_array(name, shape=(0, *shape), chunks=(1, *shape), dtype=dtype)
            for name, (shape, dtype) in shapes.items()
        }
        for k in tqdm(range(config.n_scenes), desc="stacks", disable=not progress, unit="stack"):
            sim = scene_config(config, k)
            stack = simulate_slc_stack(sim)
            wavelength = stack.wavelength_m
            static = stack.static
            values: dict[str, NDArray[Any]] = {
                "slc": stack.slc[None].astype(np.complex64),
                "dates": (stack.dates.astype("datetime64[D]").astype(np.int64)[None]).astype(np.int32),
                "terrain": np.stack([static["dem"], static["slope"], static["aspect"]])[None].astype(
                    np.float32
                ),
                "label": stack.label[None].astype(np.uint8),
                "velocity": stack.los_velocity[None].astype(np.float32),
                "valid": stack.valid[None].astype(np.uint8),
            }
            for name, value in values.items():
                arrays[name].append(value, axis=0)
            span = float((stack.dates[-1] - stack.dates[0]) / np.timedelta64(1, "D"))
            rows.append(
                {
                    "seed": sim.seed, "scenario": sim.scenario, "split": str(split_of[k]),
                    "labelled_px": int(stack.label.sum()), "first_date": str(stack.dates[0]),
                    "span_days": span, "pixel_size_m": sim.pixel_size_m,
                }
            )  # fmt: skip
        table = pd.DataFrame(rows)
        table.to_csv(tmp / "samples.csv", index_label="index")
        counts = {n: int((table["split"] == n).sum()) for n in names}
        info = {
            "format": FORMAT, "config": config.model_dump(mode="json"), "wavelength_m": wavelength,
            "splits": counts, "fringenet": __version__,
        }  # fmt: skip
        (tmp / "dataset.json").write_text(json.dumps(info, indent=2))
    return SequenceSummary(out, len(table), counts, time.perf_counter() - tic)


@dataclass
class SequenceDataset(DatasetFolder):
    """A sequence dataset folder opened for reading (arrays read scene by scene)."""

    unit: ClassVar[str] = "samples"

    @property
    def wavelength_m(self) -> float:
        return float(self.info["wavelength_m"])

    def read(self, index: int) -> dict[str, NDArray[Any]]:
        return {name: np.asarray(self.arrays[name][int(index)]) for name in ARRAYS}


def open_sequence_dataset(path: str | Path) -> SequenceDataset:
    """Open a folder written by :func:`build_sequence_dataset`; clear errors if it is not one."""
    path = Path(path)
    info, table, arrays = read_dataset_folder(path, "sequences.zarr", "samples.csv", ARRAYS, "sequence")
    if info.get("format") != FORMAT:
        raise InputError(path, f"format {info.get('format')!r} is not {FORMAT}")
    return SequenceDataset(path, info, table, arrays)


def random_network(rng: np.random.Generator, n_dates: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """A small-baseline network: every date to its next 1-4 dates, a few pairs dropped (never the chain)."""
    neighbours = int(rng.integers(1, 5))
    i, j = np.triu_indices(n_dates, k=1)
    keep = (j - i) <= neighbours
    drop = (rng.random(i.size) < 0.15) & ((j - i) > 1)
    keep &= ~drop
    return i[keep].astype(np.intp), j[keep].astype(np.intp)


def sample_inputs(
    sample: dict[str, NDArray[Any]],
    spec: TemporalModelSpec,
    rng: np.random.Generator | None,
    *,
    window: int = 5,
    network_only_probability: float = 0.5,
) -> StackInputs:
    """Model inputs from one stored SLC stack.

    With ``rng`` (training) a random subset of dates, a random network, random per-date phase
    offsets and dihedral flips make each draw another stack; without it every date is used with a
    fixed 2-neighbour network. The coherence-matrix model sees, half the time, only the entries a
    pair network would give, so it also runs on interferogram stacks.
    """
    from fringenet.insar.phase_linking import sample_coherence_matrix, sample_coherence_pairs

    slc = np.asarray(sample["slc"])
    dates = np.asarray(sample["dates"]).astype("datetime64[D]")
    t = dates.size
    if rng is not None:
        lo = min(max(spec.min_steps + 1, 6), t)
        n = int(rng.integers(lo, t + 1))
        if spec.steps_are_dates:
            n = min(n, spec.max_steps)
        keep = np.sort(rng.choice(t, size=n, replace=False))
        slc = slc[keep] * np.exp(1j * rng.uniform(-np.pi, np.pi, n)).astype(np.complex64)[:, None, None]
        dates = dates[keep]
        ref_idx, sec_idx = random_network(rng, n)
    else:
        n = min(t, spec.max_steps) if spec.steps_are_dates else t
        keep = np.round(np.linspace(0, t - 1, n)).astype(np.intp)
        slc, dates = slc[keep], dates[keep]
        i, j = np.triu_indices(n, k=1)
        ref_idx, sec_idx = i[(j - i) <= 2], j[(j - i) <= 2]
    dem, slope, aspect = (np.asarray(a, dtype=np.float64) for a in sample["terrain"])
    terrain = terrain_inputs(dem, slope, aspect, dem.shape)
    if spec.steps_are_dates:
        matrix = sample_coherence_matrix(slc, window=window)
        present = np.ones((n, n), dtype=bool)
        if rng is not None and rng.random() < network_only_probability:
            present = np.eye(n, dtype=bool)
            present[ref_idx, sec_idx] = present[sec_idx, ref_idx] = True
            matrix = np.where(present, matrix, 0)
        return coherence_matrix_inputs(matrix, present, dates, spec, terrain, "sample")
    pair = sample_coherence_pairs(slc, ref_idx, sec_idx, window=window)  # (P, H, W): phi_sec - phi_ref
    phase, coherence = np.angle(pair), np.abs(pair)
    if spec.max_steps < phase.shape[0] and rng is not None:
        chain = np.flatnonzero(sec_idx - ref_idx == 1)  # kept, so the thinned network stays connected
        rest = np.setdiff1d(np.arange(phase.shape[0]), chain)
        extra = rng.choice(rest, size=max(0, spec.max_steps - chain.size), replace=False)
        pick = np.sort(np.concatenate([chain, extra]))[: spec.max_steps]
        phase, coherence, ref_idx, sec_idx = phase[pick], coherence[pick], ref_idx[pick], sec_idx[pick]
    return interferogram_inputs(phase, coherence, dates[ref_idx], dates[sec_idx], spec, terrain, "sample")


def flip(inputs: StackInputs, targets: dict[str, NDArray[Any]], rng: np.random.Generator) -> None:
    """Random horizontal/vertical flips of inputs and targets, in place (aspect follows the flip)."""
    for axis, sin_sign, cos_sign in ((-1, -1.0, 1.0), (-2, 1.0, -1.0)):
        if rng.random() < 0.5:
            inputs.steps = np.flip(inputs.steps, axis=axis).copy()
            inputs.terrain = np.flip(inputs.terrain, axis=axis).copy()
            inputs.terrain[2] *= sin_sign  # mirroring east-west negates sin(aspect), north-south cos(aspect)
            inputs.terrain[3] *= cos_sign
            inputs.valid = np.flip(inputs.valid, axis=axis).copy()
            for k in targets:
                targets[k] = np.flip(targets[k], axis=axis).copy()


class SequenceSamples(Dataset[dict[str, torch.Tensor]]):
    """Training/validation samples of a sequence dataset for one model spec (torch Dataset).

    Each item: the network's inputs, ``label`` (1, P, P), ``rate`` (1, P, P) true phase rate (rad/yr)
    and ``valid`` (1, P, P). With ``augment`` every epoch draws new date subsets and networks.
    """

    def __init__(
        self,
        dataset: SequenceDataset,
        indices: NDArray[np.int64],
        spec: TemporalModelSpec,
        *,
        augment: bool = False,
        seed: int = 0,
    ) -> None:
        self.dataset, self.indices, self.spec = dataset, np.asarray(indices), spec
        self.augment, self.seed, self.epoch = augment, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return int(self.indices.size)

    def labelled_pixels(self) -> NDArray[np.int64]:
        return self.dataset.table["labelled_px"].to_numpy()[self.indices]

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        from fringenet.conventions import displacement_to_phase

        index = int(self.indices[item])
        sample = self.dataset.read(index)
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.augment else None
        inputs = sample_inputs(sample, self.spec, rng)
        rate = displacement_to_phase(sample["velocity"], self.dataset.wavelength_m).astype(np.float32)
        targets = {"label": sample["label"].astype(np.float32), "rate": rate,
                   "valid": (sample["valid"] > 0) & inputs.valid}  # fmt: skip
        if rng is not None:
            flip(inputs, targets, rng)
        return {
            "steps": torch.from_numpy(np.ascontiguousarray(inputs.steps)),
            "time": torch.from_numpy(inputs.time),
            "step_mask": torch.from_numpy(inputs.step_mask),
            "terrain": torch.from_numpy(np.ascontiguousarray(inputs.terrain)),
            "label": torch.from_numpy(np.ascontiguousarray(targets["label"]))[None],
            "rate": torch.from_numpy(np.ascontiguousarray(targets["rate"]))[None],
            "valid": torch.from_numpy(np.ascontiguousarray(targets["valid"]).astype(np.float32))[None],
        }
