"""Neural networks: a small registry and factory over segmentation-models-pytorch, saved as bundles."""

from fringenet.models._torchvision import ensure_torchvision

ensure_torchvision()
