"""Automatic device choice: CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import torch

from fringenet.errors import InputError


def select_device(preference: str = "auto") -> torch.device:
    """The device to run on: ``auto`` picks CUDA, MPS or CPU in that order; a named device must exist."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preference)
    except RuntimeError as err:
        raise InputError("device", f"unknown device {preference!r} ({err})") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device", "CUDA was requested but no CUDA device is available")
    return device
