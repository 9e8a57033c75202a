"""Segmentation networks by name: one factory over segmentation-models-pytorch architectures and encoders.

Weights always start random (``encoder_weights=None``): fringenet never downloads pretrained
weights, and its inputs (phase as cos/sin, coherence, terrain) are not natural images anyway.
"""

from __future__ import annotations

from functools import lru_cache

import segmentation_models_pytorch as smp
import timm
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

ARCHITECTURES: dict[str, type[nn.Module]] = {
    "unet": smp.Unet,
    "unetplusplus": smp.UnetPlusPlus,
    "fpn": smp.FPN,
    "deeplabv3plus": smp.DeepLabV3Plus,
    "upernet": smp.UPerNet,
    "segformer": smp.Segformer,
}
"""Decoder architectures by name."""

OUTPUT_STRIDE = 32
"""Input height and width must be multiples of this (the encoders downsample five times)."""


@lru_cache(maxsize=1)
def encoder_names() -> tuple[str, ...]:
    """Native smp encoder names; any timm model is also accepted as ``tu-<timm name>``."""
    return tuple(sorted(smp.encoders.get_encoder_names()))


def check_encoder(name: str) -> str:
    """Return ``name`` if smp or timm knows it; otherwise raise ValueError listing choices."""
    if name in encoder_names():
        return name
    if name.startswith("tu-") and timm.is_model(name[3:]):
        return name
    examples = ", ".join(n for n in encoder_names() if n.startswith(("resnet", "mit_", "efficientnet-b")))
    raise ValueError(f"unknown encoder {name!r}; smp encoders include {examples}, or 'tu-<timm model>'")


class ModelChoice(BaseModel):
    """Which network: decoder architecture and encoder."""

    model_config = ConfigDict(extra="forbid")

    architecture: str = Field("unet", description=f"Decoder architecture, one of {sorted(ARCHITECTURES)}.")
    encoder: str = Field(
        "resnet18", description="smp encoder name (resnet34, mit_b2, ...) or 'tu-<timm model>'."
    )

    @field_validator("architecture")
    @classmethod
    def _architecture(cls, value: str) -> str:
        if value not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {value!r}; valid: {sorted(ARCHITECTURES)}")
        return value

    @field_validator("encoder")
    @classmethod
    def _encoder(cls, value: str) -> str:
        return check_encoder(value)


class ModelSpec(ModelChoice):
    """A network to build: architecture, encoder and channel counts."""

    in_channels: int = Field(7, ge=1, le=256, description="Number of input channels.")
    classes: int = Field(1, ge=1, le=64, description="Output channels (1 = deforming vs not, as logits).")


def build_segmentation_model(spec: ModelSpec) -> nn.Module:
    """A randomly initialised network mapping ``(B, in_channels, H, W)`` to logits ``(B, classes, H, W)``."""
    return ARCHITECTURES[spec.architecture](
        encoder_name=spec.encoder, encoder_weights=None, in_channels=spec.in_channels, classes=spec.classes
    )


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
