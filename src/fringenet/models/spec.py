"""What a network is, without building it: the pydantic specs of the segmentation and time-series
networks and the constants they need.

Kept apart from :mod:`fringenet.models.segmentation` and :mod:`fringenet.models.temporal` (which import
segmentation-models-pytorch and timm, and through timm torchvision) so that reading a bundle's
description and running a compiled network (:mod:`fringenet.models.compiled`) import neither.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

SEGMENTATION_ARCHITECTURES = ("unet", "unetplusplus", "fpn", "deeplabv3plus", "upernet", "segformer", "ddnet")
"""Segmentation architectures by name (built by :func:`fringenet.models.segmentation.build_segmentation_model`)."""
UNWRAPPING_ARCHITECTURE_NAMES = ("punet",)
"""Phase-unwrapping (regression) networks: valid in a :class:`ModelSpec`, not for segmentation."""
ENCODER_CHECKED = "encoder_checked"
"""Validation context key: the encoder name was checked when the spec was written (a bundle's), so reading
it does not import smp and timm to check it again."""

ENCODER_FREE = frozenset({"ddnet", "punet"})
"""Architectures without an smp encoder; their ``encoder`` is recorded as ``"none"``."""

DECODER_WIDTH_ARCHITECTURES = frozenset({"unet", "unetplusplus"})
"""Architectures whose decoder size ``decoder_width`` sets."""

OUTPUT_STRIDE = 32
"""Input height and width must be multiples of this (the encoders downsample five times)."""


@lru_cache(maxsize=1)
def encoder_names() -> tuple[str, ...]:
    """Native smp encoder names; any timm model is also accepted as ``tu-<timm name>``."""
    from fringenet.models._torchvision import ensure_torchvision

    ensure_torchvision()
    import segmentation_models_pytorch as smp

    return tuple(sorted(smp.encoders.get_encoder_names()))


def check_encoder(name: str) -> str:
    """Return ``name`` if smp or timm knows it; otherwise raise ValueError listing choices."""
    if name in encoder_names():
        return name
    if name.startswith("tu-"):
        import timm  # after encoder_names(), which made torchvision importable

        if timm.is_model(name[3:]):
            return name
    examples = ", ".join(n for n in encoder_names() if n.startswith(("resnet", "mit_", "efficientnet-b")))
    raise ValueError(f"unknown encoder {name!r}; smp encoders include {examples}, or 'tu-<timm model>'")


class ModelChoice(BaseModel):
    """Which network: decoder architecture and encoder."""

    model_config = ConfigDict(extra="forbid")

    architecture: str = Field(
        "unet", description=f"Decoder architecture, one of {sorted(SEGMENTATION_ARCHITECTURES)}."
    )
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
        if value not in SEGMENTATION_ARCHITECTURES:
            raise ValueError(f"unknown architecture {value!r}; valid: {sorted(SEGMENTATION_ARCHITECTURES)}")
        return value

    @field_validator("encoder")
    @classmethod
    def _encoder(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("architecture") in ENCODER_FREE:
            return "none"
        if info.context and info.context.get(ENCODER_CHECKED):
            return value
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
        if value not in SEGMENTATION_ARCHITECTURES and value not in UNWRAPPING_ARCHITECTURE_NAMES:
            valid = sorted({*SEGMENTATION_ARCHITECTURES, *UNWRAPPING_ARCHITECTURE_NAMES})
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


TEMPORAL_ARCHITECTURES = ("st_transformer", "coherence_transformer", "hybrid")
"""Time-series architectures by name."""

TIME_FEATURES = 7
"""Per-step time features: t_ref, t_sec (yr since the first date), baseline (yr), sin/cos day of year of both."""
TERRAIN_CHANNELS = 4
"""Terrain context channels: elevation (km, window-relative), slope (/45 deg), sin and cos of aspect."""
PAIR_CHANNELS = 4
"""Interferogram step channels: cos and sin of the wrapped phase, coherence, and the pair's share of the
stacked phase rate (see :func:`fringenet.data.sequences.interferogram_inputs`)."""
RATE_SCALE_RAD_PER_YR = 10.0
"""The network's velocity output is phase rate / this (about 4.4 cm/yr at C band), so targets are O(1)."""
RATE_CLIP = 10.0
"""Limit of the per-pair phase-rate channel (in RATE_SCALE units); noise on short baselines exceeds it."""


class TemporalModelSpec(BaseModel):
    """A time-series network to build."""

    model_config = ConfigDict(extra="forbid")

    architecture: Literal["st_transformer", "coherence_transformer", "hybrid"] = Field(
        "st_transformer", description=f"Token representation, one of {TEMPORAL_ARCHITECTURES}."
    )
    encoder: str = Field(
        "conv",
        description="hybrid only: the per-interferogram CNN, 'conv' (built-in, 3 stages) or a timm model "
        "with features_only (e.g. 'ghostnet_050'); 'none' for the other architectures.",
    )
    dim: int = Field(64, ge=8, le=1024, description="Token width.")
    depth: int = Field(
        4, ge=1, le=24, description="Factorised blocks (each: time attention + space attention)."
    )
    heads: int = Field(4, ge=1, le=32, description="Attention heads.")
    patch: int = Field(8, ge=2, le=32, description="Tile side (px) of a token (hybrid: fixed at 8).")
    max_steps: int = Field(
        32, ge=2, le=512, description="Most interferograms (or dates, coherence_transformer) per input."
    )
    min_steps: int = Field(
        3, ge=1, le=512, description="Fewest interferograms (or dates) the model accepts (clear error below)."
    )
    terrain: bool = Field(True, description="Embed terrain (elevation, slope, aspect); zeros where no DEM.")
    drop_path: float = Field(0.05, ge=0.0, le=0.5, description="Stochastic depth rate of the last block.")

    @model_validator(mode="after")
    def _check(self) -> TemporalModelSpec:
        if self.architecture != "hybrid":
            self.encoder = "none"
        elif self.encoder == "none":
            self.encoder = "conv"
        if self.architecture == "hybrid":
            self.patch = 8
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} must be a multiple of heads {self.heads}")
        if self.min_steps > self.max_steps:
            raise ValueError(f"min_steps {self.min_steps} exceeds max_steps {self.max_steps}")
        return self

    @property
    def step_channels(self) -> int:
        """Channels of one step's image."""
        return 4 * self.max_steps if self.architecture == "coherence_transformer" else PAIR_CHANNELS

    @property
    def steps_are_dates(self) -> bool:
        return self.architecture == "coherence_transformer"
