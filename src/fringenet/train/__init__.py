"""Training: configs, masked losses and the segmentation trainer (checkpoints, resume, logs, bundle)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from fringenet.train.config import TrainConfig
    from fringenet.train.trainer import TrainOutput, run_train

# Submodules load on first use: importing one light submodule (e.g. fringenet.io.atomic) must not
# import the whole package (torch, zarr, h5py, the simulator), which cost a small scene seconds.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__, submod_attrs={"config": ["TrainConfig"], "trainer": ["TrainOutput", "run_train"]}
)
