"""Apply a segmentation network to normalised patches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from fringenet.models.spec import OUTPUT_STRIDE


def pad_to_stride(x: torch.Tensor, stride: int = OUTPUT_STRIDE) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad ``(B, C, H, W)`` on the bottom/right to multiples of ``stride``; returns the original size."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % stride, (-w) % stride
    return (F.pad(x, (0, pw, 0, ph)) if ph or pw else x), (h, w)


def cpu_has_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX), where autocast pays off."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def to_channels_last(model: nn.Module) -> bool:
    """Store a convolutional network's 4-D weights channels-last (once; in place) and say whether it is.

    oneDNN's convolutions run 1.5-1.8x faster so on CPU (bf16 and float32), as do cuDNN's under autocast; the
    arithmetic is the same. A network without 4-D weights is left as it is.
    """
    first = next((p for p in model.parameters() if p.dim() == 4), None)
    if first is None:
        return False
    if not first.is_contiguous(memory_format=torch.channels_last):
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return True


@torch.no_grad()
def predict_probabilities(
    model: nn.Module,
    images: NDArray[np.float32],
    *,
    batch_size: int = 8,
    device: torch.device | None = None,
    bfloat16: bool = False,
) -> NDArray[np.float32]:
    """Deformation probability ``(N, H, W)`` in [0, 1] for normalised images ``(N, C, H, W)``.

    ``bfloat16`` runs the forward pass under CPU bfloat16 autocast (several times faster on CPUs
    with native bf16; probabilities change by about 1e-2); it is ignored on other devices.
    """
    device = device or next(model.parameters()).device
    model.eval()
    channels_last = to_channels_last(model)
    autocast = bfloat16 and torch.device(device).type == "cpu"
    out = np.empty((images.shape[0], *images.shape[-2:]), dtype=np.float32)
    for start in range(0, images.shape[0], batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).to(device)
        padded, (h, w) = pad_to_stride(batch)
        if channels_last:
            padded = padded.contiguous(memory_format=torch.channels_last)
        # a traced network's optimising executor profiles its first two calls (0.3 s at 256 px); only
        # autocast needs it, float32 runs as fast without
        with (
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast),
            torch.jit.optimized_execution(autocast),
        ):
            logits = model(padded)[:, 0, :h, :w]
        out[start : start + batch.shape[0]] = torch.sigmoid(logits.float()).cpu().numpy()
    return out
