"""A trained model as a self-contained folder: weights (safetensors) and everything needed to use them.

``bundle.json`` holds the model spec, the input channel list, the normalisation statistics, the
decision threshold chosen on validation data, the patch size and the training data's provenance,
so a bundle can be applied to new data without its training run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors.torch import load_file, save_file
from torch import nn

from fringenet.errors import InputError
from fringenet.io.atomic import atomic_path
from fringenet.models.spec import ENCODER_CHECKED, ModelSpec, TemporalModelSpec

WEIGHTS = "model.safetensors"
META = "bundle.json"


class BundleInfo(BaseModel):
    """What a bundle says about its model."""

    model_config = ConfigDict(extra="forbid")

    format: str = Field("fringenet-bundle/1", description="Bundle format version.")
    task: str = Field("segmentation", description="What the network predicts.")
    model: ModelSpec | TemporalModelSpec = Field(
        description="The network: a segmentation/unwrapping spec, or a time-series spec (task 'temporal')."
    )
    channels: list[str] = Field(description="Input channels in order (fringenet.data.channels names).")
    normalisation: dict[str, dict[str, float]] = Field(
        description="Per-channel mean and std (training split)."
    )
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="Probability threshold chosen on validation.")
    grow_threshold: float | None = Field(
        None, ge=0.0, le=1.0,
        description="Hysteresis: pixels above this probability join a detection that reaches ``threshold`` "
        "(edge-connected); None: ``threshold`` alone. Chosen with the threshold on independent scenes.",
    )  # fmt: skip
    patch_size: int = Field(256, ge=16, description="Patch size the model was trained on (pixels).")
    scan_window: int | None = Field(
        None, ge=32, le=4096,
        description="Window side (px) scans use unless told otherwise; None: the patch size. Set when a model "
        "ships scanned with other windows than it trained on (chosen on independent scenes).",
    )  # fmt: skip
    provenance: dict[str, Any] = Field(default_factory=dict, description="Training data, config, versions.")

    @property
    def default_window(self) -> int:
        """The window side (px) a scan uses without ``--window``."""
        return self.scan_window or self.patch_size


def save_bundle(path: str | PathLike[str], model: nn.Module, info: BundleInfo) -> Path:
    """Write the bundle folder atomically; returns its path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.mkdir(parents=True)
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS), metadata={"format": info.format})
        (tmp / META).write_text(info.model_dump_json(indent=2))
    return path


def read_bundle_info(path: str | PathLike[str]) -> BundleInfo:
    """The metadata of a bundle, validated (no weights loaded)."""
    path = Path(path)
    meta = path / META
    if not meta.is_file():
        raise InputError(path, f"not a model bundle (no {META})")
    try:
        # the encoder was checked when the bundle was written: reading it needs neither smp nor timm
        return BundleInfo.model_validate(json.loads(meta.read_text()), context={ENCODER_CHECKED: True})
    except (ValueError, ValidationError) as err:
        raise InputError(meta, f"invalid bundle description ({err})") from err


def load_bundle(path: str | PathLike[str]) -> tuple[nn.Module, BundleInfo]:
    """Rebuild the network of a bundle and load its weights (in eval mode, on the CPU)."""
    path = Path(path)
    info = read_bundle_info(path)
    if isinstance(info.model, TemporalModelSpec):
        from fringenet.models.temporal import build_temporal_model

        model: nn.Module = build_temporal_model(info.model)
    else:
        from fringenet.models.segmentation import build_segmentation_model

        model = build_segmentation_model(info.model)
    try:
        state = load_file(str(path / WEIGHTS))
        model.load_state_dict(state)
    except (OSError, RuntimeError, ValueError) as err:
        raise InputError(
            path / WEIGHTS, f"weights do not load into {info.model.architecture}/{info.model.encoder} ({err})"
        ) from err
    model.eval()
    return model, info


_SHARED: list[dict[tuple[str, int], tuple[nn.Module, BundleInfo]]] = []
"""The bundles loaded within the open :func:`bundles_loaded_once` blocks (innermost last)."""


@contextmanager
def bundles_loaded_once() -> Iterator[None]:
    """Within the block, :func:`load_shared_bundle` loads each bundle once and hands out the same network.

    For a call that scans many products with the same models (``fringenet detect a.tif b.tif ...``);
    the networks are released when the block ends. Outside a block every call loads afresh.
    """
    _SHARED.append({})
    try:
        yield
    finally:
        _SHARED.pop()


def load_shared_bundle(path: str | PathLike[str]) -> tuple[nn.Module, BundleInfo]:
    """The network for applying the bundle (:func:`fringenet.models.compiled.load_for_inference`), or the
    one loaded earlier in the open :func:`bundles_loaded_once` block (keyed by the bundle's resolved path
    and its weights' modification time)."""
    from fringenet.models.compiled import load_for_inference

    if not _SHARED:
        return load_for_inference(path)
    resolved = Path(path).resolve()
    weights = resolved / WEIGHTS
    key = (str(resolved), weights.stat().st_mtime_ns if weights.exists() else 0)
    loaded = _SHARED[-1]
    if key not in loaded:
        loaded[key] = load_for_inference(path)
    return loaded[key]
