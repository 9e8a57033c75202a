"""Phase unwrapping with PUNet: predict a smooth unwrapped phase, then snap it onto the data.

The network's prediction is only trusted to within half a cycle: each pixel gets the unwrapped
value congruent with its wrapped phase (``wrapped + 2 pi k``) that lies nearest to the prediction,
so the result always agrees with the input modulo 2 pi, exactly like SNAPHU's or whirlwind's.
A PUNet is stored as an ordinary model bundle (:mod:`fringenet.models.bundle`) with
``task="unwrapping"`` and architecture ``punet``.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from fringenet.errors import InputError
from fringenet.insar.unwrap import UnwrapResult, coherence_or_estimate
from fringenet.models.bundle import BundleInfo, load_bundle
from fringenet.models.dncnn import PUNet, corrected_gradients, expected_correction, integrate_gradients
from fringenet.models.segmentation import ModelSpec

TASK = "unwrapping"
METHOD = "punet"
DEFAULT_PUNET_BUNDLE = Path(__file__).resolve().parent / "weights" / "punet"
"""The shipped PUNet (see fringenet.models.shipped and docs/models.md)."""
"""Where a shipped default PUNet bundle would live (may be absent)."""

TWO_PI = 2.0 * np.pi


def punet_channels(in_channels: int) -> list[str]:
    """Input channel names of a PUNet (fringenet.data.channels names)."""
    return ["cos_phase", "sin_phase", "coherence"][:in_channels]


def punet_bundle_info(
    model: PUNet, *, patch_size: int, provenance: dict[str, Any] | None = None
) -> BundleInfo:
    """The bundle description of a PUNet: task ``unwrapping``, raw (un-normalised) cos/sin inputs."""
    channels = punet_channels(model.in_channels)
    return BundleInfo(
        task=TASK,
        model=ModelSpec(
            architecture="punet",
            in_channels=model.in_channels,
            classes=1,
            width=model.width,
            depth=model.depth,
        ),
        channels=channels,
        normalisation={c: {"mean": 0.0, "std": 1.0} for c in channels},
        patch_size=patch_size,
        provenance=provenance or {},
    )


def load_punet(path: str | PathLike[str]) -> tuple[PUNet, BundleInfo]:
    """Load a PUNet bundle (eval mode, CPU); raises InputError for bundles of another task."""
    model, info = load_bundle(path)
    if info.task != TASK or not isinstance(model, PUNet):
        raise InputError(
            path,
            f"not a phase-unwrapping bundle (task {info.task!r}, architecture {info.model.architecture!r})",
        )
    return model, info


def snap_to_wrapped(
    predicted: ArrayLike, wrapped: ArrayLike, weights: ArrayLike | None = None
) -> NDArray[np.float64]:
    """The phase congruent with ``wrapped`` nearest to ``predicted`` (rad), ``(H, W)`` float64.

    The prediction's level is arbitrary, so it is first shifted by the (``weights``-weighted)
    circular mean of ``wrapped - predicted``: otherwise a level near pi would round half the pixels
    the wrong way. Then ``k = round((predicted - wrapped) / 2 pi)`` and the result is
    ``wrapped + 2 pi k``. NaN where ``wrapped`` or ``predicted`` is NaN.
    """
    pred = np.asarray(predicted, dtype=np.float64)
    phase = np.asarray(wrapped, dtype=np.float64)
    if pred.shape != phase.shape:
        raise InputError("snap", f"prediction shape {pred.shape} does not match the phase {phase.shape}")
    valid = np.isfinite(pred) & np.isfinite(phase)
    w = np.ones(phase.shape) if weights is None else np.nan_to_num(np.asarray(weights, dtype=np.float64))
    if w.shape != phase.shape:
        raise InputError("snap", f"weights shape {w.shape} does not match the phase {phase.shape}")
    out = np.full(phase.shape, np.nan)
    if not valid.any():
        return out
    residual = phase[valid] - pred[valid]
    wv = np.clip(w[valid], 0.0, None)
    if wv.sum() <= 0:
        wv = np.ones_like(wv)
    aligned = pred[valid] + np.angle(np.sum(wv * np.exp(1j * residual)))
    out[valid] = phase[valid] + TWO_PI * np.rint((aligned - phase[valid]) / TWO_PI)
    return out


@torch.no_grad()
def predict_phase(
    model: nn.Module, image: NDArray[np.float32], *, device: torch.device | None = None, tile_px: int = 1024
) -> NDArray[np.float64]:
    """The network's unwrapped phase ``(H, W)`` (rad, float64) for one input image ``(C, H, W)``.

    A :class:`PUNet`'s convolutions are local, so on large images they run in overlapping tiles of
    ``tile_px`` (with a halo covering the receptive field, giving the same numbers as one pass);
    only the gap filling and the least-squares integration see the whole image. Any other module
    is called once.
    """
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    model.eval()
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None]
    h, w = x.shape[-2:]
    if not isinstance(model, PUNet):
        return model(x.to(device))[0, 0].double().cpu().numpy()
    if tile_px < 16:
        raise InputError("punet", f"tile size must be >= 16 px (got {tile_px})")
    x = x.to(device)
    valid, wrapped = model.prepare(x)  # cheap and global: holes of any size are bridged
    correction = torch.empty_like(wrapped)
    residual = torch.empty_like(wrapped)
    halo = model.halo_px
    for y0 in range(0, h, tile_px):
        for x0 in range(0, w, tile_px):
            y1, x1 = min(y0 + tile_px, h), min(x0 + tile_px, w)
            ya, xa, yb, xb = max(y0 - halo, 0), max(x0 - halo, 0), min(y1 + halo, h), min(x1 + halo, w)
            logits, res = model.head(x[..., ya:yb, xa:xb], wrapped[..., ya:yb, xa:xb])
            inner = (..., slice(y0 - ya, y1 - ya), slice(x0 - xa, x1 - xa))
            correction[..., y0:y1, x0:x1] = expected_correction(logits)[inner]
            residual[..., y0:y1, x0:x1] = res[inner]
    gradients = corrected_gradients(valid, wrapped, correction, residual)
    # float64 integration: tens of fringes over a large scene would lose ~1e-4 rad in float32
    return integrate_gradients(gradients.double().cpu())[0, 0].numpy()


def unwrap_with_punet(
    wrapped_phase: ArrayLike,
    model: nn.Module,
    *,
    coherence: ArrayLike | None = None,
    device: torch.device | None = None,
    tile_px: int = 1024,
    min_coherence: float = 0.0,
) -> UnwrapResult:
    """Unwrap a wrapped interferogram with a phase-unwrapping network.

    Parameters
    ----------
    wrapped_phase
        Wrapped phase (rad), ``(H, W)``; NaN = missing (fed to the network as cos = sin = 0).
    model
        A :class:`PUNet` (e.g. from :func:`load_punet`), or any module with an ``in_channels``
        attribute (default 2) mapping ``(1, C, H, W)`` to a phase ``(1, 1, H, W)``.
    coherence
        Coherence in [0, 1], same shape. Without it a pseudo-coherence is estimated from the phase
        (as :func:`fringenet.insar.unwrap.unwrap` does). It weights the alignment of the
        prediction's level and is the third input channel of 3-channel models.
    device
        Torch device (default: the model's).
    tile_px
        Tile size of the convolutional part on large images.
    min_coherence
        Pixels of lower (pseudo-)coherence are given to the network as no data, so it bridges them
        like holes instead of integrating their noise; they are still unwrapped (snapped onto the
        data). 0 = off.

    Returns
    -------
    UnwrapResult
        ``unwrapped`` = input + 2 pi k per pixel (float64, NaN where the input is NaN), level
        arbitrary; ``components`` is 1 on every valid pixel (the network unwraps them jointly);
        ``method="punet"``.
    """
    phase = np.asarray(wrapped_phase, dtype=np.float64)
    if phase.ndim != 2 or min(phase.shape) < 2:
        raise InputError("punet", f"expected a 2-D phase image of at least 2 x 2 (got shape {phase.shape})")
    valid = np.isfinite(phase)
    if not valid.any():
        raise InputError("punet", "no valid pixel to unwrap (all NaN)")
    coh, source = coherence_or_estimate(phase, coherence)
    coh = np.clip(np.where(valid, np.nan_to_num(coh), 0.0), 0.0, 1.0)
    seen = valid & (coh >= min_coherence)
    if not seen.any():
        raise InputError("punet", f"no pixel has coherence >= {min_coherence}")
    filled = np.where(seen, phase, 0.0)
    layers = [np.where(seen, np.cos(filled), 0.0), np.where(seen, np.sin(filled), 0.0), coh]
    in_channels = int(getattr(model, "in_channels", 2))
    if in_channels not in (2, 3):
        raise InputError("punet", f"the model takes {in_channels} channels; expected 2 or 3")
    image = np.stack(layers[:in_channels]).astype(np.float32)
    predicted = predict_phase(model, image, device=device, tile_px=tile_px)
    unwrapped = snap_to_wrapped(np.where(valid, predicted, np.nan), phase, weights=coh)
    return UnwrapResult(unwrapped, valid.astype(np.int64), source, METHOD)
