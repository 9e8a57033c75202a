"""Networks by name: one factory over segmentation-models-pytorch architectures and encoders.

Weights always start random (``encoder_weights=None``): fringenet never downloads pretrained
weights, and its inputs (phase as cos/sin, coherence, terrain) are not natural images anyway.
Besides the smp encoder-decoders, the factory builds fringenet's encoder-free, full-resolution
DnCNN family (:mod:`fringenet.models.dncnn`): ``ddnet`` (segmentation) and ``punet`` (phase
unwrapping, a regression network that only bundles and :mod:`fringenet.models.punet` use).
"""

from __future__ import annotations

from fringenet.models._torchvision import ensure_torchvision

ensure_torchvision()  # smp and timm import torchvision, whose extension may not load beside a CPU torch

import segmentation_models_pytorch as smp  # noqa: E402
from torch import nn  # noqa: E402

from fringenet.models.dncnn import DDNet, PUNet  # noqa: E402
from fringenet.models.spec import (  # noqa: E402,F401  (re-exported: the specs live apart from smp)
    DECODER_WIDTH_ARCHITECTURES,
    ENCODER_FREE,
    OUTPUT_STRIDE,
    ModelChoice,
    ModelSpec,
    check_encoder,
    encoder_names,
)

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
