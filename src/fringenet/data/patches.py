"""Cut a scene's channels, label and valid mask into fixed-size patches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from fringenet.data.channels import make_relative
from fringenet.errors import InputError


@dataclass(frozen=True)
class Patches:
    """Patches of one scene: ``image (N, C, P, P)`` float32 (0 where invalid), ``label`` and ``valid``
    ``(N, P, P)`` uint8, and each patch's upper-left ``(row, col)`` in the scene."""

    image: NDArray[np.float32]
    label: NDArray[np.uint8]
    valid: NDArray[np.uint8]
    rows: NDArray[np.int64]
    cols: NDArray[np.int64]


def patch_origins(height: int, width: int, size: int, stride: int | None = None) -> list[tuple[int, int]]:
    """Upper-left corners of patches covering an ``(height, width)`` scene.

    Non-overlapping by default (``stride = size``). The last row/column of patches may hang over
    the scene's edge; those pixels are padded and marked invalid, so no part of the scene is lost.
    """
    if size < 1:
        raise InputError("patches", f"patch size must be positive (got {size})")
    step = size if stride is None else stride
    if step < 1:
        raise InputError("patches", f"stride must be positive (got {step})")

    def starts(n: int) -> list[int]:
        last = max(n - size, 0)
        out = list(range(0, last + 1, step))
        if out[-1] + size < n:
            out.append(out[-1] + step)
        return out

    return [(r, c) for r in starts(height) for c in starts(width)]


def cut_patches(
    channels: NDArray[np.float32],
    label: NDArray[np.integer] | NDArray[np.bool_],
    valid: NDArray[np.bool_],
    channel_names: tuple[str, ...],
    size: int,
    *,
    stride: int | None = None,
    min_valid_fraction: float = 0.2,
) -> Patches:
    """Tile ``channels (C, H, W)``, ``label (H, W)`` and ``valid (H, W)`` into patches.

    A pixel is valid only where ``valid`` is true and every channel is finite. Patches with less
    than ``min_valid_fraction`` valid pixels are dropped. Invalid pixels are set to 0 in the image
    and the label; patch-relative channels get their patch median removed.
    """
    c, height, width = channels.shape
    if label.shape != (height, width) or valid.shape != (height, width):
        raise InputError(
            "patches", f"label {label.shape} / valid {valid.shape} differ from the channels {channels.shape}"
        )
    ok = valid & np.all(np.isfinite(channels), axis=0)
    images, labels, valids, rows, cols = [], [], [], [], []
    for r, col in patch_origins(height, width, size, stride):
        img = np.zeros((c, size, size), dtype=np.float32)
        lab = np.zeros((size, size), dtype=np.uint8)
        val = np.zeros((size, size), dtype=bool)
        h, w = min(size, height - r), min(size, width - col)
        img[:, :h, :w] = channels[:, r : r + h, col : col + w]
        lab[:h, :w] = label[r : r + h, col : col + w] > 0
        val[:h, :w] = ok[r : r + h, col : col + w]
        if val.mean() < min_valid_fraction:
            continue
        lab[~val] = 0
        make_relative(img, val, channel_names)  # medians over valid pixels only
        img[:, ~val] = 0.0
        images.append(img)
        labels.append(lab)
        valids.append(val.astype(np.uint8))
        rows.append(r)
        cols.append(col)
    if not images:
        return Patches(
            np.zeros((0, c, size, size), np.float32), np.zeros((0, size, size), np.uint8),
            np.zeros((0, size, size), np.uint8), np.zeros(0, np.int64), np.zeros(0, np.int64),
        )  # fmt: skip
    return Patches(
        np.stack(images),
        np.stack(labels),
        np.stack(valids),
        np.asarray(rows, np.int64),
        np.asarray(cols, np.int64),
    )
