"""Networks by name: one factory over segmentation-models-pytorch architectures and encoders.

Weights always start random (``encoder_weights=None``): fringenet never downloads pretrained
weights, and its inputs (phase as cos/sin, coherence, terrain) are not natural images anyway.
Besides the smp encoder-decoders, the factory builds fringenet's encoder-free, full-resolution
DnCNN family (:mod:`fringenet.models.dncnn`): ``ddnet`` (segmentation) and ``punet`` (phase
unwrapping, a regression network that only bundles and :mod:`fringenet.models.punet` use).
"""

from __future__ import annotations

from functools import lru_cache

import segmentation_models_pytorch as smp
import timm
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from torch import nn

from fringenet.models.dncnn import DDNet, PUNet

ARCHITECTURES: dict[str, type[nn.Module]] = {
    "unet": smp.Unet,
    "unetplusplus": smp.UnetPlusPlus,
    "fpn": smp.FPN,
    "deeplabv3plus": smp.DeepLabV3Plus,
    "upernet": smp.UPerNet,
    "segformer": smp.Segformer,
    "ddnet": DDNet,
}
"""Segmentation architectures by name."""

UNWRAPPING_ARCHITECTURES: dict[str, type[nn.Module]] = {"punet": PUNet}
"""Phase-unwrapping (regression) networks by name: valid in a :class:`ModelSpec`, not for segmentation."""

ENCODER_FREE = frozenset({"ddnet", "punet"})
"""Architectures without an smp encoder; their ``encoder`` is recorded as ``"none"``."""

DECODER_WIDTH_ARCHITECTURES = frozenset({"unet", "unetplusplus"})
"""Architectures whose decoder size ``decoder_width`` sets."""

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
        "resnet18",
        description="smp encoder name (resnet34, mit_b2, ...) or 'tu-<timm model>'; ignored ('none') for ddnet.",
        validate_default=True,
    )
    decoder_width: int | None = Field(
        None, ge=4, le=64,
        description=(
            "unet/unetplusplus only: channels of the full-resolution decoder stage; the stages above have 2, 4, "
            "8 and 16 times as many (None = smp's default, 16)."
        ),
    )  # fmt: skip

    @field_validator("architecture")
    @classmethod
    def _architecture(cls, value: str) -> str:
        if value not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {value!r}; valid: {sorted(ARCHITECTURES)}")
        return value

    @field_validator("encoder")
    @classmethod
    def _encoder(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("architecture") in ENCODER_FREE:
            return "none"
        return check_encoder(value)


class ModelSpec(ModelChoice):
    """A network to build: architecture, encoder and channel counts."""

    in_channels: int = Field(7, ge=1, le=256, description="Number of input channels.")
    classes: int = Field(1, ge=1, le=64, description="Output channels (1 = deforming vs not, as logits).")
    width: int | None = Field(
        None, ge=4, le=512, description="Feature channels of ddnet/punet (None = the network's default)."
    )
    depth: int | None = Field(
        None, ge=1, le=128, description="Blocks of ddnet, layers of punet (None = the network's default)."
    )

    @field_validator("architecture")
    @classmethod
    def _architecture(cls, value: str) -> str:
        if value not in ARCHITECTURES and value not in UNWRAPPING_ARCHITECTURES:
            valid = sorted(ARCHITECTURES.keys() | UNWRAPPING_ARCHITECTURES.keys())
            raise ValueError(f"unknown architecture {value!r}; valid: {valid}")
        return value

    @model_validator(mode="after")
    def _sizes(self) -> ModelSpec:
        if self.decoder_width is not None and self.architecture not in DECODER_WIDTH_ARCHITECTURES:
            raise ValueError(f"decoder_width applies to {sorted(DECODER_WIDTH_ARCHITECTURES)} only")
        if self.architecture not in ENCODER_FREE and (self.width is not None or self.depth is not None):
            raise ValueError(f"width and depth apply to {sorted(ENCODER_FREE)} only, not {self.architecture}")
        if self.architecture == "punet" and self.classes != 1:
            raise ValueError(f"punet predicts one phase map (classes must be 1, got {self.classes})")
        return self


def build_segmentation_model(spec: ModelSpec) -> nn.Module:
    """A randomly initialised network mapping ``(B, in_channels, H, W)`` to ``(B, classes, H, W)``.

    Logits for the segmentation architectures; unwrapped phase (rad) for ``punet``.
    """
    if spec.architecture in ENCODER_FREE:
        sizes = {k: v for k, v in (("width", spec.width), ("depth", spec.depth)) if v is not None}
        if spec.architecture in UNWRAPPING_ARCHITECTURES:
            return UNWRAPPING_ARCHITECTURES[spec.architecture](in_channels=spec.in_channels, **sizes)
        return ARCHITECTURES[spec.architecture](in_channels=spec.in_channels, classes=spec.classes, **sizes)
    decoder: dict[str, tuple[int, ...]] = {}
    if spec.decoder_width is not None:  # smp's default is (256, 128, 64, 32, 16)
        decoder["decoder_channels"] = tuple(spec.decoder_width * 2**k for k in (4, 3, 2, 1, 0))
    return ARCHITECTURES[spec.architecture](
        encoder_name=spec.encoder, encoder_weights=None, in_channels=spec.in_channels, classes=spec.classes,
        **decoder,
    )  # fmt: skip


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
