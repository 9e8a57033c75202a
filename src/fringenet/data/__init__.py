"""Patch datasets for learning: channels from interferogram layers, patches, splits, the Zarr store,
normalisation, augmentation, samplers and the PyTorch sample view (``samples``, ``samplers`` import torch)."""

from fringenet.data.channels import CHANNELS, DEFAULT_CHANNELS, PairLayers, derive_channels
from fringenet.data.config import DatasetConfig, RealSource, SimulatedSource
from fringenet.data.store import PatchDataset, open_patch_dataset

__all__ = [
    "CHANNELS",
    "DEFAULT_CHANNELS",
    "DatasetConfig",
    "PairLayers",
    "PatchDataset",
    "RealSource",
    "SimulatedSource",
    "derive_channels",
    "open_patch_dataset",
]
