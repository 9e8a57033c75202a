"""Configuration of a segmentation training run (``fringenet train --config CFG.yaml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fringenet.data.channels import check_channels
from fringenet.models.segmentation import ModelChoice


class LossConfig(BaseModel):
    """Masked loss over valid pixels: weighted sum of BCE, Dice and focal terms."""

    model_config = ConfigDict(extra="forbid")

    bce_weight: float = Field(
        1.0, ge=0.0, description="Weight of BCE over valid pixels (normalised by their count)."
    )
    dice_weight: float = Field(0.0, ge=0.0, description="Weight of the soft Dice loss over valid pixels.")
    focal_weight: float = Field(0.0, ge=0.0, description="Weight of the focal loss over valid pixels.")
    focal_gamma: float = Field(2.0, ge=0.0, le=10.0, description="Focusing exponent of the focal loss.")
    label_sigma_px: float = Field(
        0.0, ge=0.0, le=64.0, description="Gaussian label smoothing sigma (pixels); 0 = hard labels."
    )


class SamplingConfig(BaseModel):
    """Class-imbalance handling on the training split."""

    model_config = ConfigDict(extra="forbid")

    bucket_probabilities: tuple[float, float, float, float] = Field(
        (0.1, 0.5, 0.3, 0.1),
        description="Draw probabilities of the no-object / small / medium / large buckets (labelled-pixel terciles).",
    )
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Samples drawn per epoch; default: the training items (patches + crops)."
    )
    oversample_small: bool = Field(True, description="Add a crop around every small labelled object.")
    small_object_max_px: int = Field(1024, ge=1, description="Objects up to this many pixels count as small.")
    crop_px: int = Field(
        128, ge=8, description="Side of the crop around a small object (padded to the patch)."
    )

    @field_validator("bucket_probabilities")
    @classmethod
    def _probabilities(cls, value: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        if any(p < 0 for p in value) or sum(value) <= 0:
            raise ValueError("bucket probabilities must be non-negative and not all zero")
        return value


class AugmentConfig(BaseModel):
    """Training augmentation."""

    model_config = ConfigDict(extra="forbid")

    dihedral: bool = Field(True, description="Random flips and 90-degree rotations (all bands, label, mask).")
    phase_offset: bool = Field(True, description="Random global offset added to the wrapped phase.")


class TrainConfig(BaseModel):
    """A segmentation training run."""

    model_config = ConfigDict(extra="forbid")

    dataset: Path = Field(description="Patch dataset folder from `fringenet dataset build`.")
    model: ModelChoice = Field(default_factory=ModelChoice, description="Network.")
    channels: list[str] | None = Field(
        None, description="Input channels (default: all the dataset's channels)."
    )
    loss: LossConfig = Field(default_factory=LossConfig, description="Loss.")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig, description="Sampling.")
    augment: AugmentConfig = Field(default_factory=AugmentConfig, description="Augmentation.")
    epochs: int = Field(10, ge=1, le=10_000, description="Training epochs.")
    batch_size: int = Field(8, ge=1, le=4096, description="Patches per batch.")
    learning_rate: float = Field(1e-3, gt=0.0, le=1.0, description="Peak AdamW learning rate.")
    weight_decay: float = Field(1e-2, ge=0.0, le=1.0, description="AdamW weight decay.")
    warmup_fraction: float = Field(
        0.05, ge=0.0, lt=1.0, description="Linear warm-up share of all steps, then cosine."
    )
    grad_clip: float | None = Field(1.0, gt=0.0, description="Clip the gradient norm to this (None = off).")
    mixed_precision: Literal["auto", "off"] = Field(
        "auto", description="'auto' uses bf16/fp16 autocast on a GPU only."
    )
    device: str = Field("auto", description="'auto' (CUDA, MPS, else CPU), 'cpu', 'cuda', 'cuda:1', ...")
    num_workers: int = Field(0, ge=0, le=64, description="DataLoader worker processes.")
    seed: int = Field(0, ge=0, description="Seed of weights, sampling and augmentation.")
    tensorboard: bool = Field(
        False, description="Also write TensorBoard logs (needs the tensorboard package)."
    )

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(check_channels(value))
