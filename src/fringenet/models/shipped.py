"""Models that ship inside the package, trained from scratch by ``make models`` and, for the time-series
model ``temporal``, ``make temporal-models`` (docs/models.md).

Each is a bundle folder under ``fringenet/models/weights/<name>/`` (``model.safetensors`` +
``bundle.json``). They are used when a command is given no ``--model``; ``--model temporal`` picks the
shipped time-series model.
"""

from __future__ import annotations

import shutil
from os import PathLike
from pathlib import Path

from fringenet.errors import InputError
from fringenet.io.atomic import atomic_path

WEIGHTS_DIR = Path(__file__).parent / "weights"
SHIPPED: dict[str, str] = {
    "detector": "deformation detector for single interferograms and stacks (U-Net on a mit_b0 encoder)",
    "masknet": "Mask Net: decorrelated / unusable phase (small U-Net)",
    "punet": "PUNet: DnCNN-style phase unwrapping network",
    "temporal": "time-series model for stacks: moving areas + velocity (hybrid CNN + transformer)",
}
"""Name and role of every model the package ships."""
MAX_SHIPPED_MB = 20.0


def shipped_bundle(name: str) -> Path:
    """Folder of the shipped bundle ``name``; an :class:`InputError` says how to make it if absent."""
    if name not in SHIPPED:
        raise InputError("shipped models", f"no model called {name!r}; shipped: {sorted(SHIPPED)}")
    path = WEIGHTS_DIR / name
    if not (path / "bundle.json").exists():
        target = "temporal-models" if name == "temporal" else "models"
        raise InputError(path, f"the package has no trained '{name}' model; train it with `make {target}`")
    return path


def bundle_size_mb(path: str | PathLike[str]) -> float:
    """Size of a bundle folder on disk (MB)."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 1e6


def ship_bundle(
    bundle: str | PathLike[str], name: str, *, threshold: float | None = None, chosen_by: str = "",
    scan_window: int | None = None, grow_threshold: float | None = None,
) -> Path:  # fmt: skip
    """Copy a trained bundle into the package as the shipped model ``name`` (atomically, size-checked).

    ``threshold`` replaces the bundle's own (chosen on its validation samples) by one chosen elsewhere,
    e.g. by ``benchmarks/select_detector.py`` on independent scenes; ``scan_window`` likewise sets the
    window scans use by default (the patch size it trained on otherwise); ``chosen_by`` says how, in the
    bundle's provenance. ``grow_threshold`` (below ``threshold``) sets the bundle's hysteresis: detections
    grow from pixels at ``threshold`` over connected pixels above it.
    """
    from fringenet.models.bundle import META, read_bundle_info

    if name not in SHIPPED:
        raise InputError("ship", f"unknown shipped model {name!r}; valid: {sorted(SHIPPED)}")
    source = Path(bundle)
    read_bundle_info(source)  # refuses anything that is not a bundle
    size = bundle_size_mb(source)
    if size > MAX_SHIPPED_MB:
        raise InputError(
            source, f"bundle is {size:.1f} MB; shipped models must stay <= {MAX_SHIPPED_MB:.0f} MB"
        )
    if threshold is not None and not 0.0 < threshold < 1.0:
        raise InputError("ship", f"threshold {threshold:g} is not a probability in (0, 1)")
    if grow_threshold is not None and (threshold is None or not 0.0 < grow_threshold < threshold):
        raise InputError(
            "ship", f"grow threshold {grow_threshold:g} needs a threshold above it (got {threshold})"
        )
    if scan_window is not None and not (32 <= scan_window <= 4096 and scan_window % 32 == 0):
        raise InputError("ship", f"scan window {scan_window} px is not a multiple of 32 in [32, 4096]")
    with atomic_path(WEIGHTS_DIR / name) as tmp:
        shutil.copytree(source, tmp)
        if threshold is not None or scan_window is not None:
            info = read_bundle_info(tmp)
            update: dict[str, object] = {}
            provenance = dict(info.provenance)
            if threshold is not None:
                earlier = info.provenance.get("threshold_selection") or {}
                trained = earlier.get("bundle_threshold", info.threshold)  # re-shipped: keep the trainer's
                provenance["threshold_selection"] = {"bundle_threshold": trained, "threshold": threshold,
                                                     "chosen_by": chosen_by or "given when shipping"}  # fmt: skip
                update["threshold"] = threshold
                update["grow_threshold"] = grow_threshold  # re-shipped without one: none
                if grow_threshold is not None:
                    provenance["threshold_selection"]["grow_threshold"] = grow_threshold
            if scan_window is not None:
                provenance["scan_window_selection"] = {"patch_size": info.patch_size, "scan_window": scan_window,
                                                       "chosen_by": chosen_by or "given when shipping"}  # fmt: skip
                update["scan_window"] = scan_window
            info = info.model_copy(update={**update, "provenance": provenance})
            (tmp / META).write_text(info.model_dump_json(indent=2))
    return WEIGHTS_DIR / name
