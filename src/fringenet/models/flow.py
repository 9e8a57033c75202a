"""A learned optical-flow model for image pairs (GeoFlowNet-style encoder-decoder, issue 12).

The network maps the pre image, the post image, their difference and the gradient of their mean,
normalised together, to the
east and north offset (px) of every pixel (:mod:`fringenet.displacement.correlate` for the convention).
It is an smp encoder-decoder (:func:`fringenet.models.segmentation.build_segmentation_model`) with two
output channels, stored as an ordinary bundle with ``task="displacement"``. Whole scenes are predicted in
overlapping windows blended with the detectors' weights.
"""

from __future__ import annotations

from os import PathLike
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from fringenet.errors import InputError
from fringenet.models.bundle import BundleInfo, load_bundle
from fringenet.models.segmentation import ModelSpec

TASK = "displacement"
CHANNELS = ["pre", "post", "post_minus_pre", "mean_d_east", "mean_d_south"]


def flow_bundle_info(
    spec: ModelSpec, *, patch_size: int, provenance: dict[str, Any] | None = None
) -> BundleInfo:
    """The bundle description of a flow model (inputs normalised per pair, see :func:`pair_channels`)."""
    return BundleInfo(
        task=TASK, model=spec, channels=list(CHANNELS),
        normalisation={c: {"mean": 0.0, "std": 1.0} for c in CHANNELS}, patch_size=patch_size,
        provenance=provenance or {},
    )  # fmt: skip


def pair_channels(pre: NDArray[np.floating], post: NDArray[np.floating]) -> NDArray[np.float32]:
    """``(5, H, W)`` float32: both images less their joint median over their joint robust spread
    (1.4826 MAD), post minus pre, and the gradient of their mean along columns and rows. NaN becomes 0 (the
    median). With the difference, the gradient gives the linearised brightness constancy
    ``post - pre ~ -grad(I) . d`` that a small offset ``d`` obeys, which the network would otherwise have to
    learn to form."""
    a, b = np.asarray(pre, dtype=np.float64), np.asarray(post, dtype=np.float64)
    both = np.concatenate([a[np.isfinite(a)], b[np.isfinite(b)]])
    if both.size == 0:
        raise InputError("image pair", "has no valid pixel (NaN everywhere)")
    centre = float(np.median(both))
    spread = 1.4826 * float(np.median(np.abs(both - centre))) or float(both.std()) or 1.0
    na = np.nan_to_num((a - centre) / spread)
    nb = np.nan_to_num((b - centre) / spread)
    d_south, d_east = np.gradient(0.5 * (na + nb))
    return np.stack([na, nb, nb - na, d_east, d_south]).astype(np.float32)


@torch.no_grad()
def predict_flow(
    model: nn.Module,
    pre: NDArray[np.floating],
    post: NDArray[np.floating],
    *,
    window: int = 256,
    overlap: int = 32,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """East and north offsets (px) ``(H, W)`` of a whole scene, in windows blended with their overlap."""
    from fringenet.detect.windows import blend_weights, window_origins
    from fringenet.models.predict import pad_to_stride

    image = pair_channels(pre, post)
    h, w = image.shape[1:]
    win_y, win_x = min(window, h), min(window, w)
    ys, xs = (
        window_origins(h, win_y, min(overlap, win_y // 2)),
        window_origins(w, win_x, min(overlap, win_x // 2)),
    )
    weights = blend_weights(max(win_y, win_x), min(overlap, min(win_y, win_x) // 2))[:win_y, :win_x]
    total = np.zeros((2, h, w), dtype=np.float64)
    norm = np.zeros((h, w), dtype=np.float64)
    model.eval()
    device = next(model.parameters()).device
    for y in ys:
        for x in xs:
            batch = torch.from_numpy(image[None, :, y : y + win_y, x : x + win_x].copy()).to(device)
            padded, (ph, pw) = pad_to_stride(batch)
            out = model(padded)[0, :, :ph, :pw].float().cpu().numpy()
            total[:, y : y + win_y, x : x + win_x] += out * weights
            norm[y : y + win_y, x : x + win_x] += weights
    flow = (total / norm).astype(np.float32)
    return flow[0], flow[1]


def load_flow_model(path: str | PathLike[str]) -> tuple[nn.Module, BundleInfo]:
    """A displacement bundle's network (CPU, eval mode) and its description."""
    model, info = load_bundle(path)
    if info.task != TASK:
        raise InputError(path, f"is a {info.task!r} bundle, not a displacement (flow) model")
    return model, info
