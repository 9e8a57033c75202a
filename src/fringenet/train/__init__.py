"""Training: configs, masked losses and the segmentation trainer (checkpoints, resume, logs, bundle)."""

from fringenet.train.config import TrainConfig
from fringenet.train.trainer import TrainOutput, run_train

__all__ = ["TrainConfig", "TrainOutput", "run_train"]
