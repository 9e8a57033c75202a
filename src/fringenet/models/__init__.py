"""Neural networks: a small registry and factory over segmentation-models-pytorch, saved as bundles.

``fringenet.models.segmentation`` and ``fringenet.models.temporal`` import smp and timm (making
torchvision importable first, see ``_torchvision``); ``spec`` and ``bundle`` import neither, so reading a
bundle and running a compiled network stay light.
"""
