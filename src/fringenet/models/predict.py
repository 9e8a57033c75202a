"""Apply a segmentation network to normalised patches."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from fringenet.models.segmentation import OUTPUT_STRIDE


def pad_to_stride(x: torch.Tensor, stride: int = OUTPUT_STRIDE) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad ``(B, C, H, W)`` on the bottom/right to multiples of ``stride``; returns the original size."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % stride, (-w) % stride
    return (F.pad(x, (0, pw, 0, ph)) if ph or pw else x), (h, w)


@torch.no_grad()
def predict_probabilities(
    model: nn.Module, images: NDArray[np.float32], *, batch_size: int = 8, device: torch.device | None = None
) -> NDArray[np.float32]:
    """Deformation probability ``(N, H, W)`` in [0, 1] for normalised images ``(N, C, H, W)``."""
    device = device or next(model.parameters()).device
    model.eval()
    out = np.empty((images.shape[0], *images.shape[-2:]), dtype=np.float32)
    for start in range(0, images.shape[0], batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).to(device)
        padded, (h, w) = pad_to_stride(batch)
        logits = model(padded)[:, 0, :h, :w]
        out[start : start + batch.shape[0]] = torch.sigmoid(logits.float()).cpu().numpy()
    return out
