"""Bundles applied through TorchScript: traced once per bundle, cached, then loaded with torch alone.

Building a network from its bundle imports segmentation-models-pytorch and timm, and timm imports
torchvision (with ``torch._dynamo``): several seconds before the first window of a small scene. A
segmentation bundle is therefore traced (:func:`torch.jit.trace`) the first time it is applied and the
trace kept in a cache folder keyed by the bundle's bytes and the torch version; later runs load the
trace with ``torch.jit.load`` and import none of those. The trace is kept only when it reproduces the
network on an input of another size and batch than the one it was traced on (the scans' windows vary);
otherwise, for time-series bundles, or with ``FRINGENET_CACHE=off``, the network is built as usual.

The cache is derived on this machine from the bundle's own weights (nothing is downloaded) and only
traces of fringenet's own tracing are ever loaded from it. ``FRINGENET_CACHE`` sets its folder
(default ``$XDG_CACHE_HOME/fringenet`` or ``~/.cache/fringenet``); a folder that cannot be written just
means no cache.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from os import PathLike
from pathlib import Path

import torch
from torch import nn

from fringenet.models.bundle import META, WEIGHTS, BundleInfo, load_bundle, read_bundle_info

CACHE_ENV = "FRINGENET_CACHE"
TRACE_FORMAT = "1"
"""Part of every cache key: bump when the tracing below changes."""
_TOLERANCE = 1e-4


def cache_folder() -> Path | None:
    """Where traces are kept (None: ``FRINGENET_CACHE=off``)."""
    setting = os.environ.get(CACHE_ENV, "")
    if setting.lower() in ("off", "0", "none", "false"):
        return None
    if setting:
        return Path(setting).expanduser() / "torchscript"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "fringenet" / "torchscript"


def bundle_key(path: Path) -> str:
    """A digest of the bundle's files, the torch version and the trace format."""
    digest = hashlib.sha256(f"{TRACE_FORMAT}|{torch.__version__}|".encode())
    for name in (META, WEIGHTS):
        with open(path / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:32]


def trace_checked(model: nn.Module, info: BundleInfo) -> torch.jit.ScriptModule | None:
    """``model`` traced at its patch size, or None when the trace does not reproduce it on another size."""
    channels = len(info.channels)
    size = max(32, info.patch_size // 32 * 32)
    generator = torch.Generator().manual_seed(0)
    example = torch.randn(2, channels, size, size, generator=generator)
    check = torch.randn(3, channels, size + 32, size + 64, generator=generator)
    model = model.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python values recorded as constants
        try:
            traced = torch.jit.trace(model, example, check_trace=False)
        except (RuntimeError, TypeError, ValueError, AttributeError):  # AttributeError: a torch without jit
            return None
        expected, got = model(check), traced(check)
    if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
        return None
    error = float((got - expected).abs().max())
    return traced if error <= _TOLERANCE * (1.0 + float(expected.abs().max())) else None


def load_for_inference(path: str | PathLike[str]) -> tuple[nn.Module, BundleInfo]:
    """The bundle's network for applying it (eval mode, CPU): its cached trace when there is one, else
    the network built as :func:`~fringenet.models.bundle.load_bundle` does (and its trace cached)."""
    path = Path(path)
    info = read_bundle_info(path)
    folder = cache_folder()
    if info.task == "temporal" or folder is None:
        return load_bundle(path)
    cached = folder / f"{bundle_key(path)}.pt"
    if cached.is_file():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit's; the fallback stays
                return torch.jit.load(str(cached), map_location="cpu").eval(), info
        except (RuntimeError, OSError, ValueError, AttributeError):
            cached.unlink(missing_ok=True)  # a damaged cache entry is rebuilt
    model, info = load_bundle(path)
    traced = trace_checked(model, info)
    if traced is None:
        return model, info
    _save(traced, cached)
    return traced, info  # the trace from the first run on, so every run computes alike


def _save(traced: torch.jit.ScriptModule, path: Path) -> None:
    """Write the trace atomically; a cache that cannot be written is no cache."""
    from fringenet.errors import FringenetError
    from fringenet.io.atomic import atomic_path

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.save(traced, str(tmp))
    except (OSError, FringenetError):
        return
