"""Class-imbalance handling: label-size buckets, a bucket sampler and small-object crops."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from scipy import ndimage
from torch.utils.data import Sampler

BUCKETS = ("none", "small", "medium", "large")


def label_buckets(labelled_px: NDArray[np.integer]) -> NDArray[np.int64]:
    """Bucket of each sample: 0 no label, then 1/2/3 = small/medium/large by terciles of the
    labelled-pixel counts of the samples that have labels."""
    counts = np.asarray(labelled_px, dtype=np.float64)
    buckets = np.zeros(counts.size, dtype=np.int64)
    positive = counts > 0
    if positive.any():
        edges = np.quantile(counts[positive], [1 / 3, 2 / 3])
        buckets[positive] = 1 + np.searchsorted(edges, counts[positive], side="right")
        buckets[positive] = np.minimum(buckets[positive], 3)
    return buckets


class BucketSampler(Sampler[int]):
    """Draw ``num_samples`` indices per epoch: a bucket by ``probabilities``, then a sample within it.

    Empty buckets are dropped and the remaining probabilities renormalised. Each epoch's draw is
    seeded by ``(seed, epoch)`` (call :meth:`set_epoch`), so a resumed run draws what the original
    would have.
    """

    def __init__(
        self, buckets: NDArray[np.int64], probabilities: Sequence[float], num_samples: int, seed: int = 0
    ) -> None:
        self.buckets = np.asarray(buckets)
        present = np.array([(self.buckets == b).sum() for b in range(len(BUCKETS))], dtype=np.float64)
        p = np.asarray(probabilities, dtype=np.float64) * (present > 0)
        if p.sum() <= 0:
            p = (present > 0).astype(np.float64)  # only buckets without probability are present
        p /= p.sum()
        self.weights = np.where(present[self.buckets] > 0, p[self.buckets] / present[self.buckets], 0.0)
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def bucket_shares(self) -> dict[str, float]:
        """Expected share of each bucket in a draw."""
        return {name: float(self.weights[self.buckets == b].sum()) for b, name in enumerate(BUCKETS)}

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        draw = torch.multinomial(
            torch.as_tensor(self.weights), self.num_samples, replacement=True, generator=generator
        )
        return iter(draw.tolist())

    def __len__(self) -> int:
        return self.num_samples


@dataclass(frozen=True)
class Crop:
    """A window ``(row, col, size)`` of patch ``index`` around a small object, holding ``labelled_px`` labelled pixels."""

    index: int
    row: int
    col: int
    size: int
    labelled_px: int


def small_object_crops(index: int, label: NDArray, max_object_px: int, crop_px: int) -> list[Crop]:
    """One crop of ``crop_px`` around each 8-connected object of at most ``max_object_px`` pixels,
    centred on the object and kept inside the patch."""
    components, n = ndimage.label(np.asarray(label) > 0, structure=np.ones((3, 3)))
    if n == 0:
        return []
    height, width = label.shape
    size = min(crop_px, height, width)
    areas = ndimage.sum_labels(np.ones_like(components), components, index=np.arange(1, n + 1))
    centres = ndimage.center_of_mass(np.ones_like(components), components, index=np.arange(1, n + 1))
    crops = []
    for area, (cy, cx) in zip(areas, centres, strict=True):
        if area > max_object_px:
            continue
        row = int(np.clip(round(cy) - size // 2, 0, height - size))
        col = int(np.clip(round(cx) - size // 2, 0, width - size))
        inside = int((np.asarray(label)[row : row + size, col : col + size] > 0).sum())
        crops.append(Crop(index, row, col, size, inside))
    return crops


def place_crop(array: NDArray, crop: Crop, fill: float = 0) -> NDArray:
    """Cut ``crop`` out of ``array (..., h, w)`` and centre it on a canvas of the original size (padding = fill)."""
    h, w = array.shape[-2:]
    out = np.full(array.shape, fill, dtype=array.dtype)
    top, left = (h - crop.size) // 2, (w - crop.size) // 2
    out[..., top : top + crop.size, left : left + crop.size] = array[
        ..., crop.row : crop.row + crop.size, crop.col : crop.col + crop.size
    ]
    return out
