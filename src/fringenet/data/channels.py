"""Input channels of the segmentation models, derived from the layers of one interferogram.

Every channel is a pure function of a :class:`PairLayers` (plain ``(H, W)`` arrays of one pair and
its static layers). Values are stored raw, in the units below; normalisation to zero mean and unit
variance happens at training time with statistics of the training split only
(:mod:`fringenet.data.normalise`). Channels marked *relative* are made relative to each patch
(the patch's median over valid pixels is subtracted) because their absolute level carries no
information: an unwrapped phase has an arbitrary reference and absolute elevation does not transfer
between regions.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from fringenet.conventions import phase_to_displacement, wrap
from fringenet.errors import InputError
from fringenet.insar.coherence import (
    box_mean_complex64,
    box_mean_float32,
    coherence_from_phase,
    phasor_coherence,
    unit_phasors,
)
from fringenet.insar.gradients import StackedGradient, phase_gradient_stack
from fringenet.simulate.terrain import local_incidence, slope_aspect

FloatArray = NDArray[np.float32]


@dataclass
class PairLayers:
    """The rasters of one interferogram (``(H, W)`` each, NaN = missing) that channels derive from.

    ``wrapped_phase`` (rad) is required; every other layer is optional and a channel that needs an
    absent layer either derives it (noted in ``notes``) or raises :class:`InputError`.
    """

    source: str
    wrapped_phase: NDArray[np.floating]
    pixel_size_m: float
    wavelength_m: float
    coherence: NDArray[np.floating] | None = None
    amplitude: NDArray[np.floating] | None = None
    unwrapped_phase: NDArray[np.floating] | None = None
    los_displacement: NDArray[np.floating] | None = None
    dem: NDArray[np.floating] | None = None
    slope: NDArray[np.floating] | None = None
    aspect: NDArray[np.floating] | None = None
    incidence: NDArray[np.floating] | float | None = None
    heading: NDArray[np.floating] | float | None = None
    valid: NDArray[np.bool_] | None = None
    wrapped_stack: NDArray[np.floating] | None = None
    """``(pair, H, W)`` wrapped phase of every pair of a stack (rad), for the stack channels."""
    coherence_stack: NDArray[np.floating] | None = None
    """``(pair, H, W)`` coherence of every pair, weights of the gradient stacking."""
    notes: list[str] = field(default_factory=list)
    _stacked: StackedGradient | None = field(default=None, repr=False, init=False)
    _local: LocalFringes | None = field(default=None, repr=False, init=False)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


@dataclass(frozen=True)
class LocalFringes:
    """The wrapped phase seen through a ``LOCAL_WINDOW`` box: its mean direction, its pseudo-coherence
    (with the local fringe ramp removed) and its fringe rate, each ``(H, W)`` (NaN = no valid pixel)."""

    cos: NDArray[np.float64]
    sin: NDArray[np.float64]
    coherence: NDArray[np.float64]
    rate: NDArray[np.float64]


LOCAL_WINDOW = 5
"""Box (px) of the multilooked phase, phase coherence and fringe rate channels."""


def local_fringes(wrapped_phase: NDArray[np.floating], window: int = LOCAL_WINDOW) -> LocalFringes:
    """:class:`LocalFringes` of a wrapped phase ``(H, W)`` (rad, NaN = missing), in single precision."""
    z, valid = unit_phasors(np.asarray(wrapped_phase))
    mean = box_mean_complex64(z, window)
    weight = box_mean_float32(valid, window)
    # the fringe rate is the local ramp the pseudo-coherence removes: computed once for both
    coherence, rate_y, rate_x = phasor_coherence(z, valid, window=window, valid_fraction=weight)
    rate = np.hypot(rate_x, rate_y)
    angle = np.angle(mean)
    ok = valid & (weight > 0.5 / window**2)
    nan = np.float64(np.nan)
    return LocalFringes(
        np.where(ok, np.cos(angle), nan), np.where(ok, np.sin(angle), nan), coherence, np.where(ok, rate, nan)
    )


def _local(layers: PairLayers) -> LocalFringes:
    if layers._local is None:
        layers._local = local_fringes(layers.wrapped_phase)
    return layers._local


@dataclass(frozen=True)
class ChannelSpec:
    """One model input channel: its unit, whether it is made patch-relative, and how it is derived."""

    name: str
    unit: str
    description: str
    relative: bool
    derive: Callable[[PairLayers], NDArray[np.floating]]


def _single(values: NDArray[np.floating]) -> NDArray[np.float32]:
    """``values`` in single precision, which the channels are stored in (trigonometry 4x faster)."""
    return np.asarray(values, dtype=np.float32)


def _need(layers: PairLayers, value: NDArray[np.floating] | None, what: str, channel: str) -> NDArray:
    if value is None:
        raise InputError(layers.source, f"channel '{channel}' needs {what}, which this product does not have")
    return np.asarray(value, dtype=np.float64)


def _coherence(layers: PairLayers) -> NDArray[np.floating]:
    if layers.coherence is None:
        layers.note("coherence estimated from the wrapped phase (no coherence layer)")
        layers.coherence = coherence_from_phase(layers.wrapped_phase, window=5)
    return np.asarray(layers.coherence, dtype=np.float64)


def _log_amplitude(layers: PairLayers) -> NDArray[np.floating]:
    amplitude = _need(layers, layers.amplitude, "an amplitude/intensity layer", "log_amplitude")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(amplitude > 0, 20.0 * np.log10(amplitude), np.nan)


def _unwrapped(layers: PairLayers) -> NDArray[np.floating]:
    return _need(layers, layers.unwrapped_phase, "an unwrapped phase layer", "unwrapped_phase")


def _displacement(layers: PairLayers) -> NDArray[np.floating]:
    if layers.los_displacement is not None:
        return np.asarray(layers.los_displacement, dtype=np.float64)
    unwrapped = _need(
        layers, layers.unwrapped_phase, "LOS displacement or unwrapped phase", "los_displacement"
    )
    layers.note("LOS displacement converted from the unwrapped phase")
    return phase_to_displacement(unwrapped, layers.wavelength_m)


def _terrain(layers: PairLayers) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    if layers.slope is None or layers.aspect is None:
        dem = _need(layers, layers.dem, "a DEM", "slope/aspect")
        layers.slope, layers.aspect = slope_aspect(dem, layers.pixel_size_m)
    return np.asarray(layers.slope, dtype=np.float64), np.asarray(layers.aspect, dtype=np.float64)


def _local_incidence(layers: PairLayers) -> NDArray[np.floating]:
    dem = _need(layers, layers.dem, "a DEM", "incidence")
    if layers.incidence is None or layers.heading is None:
        raise InputError(layers.source, "channel 'incidence' needs the incidence and heading angles")
    return local_incidence(dem, layers.pixel_size_m, layers.incidence, layers.heading)


def _stacked_gradient(layers: PairLayers) -> StackedGradient:
    """Phase-gradient stacking over the stack (a single pair stacks as itself), computed once."""
    if layers._stacked is None:
        if layers.wrapped_stack is None:
            layers.note("gradient channels from the single interferogram (no stack given)")
            stack = np.asarray(layers.wrapped_phase, dtype=np.float64)[None]
            weights = None if layers.coherence is None else np.asarray(layers.coherence)[None]
        else:
            stack = np.asarray(layers.wrapped_stack, dtype=np.float64)
            weights = layers.coherence_stack
        layers._stacked = phase_gradient_stack(stack, weights=weights)
    return layers._stacked


CHANNELS: dict[str, ChannelSpec] = {
    spec.name: spec
    for spec in (
        ChannelSpec(
            "cos_phase", "1", "cosine of the wrapped phase", False, lambda p: np.cos(_single(p.wrapped_phase))
        ),
        ChannelSpec(
            "sin_phase", "1", "sine of the wrapped phase", False, lambda p: np.sin(_single(p.wrapped_phase))
        ),
        ChannelSpec(
            "coherence",
            "1",
            "interferometric coherence (estimated from the phase if absent)",
            False,
            _coherence,
        ),
        ChannelSpec(
            "cos_phase_ml", "1", "cosine of the 5x5 multilooked wrapped phase", False, lambda p: _local(p).cos
        ),
        ChannelSpec(
            "sin_phase_ml", "1", "sine of the 5x5 multilooked wrapped phase", False, lambda p: _local(p).sin
        ),
        ChannelSpec(
            "phase_coherence",
            "1",
            "5x5 pseudo-coherence of the wrapped phase, local fringe ramp removed (never the product's layer)",
            False,
            lambda p: _local(p).coherence,
        ),
        ChannelSpec(
            "fringe_rate", "rad/px", "local fringe frequency magnitude (5x5)", False, lambda p: _local(p).rate
        ),
        ChannelSpec("log_amplitude", "dB", "20 log10 of the amplitude", False, _log_amplitude),
        ChannelSpec(
            "unwrapped_phase", "rad", "unwrapped phase, relative to the patch median", True, _unwrapped
        ),
        ChannelSpec(
            "los_displacement",
            "m",
            "LOS displacement (+ towards the satellite), relative to the patch median",
            True,
            _displacement,
        ),
        ChannelSpec(
            "elevation",
            "m",
            "DEM elevation relative to the patch median",
            True,
            lambda p: _need(p, p.dem, "a DEM", "elevation"),
        ),
        ChannelSpec("slope", "deg", "terrain slope from horizontal", False, lambda p: _terrain(p)[0]),
        ChannelSpec(
            "aspect", "deg", "downslope direction clockwise from north", False, lambda p: _terrain(p)[1]
        ),
        ChannelSpec(
            "incidence", "deg", "local incidence angle (terrain normal to LOS)", False, _local_incidence
        ),
        ChannelSpec(
            "gradient_magnitude",
            "rad/px",
            "magnitude of the coherence-weighted phase-gradient stack over the pairs",
            False,
            lambda p: _stacked_gradient(p).magnitude,
        ),
        ChannelSpec(
            "gradient_consistency",
            "1",
            "how alike the phase gradients of all pairs are (0 = random, 1 = identical)",
            False,
            lambda p: _stacked_gradient(p).consistency,
        ),
    )
}
"""Every channel a dataset can hold, by name."""

DEFAULT_CHANNELS: tuple[str, ...] = (
    "cos_phase", "sin_phase", "coherence", "log_amplitude", "elevation", "slope", "aspect",
)  # fmt: skip
"""The landslide thesis's seven InSAR bands: wrapped phase (as cos, sin), coherence, amplitude and
the terrain (elevation, slope, aspect)."""

STACK_CHANNELS: tuple[str, ...] = ("gradient_magnitude", "gradient_consistency")
"""Channels that summarise a whole stack; a model using them scans a stack as one input."""

PHASE_CHANNELS = ("cos_phase", "sin_phase")
"""The pair rotated together by the random phase-offset augmentation."""

PHASE_ONLY_CHANNELS: tuple[str, ...] = (
    "cos_phase", "sin_phase", "cos_phase_ml", "sin_phase_ml", "phase_coherence", "fringe_rate",
)  # fmt: skip
"""The detector's inputs: functions of the wrapped phase alone, so products with and without a
coherence layer look the same to it (LiCSAR wrapped phase often comes alone)."""


def check_channels(channels: Sequence[str], source: str = "config") -> tuple[str, ...]:
    """Validate channel names (known, unique, cos/sin together); returns them as a tuple."""
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise InputError(source, f"unknown channel(s) {unknown}; valid channels: {sorted(CHANNELS)}")
    if len(set(channels)) != len(channels):
        raise InputError(source, f"channels repeat: {list(channels)}")
    if len(channels) == 0:
        raise InputError(source, "at least one channel is needed")
    for cos, sin in (("cos_phase", "sin_phase"), ("cos_phase_ml", "sin_phase_ml")):
        if (cos in channels) != (sin in channels):
            raise InputError(source, f"{cos} and {sin} go together (the wrapped phase as a unit vector)")
    return tuple(channels)


def derive_channels(layers: PairLayers, channels: Sequence[str]) -> NDArray[np.float32]:
    """Stack the requested channels of one pair as float32 ``(C, H, W)`` (raw units, NaN = missing)."""
    phase = np.asarray(layers.wrapped_phase, dtype=np.float64)
    layers.wrapped_phase = wrap(phase)
    out = np.empty((len(channels), *phase.shape), dtype=np.float32)
    for k, name in enumerate(check_channels(channels, layers.source)):
        values = np.asarray(CHANNELS[name].derive(layers), dtype=np.float64)
        if values.shape != phase.shape:
            raise InputError(
                layers.source, f"channel '{name}' has shape {values.shape}, the phase {phase.shape}"
            )
        out[k] = values
    return out


def make_relative(patch: NDArray[np.float32], valid: NDArray[np.bool_], channels: Sequence[str]) -> None:
    """Subtract, in place, the median over valid pixels from each patch-relative channel of ``(C, h, w)``."""
    for k, name in enumerate(channels):
        if CHANNELS[name].relative and valid.any():
            patch[k] -= np.median(patch[k][valid])


def merge_pairs(pairs: Sequence[PairLayers], key_pair: int = -1) -> PairLayers:
    """One :class:`PairLayers` for a whole stack: every pair's phase and coherence for the stack channels.

    The pair-wise layers (wrapped phase, amplitude, unwrapped phase) are those of ``key_pair`` (use
    the pair of longest time span, where slow motion shows most); coherence is the mean over pairs.
    """
    if not pairs:
        raise InputError("stack", "no pair to merge")
    key = pairs[key_pair]
    coherences = [p.coherence for p in pairs]
    have_coherence = all(c is not None for c in coherences)
    coherence_stack = (
        np.stack([np.asarray(c, dtype=np.float32) for c in coherences]) if have_coherence else None
    )
    notes = list(dict.fromkeys(n for p in pairs for n in p.notes))
    return PairLayers(
        source=key.source,
        wrapped_phase=key.wrapped_phase,
        pixel_size_m=key.pixel_size_m,
        wavelength_m=key.wavelength_m,
        coherence=None if coherence_stack is None else _nanmean_pairs(coherence_stack),
        amplitude=key.amplitude,
        unwrapped_phase=key.unwrapped_phase,
        los_displacement=key.los_displacement,
        dem=key.dem,
        slope=key.slope,
        aspect=key.aspect,
        incidence=key.incidence,
        heading=key.heading,
        valid=key.valid,
        wrapped_stack=np.stack([np.asarray(p.wrapped_phase, dtype=np.float32) for p in pairs]),
        coherence_stack=coherence_stack,
        notes=notes,
    )


def uses_stack(channels: Sequence[str]) -> bool:
    """Whether a model with these channels scans a stack as one input (rather than pair by pair)."""
    return any(c in STACK_CHANNELS for c in channels)


def _nanmean_pairs(stack: NDArray[np.float32]) -> NDArray[np.float32]:
    """Mean over the pair axis ignoring NaN; NaN (without a warning) where every pair is NaN (padding)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(stack, axis=0)
