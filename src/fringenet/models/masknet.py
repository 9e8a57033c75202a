"""Mask Net: which pixels of an interferogram are decorrelated or otherwise unusable.

A small U-Net trained on simulated pairs whose true decorrelation mask is known (true coherence
below 0.2, water, layover/shadow; ``configs/masknet-train.yaml``), and the classic baseline it is
compared with, Otsu's threshold on coherence. Both return ``True`` = unusable. The functions here
work on one modest-size array in memory (a crop or a small scene); whole scenes go through the
tiled engine.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from fringenet.data.channels import PairLayers, derive_channels, make_relative
from fringenet.data.normalise import normalise
from fringenet.errors import InputError
from fringenet.insar.masking import otsu_coherence_mask
from fringenet.models.bundle import BundleInfo
from fringenet.models.predict import predict_probabilities

MAX_PIXELS = 2048 * 2048
"""Largest array :func:`predict_unusable` takes in one piece (the full-resolution decoder features of
a bigger one need gigabytes); tile larger scenes."""


def _layer(name: str, value: ArrayLike | None, shape: tuple[int, ...]) -> NDArray[np.float64] | None:
    if value is None:
        return None
    array = np.asarray(value, dtype=np.float64)
    if array.shape != shape:
        raise InputError(name, f"has shape {array.shape}, the wrapped phase {shape}")
    return array


def predict_unusable(
    model: nn.Module,
    info: BundleInfo,
    wrapped_phase: ArrayLike,
    coherence: ArrayLike | None = None,
    amplitude: ArrayLike | None = None,
    device: torch.device | str | None = None,
    *,
    notes: list[str] | None = None,
    max_pixels: int = MAX_PIXELS,
) -> tuple[NDArray[np.bool_], NDArray[np.float32]]:
    """Unusable-phase mask of one interferogram from a Mask Net bundle.

    Channels are derived as at dataset build time, normalised with the bundle's statistics
    (missing pixels become the channel mean, i.e. 0), padded to the encoder stride, and the
    probability is thresholded at ``info.threshold`` (chosen on validation data).

    Parameters
    ----------
    model, info
        A Mask Net bundle, as returned by :func:`fringenet.models.bundle.load_bundle`.
    wrapped_phase
        ``(H, W)`` wrapped phase (rad); NaN = missing.
    coherence
        ``(H, W)`` coherence (0-1); if None it is estimated from the phase (5x5 window) and a
        note is added. A processor's sample coherence matches the training data best.
    amplitude
        ``(H, W)`` amplitude (linear); needed only by bundles with a ``log_amplitude`` channel.
    device
        Where to run; the model is moved there. Default: the model's current device.
    notes
        If given, what was derived or assumed is appended to it.
    max_pixels
        Refuse larger arrays (use the tiled engine for whole scenes).

    Returns
    -------
    mask : ndarray of bool, ``(H, W)``
        True where the phase is unusable: probability >= threshold, or any input channel missing.
    probability : ndarray of float32, ``(H, W)``
        Probability of being unusable in [0, 1]; NaN where an input channel is missing.
    """
    phase = np.asarray(wrapped_phase, dtype=np.float64)
    if phase.ndim != 2:
        raise InputError("wrapped_phase", f"expected a 2-D (H, W) array (got shape {phase.shape})")
    if phase.size == 0 or phase.size > max_pixels:
        raise InputError(
            "wrapped_phase",
            f"has {phase.size} pixels; predict_unusable takes 1..{max_pixels} (tile larger scenes)",
        )
    layers = PairLayers(
        source="predict_unusable",
        wrapped_phase=phase,
        pixel_size_m=float("nan"),  # no Mask Net channel depends on the grid or the sensor
        wavelength_m=float("nan"),
        coherence=_layer("coherence", coherence, phase.shape),
        amplitude=_layer("amplitude", amplitude, phase.shape),
    )
    image = derive_channels(layers, info.channels)
    valid = np.all(np.isfinite(image), axis=0)
    make_relative(image, valid, info.channels)
    image[:, ~valid] = 0.0
    normalised = normalise(image[None], valid[None], info.normalisation, info.channels)
    if device is not None:
        model = model.to(torch.device(device))
    probability = predict_probabilities(model, normalised)[0]
    probability[~valid] = np.nan
    if notes is not None:
        notes.extend(n for n in layers.notes if n not in notes)
    mask = ~valid | (probability >= info.threshold)
    return mask, probability


def otsu_unusable(coherence: ArrayLike) -> NDArray[np.bool_]:
    """Baseline unusable mask: pixels at or below Otsu's threshold of the coherence histogram.

    Parameters
    ----------
    coherence
        Coherence (0-1), any shape; NaN = missing.

    Returns
    -------
    ndarray of bool, same shape
        True where the coherence is at or below the threshold, or missing. Raises
        :class:`~fringenet.errors.InputError` if no pixel is finite or the coherence is constant.
    """
    usable, _ = otsu_coherence_mask(coherence)
    return ~usable
