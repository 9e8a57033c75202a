"""Patch datasets for learning: channels from interferogram layers, patches, splits, the Zarr store,
normalisation, augmentation, samplers and the PyTorch sample view (``samples``, ``samplers`` import torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from fringenet.data.channels import CHANNELS, DEFAULT_CHANNELS, PairLayers, derive_channels
    from fringenet.data.config import DatasetConfig, RealSource, SimulatedSource
    from fringenet.data.store import PatchDataset, open_patch_dataset

# Submodules load on first use: importing one light submodule (e.g. fringenet.io.atomic) must not
# import the whole package (torch, zarr, h5py, the simulator), which cost a small scene seconds.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "channels": ["CHANNELS", "DEFAULT_CHANNELS", "PairLayers", "derive_channels"],
        "config": ["DatasetConfig", "RealSource", "SimulatedSource"],
        "store": ["PatchDataset", "open_patch_dataset"],
    },
)
