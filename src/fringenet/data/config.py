"""Configuration of a patch dataset build (``fringenet dataset build``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fringenet.data.channels import DEFAULT_CHANNELS, check_channels
from fringenet.simulate.config import HARD_NEGATIVES, TARGET_SCENARIOS


def check_scenario(value: str) -> str:
    """A target scenario name (for pydantic validators); ValueError listing the valid ones."""
    if value not in TARGET_SCENARIOS:
        raise ValueError(f"unknown scenario {value!r}; valid: {TARGET_SCENARIOS}")
    return value


class SplitFractions(BaseModel):
    """Target fraction of patches per split."""

    model_config = ConfigDict(extra="forbid")

    train: float = Field(0.7, ge=0.0, le=1.0, description="Fraction of patches for training.")
    val: float = Field(0.2, ge=0.0, le=1.0, description="Fraction for validation (threshold, model choice).")
    test: float = Field(0.1, ge=0.0, le=1.0, description="Fraction for the final test.")

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitFractions:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"split fractions must sum to 1 (got {total:g})")
        return self


class SimulatedSource(BaseModel):
    """Simulated single-pair scenes, each its own region."""

    model_config = ConfigDict(extra="forbid")

    n_scenes: int = Field(8, ge=1, le=100_000, description="Number of simulated interferograms.")
    scenario: str = Field("mixed", description=f"Target scenario, one of {TARGET_SCENARIOS}.")
    hard_negative_fraction: float = Field(
        0.2, ge=0.0, le=1.0,
        description=f"Fraction of scenes drawn as hard negatives without targets ({', '.join(HARD_NEGATIVES)}).",
    )  # fmt: skip
    height: int = Field(512, ge=16, le=8192, description="Scene height (pixels).")
    width: int = Field(512, ge=16, le=8192, description="Scene width (pixels).")
    seed: int = Field(0, ge=0, description="Seed of the first scene; scene k uses seed + k.")
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="Further SimulationConfig fields applied to every scene."
    )
    mode: Literal["pair", "stack"] = Field(
        "pair",
        description="'pair': one interferogram per scene; 'stack': a small-baseline stack per scene, summarised "
        "by the stack channels (gradient_magnitude, gradient_consistency) and labelled where the target moves "
        "enough over the whole stack.",
    )
    stack_dates: tuple[int, int] = Field(
        (2, 24),
        description="Range of the number of dates drawn per stack scene (mode 'stack'); 2 dates = a single "
        "pair, so a model trained on the range also scans single interferograms. An 'n_dates' override wins.",
    )
    label: Literal["deformation", "decorrelation"] = Field(
        "deformation",
        description="What the label marks: visible deformation, or decorrelated/unusable phase (Mask Net).",
    )
    coherence: Literal["true", "sample"] = Field(
        "true",
        description="'true': the simulator's model coherence; 'sample': a 5x5 boxcar estimate from the "
        "simulated noise phase, biased like a processor's coherence (use it where the label depends on "
        "coherence, as for the Mask Net).",
    )

    @field_validator("stack_dates")
    @classmethod
    def _stack_dates(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 2 <= value[0] <= value[1] <= 1000:
            raise ValueError(f"stack_dates must be an increasing range within 2..1000 (got {value})")
        return value

    @field_validator("scenario")
    @classmethod
    def _scenario(cls, value: str) -> str:
        return check_scenario(value)


class RealSource(BaseModel):
    """A real product (one pair or a stack of pairs) with a vector or raster inventory of its targets."""

    model_config = ConfigDict(extra="forbid")

    product: Path = Field(description="Interferogram product: any file or folder `fringenet info` reads.")
    inventory: Path = Field(
        description="Labels: GeoJSON/Shapefile/GeoPackage/KML polygons, or a label GeoTIFF."
    )
    region: str | None = Field(None, description="Region name (default: the product's name).")
    coherence: Path | None = Field(
        None,
        description="Coherence product on the same grid and pairs (else the product's own, else from phase).",
    )
    amplitude: Path | None = Field(None, description="Amplitude product on the same grid (optional).")
    dem: Path | None = Field(None, description="DEM GeoTIFF on the same grid (m) (optional).")
    nodata: float | None = Field(
        None, description="Value read as missing in GeoTIFF products (e.g. 0 for ROI_PAC)."
    )
    wavelength_m: float | None = Field(
        None, gt=0.0, description="Radar wavelength when the files carry none (m)."
    )
    variable: str | None = Field(
        None,
        description="What the product's GeoTIFFs hold (e.g. wrapped_phase) when their names do not say; "
        "default: from the name, else from the values (within ±π: wrapped phase).",
    )
    all_touched: bool = Field(
        False, description="Burn every pixel a polygon touches, not just centres inside."
    )


class DatasetConfig(BaseModel):
    """How to build a patch dataset for segmentation training and evaluation."""

    model_config = ConfigDict(extra="forbid")

    channels: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CHANNELS),
        description="Input channels (see fringenet.data.channels.CHANNELS); default: the thesis's seven bands.",
    )
    patch_size: int = Field(256, ge=16, le=4096, description="Patch height and width (pixels).")
    stride: int | None = Field(None, ge=1, description="Step between patches (pixels); default: patch_size.")
    min_valid_fraction: float = Field(
        0.2, ge=0.0, le=1.0, description="Drop patches with fewer valid pixels than this fraction."
    )
    splits: SplitFractions = Field(default_factory=SplitFractions, description="Split fractions.")
    block_px: int = Field(
        1024, ge=16,
        description="Side of the spatial blocks (scene pixels) kept whole in one split; simulated scenes "
        "smaller than this are one block each.",
    )  # fmt: skip
    seed: int = Field(0, ge=0, description="Seed of the split assignment.")
    simulate: SimulatedSource | None = Field(None, description="Simulated scenes to include.")
    real: list[RealSource] = Field(default_factory=list, description="Real products with inventories.")

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        return list(check_channels(value))

    @model_validator(mode="after")
    def _some_source(self) -> DatasetConfig:
        if self.simulate is None and not self.real:
            raise ValueError("a dataset needs simulated scenes (simulate) or real products (real)")
        return self
