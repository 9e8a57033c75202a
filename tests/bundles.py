"""Test helper: a tiny, randomly initialised segmentation bundle (seeded), as the pipeline tests need one."""

from pathlib import Path
from typing import Any


def tiny_bundle(
    path: Path, *, architecture: str = "ddnet", channels: tuple[str, ...] = ("cos_phase", "sin_phase"),
    threshold: float = 0.5, patch_size: int = 64, **spec: Any,
) -> Path:  # fmt: skip
    """Save a bundle at ``path``: ``architecture`` (``ddnet`` 8 wide, 1 block, unless ``spec`` says otherwise;
    ``segformer`` on mit_b0) over ``channels`` with zero-mean, unit-std normalisation."""
    import torch

    from fringenet.models.bundle import BundleInfo, save_bundle
    from fringenet.models.segmentation import ModelSpec, build_segmentation_model

    torch.manual_seed(0)
    defaults = {"width": 8, "depth": 1} if architecture == "ddnet" else {"encoder": "mit_b0"}
    model_spec = ModelSpec(
        architecture=architecture, in_channels=len(channels), classes=1, **{**defaults, **spec}
    )
    info = BundleInfo(
        model=model_spec, channels=list(channels), normalisation={c: {"mean": 0.0, "std": 1.0} for c in channels},
        threshold=threshold, patch_size=patch_size,
    )  # fmt: skip
    return save_bundle(path, build_segmentation_model(model_spec), info)
