"""Augmentations that respect the physics: dihedral transforms and a global phase offset."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def dihedral(array: NDArray, k: int, flip: bool) -> NDArray:
    """Rotate the last two axes by ``k`` quarter turns (counter-clockwise), then mirror left-right if ``flip``."""
    out = np.rot90(array, k, axes=(-2, -1))
    return np.flip(out, axis=-1) if flip else out


def rotate_aspect(aspect_deg: NDArray, k: int, flip: bool) -> NDArray:
    """Aspect (deg clockwise from north) after the same transform as :func:`dihedral`.

    A counter-clockwise quarter turn of the image turns every downslope direction by -90 deg; a
    left-right mirror maps azimuth ``a`` to ``-a``.
    """
    out = (aspect_deg - 90.0 * k) % 360.0
    return (-out) % 360.0 if flip else out


def augment(
    image: NDArray[np.float32],
    label: NDArray,
    valid: NDArray,
    channels: Sequence[str],
    rng: np.random.Generator,
    *,
    dihedral_transforms: bool = True,
    phase_offset: bool = True,
) -> tuple[NDArray[np.float32], NDArray, NDArray]:
    """Randomly transform a raw (not normalised) patch ``image (C, h, w)`` with its label and valid mask.

    Dihedral transforms move every band, the label and the mask together (aspect is re-oriented);
    the phase offset adds one random constant to the wrapped phase (rotating ``(cos, sin)``), which
    the physics allows: an interferogram's absolute phase is arbitrary. Flips do mirror the radar's
    look geometry; like the thesis, we accept that for the variety it brings.
    """
    image = np.array(image, dtype=np.float32, copy=True)
    if phase_offset and "cos_phase" in channels and "sin_phase" in channels:
        ic, is_ = channels.index("cos_phase"), channels.index("sin_phase")
        offset = rng.uniform(-np.pi, np.pi)
        c, s = image[ic].copy(), image[is_].copy()
        image[ic] = c * np.cos(offset) - s * np.sin(offset)
        image[is_] = s * np.cos(offset) + c * np.sin(offset)
    if dihedral_transforms:
        k, flip = int(rng.integers(4)), bool(rng.integers(2))
        if "aspect" in channels:
            ia = channels.index("aspect")
            image[ia] = np.where(np.asarray(valid) > 0, rotate_aspect(image[ia], k, flip), image[ia])
        image, label, valid = dihedral(image, k, flip), dihedral(label, k, flip), dihedral(valid, k, flip)
    return np.ascontiguousarray(image), np.ascontiguousarray(label), np.ascontiguousarray(valid)
