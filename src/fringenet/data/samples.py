"""A PyTorch view of a patch dataset split: dict samples with fixed keys.

Each sample is ``{"image": (C, P, P) float32 normalised, "target": (1, P, P) float32 (soft or hard
label), "label": (1, P, P) float32 hard label, "valid": (1, P, P) float32, "index": patch index}``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import Dataset

from fringenet.data.augment import augment
from fringenet.data.normalise import normalise
from fringenet.data.samplers import Crop, place_crop
from fringenet.data.store import PatchDataset
from fringenet.data.targets import soft_labels
from fringenet.errors import InputError


def channel_positions(dataset: PatchDataset, channels: Sequence[str], source: str = "model") -> list[int]:
    """Positions of ``channels`` in the dataset's channel list; a clear error if any is missing."""
    missing = [c for c in channels if c not in dataset.channels]
    if missing:
        raise InputError(
            dataset.path, f"the {source} needs channel(s) {missing}, the dataset has {list(dataset.channels)}"
        )
    return [dataset.channels.index(c) for c in channels]


class PatchSamples(Dataset[dict[str, torch.Tensor]]):
    """Samples of one split (plus optional small-object crops), normalised with the given statistics.

    Augmentation (training only) draws from a generator seeded by ``(seed, epoch, item)``, so runs
    and resumed runs repeat exactly; call :meth:`set_epoch` each epoch.
    """

    def __init__(
        self,
        dataset: PatchDataset,
        indices: NDArray[np.int64],
        channels: Sequence[str],
        statistics: dict[str, dict[str, float]],
        *,
        crops: Sequence[Crop] = (),
        label_sigma_px: float = 0.0,
        augment: bool = False,
        dihedral: bool = True,
        phase_offset: bool = True,
        seed: int = 0,
    ) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        self.channels = tuple(channels)
        self.positions = channel_positions(dataset, self.channels)
        self.statistics = statistics
        self.crops = list(crops)
        self.sigma = label_sigma_px
        self.augment = augment
        self.dihedral = dihedral
        self.phase_offset = phase_offset
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.indices.size + len(self.crops)

    def labelled_pixels(self) -> NDArray[np.int64]:
        """Labelled pixels of every item (patches from the table, crops as counted when they were cut)."""
        table = self.dataset.table["labelled_px"].to_numpy()
        counts = [int(table[i]) for i in self.indices] + [crop.labelled_px for crop in self.crops]
        return np.asarray(counts, dtype=np.int64)

    def raw(self, item: int) -> tuple[NDArray[np.float32], NDArray, NDArray, int]:
        """Raw channels ``(C, P, P)``, label and valid of an item, and its patch index."""
        if item < self.indices.size:
            index = int(self.indices[item])
            image, label, valid = self.dataset.read(index)
            return image[self.positions], label, valid, index
        crop = self.crops[item - self.indices.size]
        image, label, valid = self.dataset.read(crop.index)
        return (
            place_crop(image[self.positions], crop),
            place_crop(label, crop),
            place_crop(valid, crop),
            crop.index,
        )

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        image, label, valid, index = self.raw(item)
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, item])
            image, label, valid = augment(
                image, label, valid, self.channels, rng, phase_offset=self.phase_offset
            )
        image = normalise(image, valid, self.statistics, self.channels)
        target = soft_labels(label, self.sigma)
        return {
            "image": torch.from_numpy(image),
            "target": torch.from_numpy(target[None]),
            "label": torch.from_numpy((label > 0).astype(np.float32)[None]),
            "valid": torch.from_numpy((valid > 0).astype(np.float32)[None]),
            "index": torch.tensor(index),
        }
