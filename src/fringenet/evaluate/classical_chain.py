"""The classical time-series chain that learned models are compared with.

SNAPHU (or whirlwind) unwrapping of every pair, referencing to the median of the coherent
pixels, coherence-weighted SBAS inversion for the mean LOS velocity, and a velocity threshold
for the moving-area mask. Pure arrays in, arrays out: the benchmarks feed it held-out simulated
stacks.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fringenet.conventions import days_to_years
from fringenet.detect.filters import remove_small_objects
from fringenet.errors import InputError, NetworkError
from fringenet.insar.network import connected_components, describe_groups
from fringenet.insar.reference import reference_to_area
from fringenet.insar.sbas import invert_sbas
from fringenet.insar.unwrap import METHODS, PSEUDO_COHERENCE_WINDOW, coherence_or_estimate, unwrap

MIN_OBJECT_PX = 4
"""Moving objects smaller than this (8-connected pixels) are dropped from the mask."""

MAX_COHERENCE_FOR_WEIGHTS = 0.99
"""Coherence is clipped here before ``gamma^2 / (1 - gamma^2)`` so perfect coherence keeps a finite weight."""

_EPOCH = np.datetime64("2000-01-01", "D")
"""Arbitrary origin for turning ``days`` into the dates :func:`invert_sbas` expects; only differences matter."""


@dataclass(frozen=True)
class ClassicalResult:
    """Output of :func:`sbas_velocity_chain`."""

    velocity: NDArray[np.float32]
    """``(H, W)`` mean LOS velocity (m/yr, positive towards the satellite); NaN where not estimated."""
    mask: NDArray[np.bool_]
    """``(H, W)`` moving-area mask."""
    threshold_m_per_yr: float
    """Velocity threshold used for the mask (m/yr, applied to the absolute deviation from the median)."""
    notes: list[str]
    """Fallbacks taken and data left out, in words."""
    seconds: float
    """Wall-clock time of the whole chain (s)."""


def _check_days(days: ArrayLike) -> NDArray[np.float64]:
    t = np.asarray(days, dtype=np.float64)
    if t.ndim != 1 or t.size < 2:
        raise InputError("days", f"expected a 1-D array of >= 2 dates (got shape {t.shape})")
    if not np.all(np.isfinite(t)):
        raise InputError("days", "contains NaN or infinite values")
    if np.any(np.diff(t) <= 0):
        bad = int(np.flatnonzero(np.diff(t) <= 0)[0])
        raise InputError(
            "days",
            f"must be strictly increasing (entry {bad + 1} = {t[bad + 1]:g} follows {t[bad]:g}); "
            "sort the dates and drop duplicates",
        )
    return t


def _check_pairs(pairs: ArrayLike, n_pairs: int, n_dates: int) -> NDArray[np.int64]:
    p = np.asarray(pairs)
    if p.ndim != 2 or p.shape[1] != 2:
        raise InputError("pairs", f"expected shape (P, 2) (got {p.shape})")
    if p.shape[0] != n_pairs:
        raise InputError("pairs", f"has {p.shape[0]} pairs but the phase has {n_pairs}")
    if p.size and not (np.issubdtype(p.dtype, np.integer) or np.all(p == np.round(p))):
        raise InputError("pairs", "must hold integer indices into days")
    idx = p.astype(np.int64)
    outside = np.flatnonzero(np.any((idx < 0) | (idx >= n_dates), axis=1))
    if outside.size:
        k = int(outside[0])
        raise InputError("pairs", f"pair {k} = {tuple(idx[k])} indexes outside days (valid 0..{n_dates - 1})")
    same = np.flatnonzero(idx[:, 0] == idx[:, 1])
    if same.size:
        raise InputError("pairs", f"pair {int(same[0])} joins date {idx[same[0], 0]} to itself")
    return idx


def _check_connected(idx: NDArray[np.int64], dates: NDArray[np.datetime64]) -> None:
    """Every date must be in a pair, and the pairs must link all dates into one group."""
    unused = np.setdiff1d(np.arange(dates.size), idx.ravel())
    if unused.size:
        raise NetworkError(
            "pairs",
            f"date index(es) {unused.tolist()} belong to no pair; the network does not connect all dates",
        )
    groups = connected_components(dates[idx[:, 0]], dates[idx[:, 1]])
    if len(groups) > 1:
        raise NetworkError(
            "pairs",
            f"pairs form {len(groups)} disconnected groups: {describe_groups(groups)}; add bridging pairs",
        )


def sbas_velocity_chain(
    wrapped_phase: ArrayLike,
    coherence: ArrayLike | None,
    pairs: ArrayLike,
    days: ArrayLike,
    wavelength_m: float,
    *,
    unwrapper: str = "snaphu",
    nlooks: float = 5.0,
    min_coherence: float = 0.3,
    threshold_m_per_yr: float | None = None,
    visibility_rad: float = np.pi / 2,
    valid: ArrayLike | None = None,
) -> ClassicalResult:
    """Unwrap, reference, invert (SBAS) and threshold a stack of wrapped interferograms.

    Parameters
    ----------
    wrapped_phase
        ``(P, H, W)`` wrapped phase of the pairs (rad); NaN = missing.
    coherence
        ``(P, H, W)`` coherence in [0, 1], or None: then a pseudo-coherence is estimated from each
        pair's phase (``coherence_from_phase``, 5x5 window) and a note says so.
    pairs
        ``(P, 2)`` int indices into ``days``: ``(reference, secondary)``; a pair's phase is
        ``phase[secondary] - phase[reference]``. A pair given as ``(later, earlier)`` is flipped
        (indices swapped, phase negated) and noted.
    days
        ``(T,)`` days since the first date (float, strictly increasing). Rounded to whole days for
        the inversion (noted if that changes them).
    wavelength_m
        Radar wavelength (m).
    unwrapper
        ``"snaphu"`` or ``"whirlwind"`` (:func:`fringenet.insar.unwrap.unwrap`).
    nlooks
        Equivalent number of looks of the coherence, for the unwrapper's cost model.
    min_coherence
        Pixels whose mean coherence over the pairs is below this are not used: NaN velocity,
        never moving, left out of the reference. They still take part in the unwrapping, whose
        cost already down-weights them.
    threshold_m_per_yr
        Velocity threshold (m/yr). None: ``wavelength / (4 pi) * visibility_rad / span_years``,
        the rate whose displacement over the stack span reaches ``visibility_rad`` of phase (the
        simulator's criterion for a moving pixel).
    visibility_rad
        Visibility phase (rad) of the default threshold.
    valid
        Optional ``(H, W)`` bool, True where the data may be used.

    Returns
    -------
    ClassicalResult
        ``mask = |velocity - median(velocity over used pixels)| >= threshold``, over used pixels,
        with objects smaller than 4 px (8-connected) removed.

    Raises
    ------
    InputError
        Shapes that disagree, pairs indexing outside ``days``, unsorted or duplicated ``days``,
        an all-NaN phase, bad parameters; :class:`~fringenet.errors.NetworkError` (an
        ``InputError``) for a pair network that does not connect every date.
    """
    start = time.perf_counter()
    notes: list[str] = []
    phase = np.array(wrapped_phase, dtype=np.float64)  # a copy: flipped pairs are negated in place
    if phase.ndim != 3:
        raise InputError("wrapped_phase", f"expected shape (P, H, W) (got {phase.shape})")
    n_pairs, height, width = phase.shape
    if n_pairs == 0:
        raise InputError("wrapped_phase", "holds no pair")
    t_days = _check_days(days)
    idx = _check_pairs(pairs, n_pairs, t_days.size)
    if unwrapper not in METHODS:
        raise InputError("unwrapper", f"unknown method {unwrapper!r}; valid methods: {', '.join(METHODS)}")
    if not (np.isfinite(wavelength_m) and 1e-3 < wavelength_m < 1.0):
        raise InputError("wavelength_m", f"must be the radar wavelength in metres (got {wavelength_m!r})")
    if not nlooks >= 1.0:
        raise InputError("nlooks", f"must be >= 1 (got {nlooks})")
    if not 0.0 <= min_coherence <= 1.0:
        raise InputError("min_coherence", f"must lie in [0, 1] (got {min_coherence})")
    if threshold_m_per_yr is not None and not (np.isfinite(threshold_m_per_yr) and threshold_m_per_yr >= 0):
        raise InputError("threshold_m_per_yr", f"must be finite and >= 0 (got {threshold_m_per_yr})")
    if threshold_m_per_yr is None and not (np.isfinite(visibility_rad) and visibility_rad > 0):
        raise InputError("visibility_rad", f"must be finite and > 0 (got {visibility_rad})")
    if valid is None:
        valid_px = np.ones((height, width), dtype=bool)
    else:
        valid_px = np.asarray(valid, dtype=bool)
        if valid_px.shape != (height, width):
            raise InputError("valid", f"shape {valid_px.shape} does not match the grid {(height, width)}")
    if coherence is not None:
        coh = np.asarray(coherence, dtype=np.float64)
        if coh.shape != phase.shape:
            raise InputError("coherence", f"shape {coh.shape} does not match the phase {phase.shape}")
    if not np.isfinite(phase).any():
        raise InputError("wrapped_phase", "is NaN everywhere")

    whole_days = np.round(t_days - t_days[0])
    if np.any(np.diff(whole_days) <= 0):
        raise InputError("days", "two dates fall on the same whole day; the inversion works in days")
    if np.any(np.abs(whole_days - (t_days - t_days[0])) > 1e-6):
        notes.append("days rounded to whole days for the inversion")
    dates = _EPOCH + whole_days.astype("timedelta64[D]")

    flipped = idx[:, 0] > idx[:, 1]
    if flipped.any():
        idx[flipped] = idx[flipped][:, ::-1]
        phase[flipped] = -phase[flipped]
        notes.append(f"{int(flipped.sum())} pair(s) given as (later, earlier): flipped and phase negated")
    _check_connected(idx, dates)

    if coherence is None:
        coh = np.stack([coherence_or_estimate(phase[k], None)[0] for k in range(n_pairs)])
        notes.append(
            f"no coherence given: estimated from the phase (pseudo-coherence, "
            f"{PSEUDO_COHERENCE_WINDOW}x{PSEUDO_COHERENCE_WINDOW} window)"
        )
    observed = np.isfinite(phase) & np.isfinite(coh)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels: NaN mean, not used
        mean_coh = np.nanmean(np.where(observed, coh, np.nan), axis=0)
    used = valid_px & (mean_coh >= min_coherence)

    if threshold_m_per_yr is None:
        span_years = float(days_to_years(t_days[-1] - t_days[0]))
        threshold = float(wavelength_m / (4.0 * np.pi) * visibility_rad / span_years)
    else:
        threshold = float(threshold_m_per_yr)

    velocity = np.full((height, width), np.nan, dtype=np.float32)
    empty = np.zeros((height, width), dtype=bool)
    if not used.any():
        notes.append(f"no pixel has mean coherence >= {min_coherence:g}: nothing estimated")
        return ClassicalResult(velocity, empty, threshold, notes, time.perf_counter() - start)

    # Unwrap over every valid pixel, not only the coherent ones: SNAPHU's and whirlwind's costs
    # already follow the coherence, and masking the scattered incoherent pixels out leaves a
    # fragmented area that unwraps worse (tried on simulated 64x64 stacks). For the same reason
    # the connected components are not used to drop pixels: on noisy stacks they label most
    # pixels 0 or split them into many small pieces.
    unwrapped = np.full(phase.shape, np.nan)
    skipped: list[int] = []
    for k in range(n_pairs):
        area = valid_px & observed[k]
        if not (used & area).any():
            skipped.append(k)
            continue
        unwrapped[k] = unwrap(phase[k], coh[k], method=unwrapper, nlooks=nlooks, mask=area).unwrapped
    unwrapped[:, ~used] = np.nan
    if skipped:
        notes.append(f"pair(s) {skipped} have no usable pixel and were left out")

    has_data = np.isfinite(unwrapped[:, used]).any(axis=1)
    if not has_data.any():
        notes.append("no pair has a usable pixel: nothing estimated")
        return ClassicalResult(velocity, empty, threshold, notes, time.perf_counter() - start)
    referenced = np.full_like(unwrapped, np.nan)
    referenced[has_data], _ = reference_to_area(unwrapped[has_data], used)
    gamma2 = np.clip(np.nan_to_num(coh, nan=0.0), 0.0, MAX_COHERENCE_FOR_WEIGHTS) ** 2
    sbas = invert_sbas(
        referenced,
        dates[idx[:, 0]],
        dates[idx[:, 1]],
        wavelength_m=wavelength_m,
        weights=gamma2 / (1.0 - gamma2),
    )
    estimated = used & np.isfinite(sbas.velocity)
    velocity[estimated] = sbas.velocity[estimated]
    lost = int(used.sum() - estimated.sum())
    if lost:
        notes.append(f"{lost} coherent pixel(s) kept too few pairs to connect every date: NaN velocity")
    if not estimated.any():
        notes.append("no pixel could be inverted")
        return ClassicalResult(velocity, empty, threshold, notes, time.perf_counter() - start)

    v = velocity.astype(np.float64)
    centre = float(np.median(v[estimated]))
    moving = estimated & (np.abs(np.where(estimated, v, centre) - centre) >= threshold)
    mask = remove_small_objects(moving, MIN_OBJECT_PX)
    return ClassicalResult(velocity, mask, threshold, notes, time.perf_counter() - start)
