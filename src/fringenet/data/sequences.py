"""Inputs of the time-series models, assembled from a stack's arrays (pure functions, no I/O).

A stack reaches a model as a sequence of *steps*: interferograms (``st_transformer``, ``hybrid``:
cos and sin of the wrapped phase and coherence per pair) or dates (``coherence_transformer``: the
date's row of the per-pixel coherence matrix). Each step carries time features; the scene carries
terrain context. Everything is checked here, before any computation: dates in order and unique,
pairs that form one connected network, enough steps for the model.

Coherence matrices follow :mod:`fringenet.insar.phase_linking`: ``C[..., i, j] = <s_i s_j*> /
sqrt(<|s_i|^2><|s_j|^2>)`` has the phase of the interferogram of pair ``(i, j)``, ``phi_j - phi_i``
(docs/conventions.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fringenet.conventions import DAYS_PER_YEAR
from fringenet.errors import InputError
from fringenet.models.spec import (
    PAIR_CHANNELS,
    RATE_CLIP,
    RATE_SCALE_RAD_PER_YR,
    TERRAIN_CHANNELS,
    TIME_FEATURES,
    TemporalModelSpec,
)

F32 = NDArray[np.float32]


@dataclass
class StackInputs:
    """One model input: ``steps (S, C, H, W)``, ``time (S, TIME_FEATURES)``, ``step_mask (S,)``,
    ``terrain (TERRAIN_CHANNELS, H, W)``, ``valid (H, W)``; ``step_dates (S, 2)`` names each step."""

    steps: F32
    time: F32
    step_mask: NDArray[np.bool_]
    terrain: F32
    valid: NDArray[np.bool_]
    step_dates: NDArray[np.datetime64]
    notes: list[str] = field(default_factory=list)


def as_dates(values: Any, source: str, what: str) -> NDArray[np.datetime64]:
    """``values`` as ``datetime64[D]``; a clear error if they are not dates."""
    try:
        dates = np.asarray(values).astype("datetime64[D]").ravel()
    except (TypeError, ValueError) as err:
        raise InputError(source, f"{what} cannot be read as dates ({err})") from None
    if np.isnat(dates).any():
        raise InputError(source, f"{what} contain missing dates (NaT)")
    return dates


def check_dates(dates: Any, source: str, *, min_dates: int = 2) -> NDArray[np.datetime64]:
    """Acquisition dates, strictly increasing; errors name the first unsorted or repeated date."""
    d = as_dates(dates, source, "acquisition dates")
    if d.size < min_dates:
        raise InputError(source, f"{d.size} acquisition date(s); the model needs at least {min_dates}")
    step = np.diff(d.astype(np.int64))
    if np.any(step == 0):
        k = int(np.flatnonzero(step == 0)[0])
        raise InputError(source, f"acquisition date {d[k]} appears twice (positions {k} and {k + 1})")
    if np.any(step < 0):
        k = int(np.flatnonzero(step < 0)[0])
        raise InputError(source, f"acquisition dates are not sorted: {d[k]} comes before {d[k + 1]}")
    return d


def check_network(
    reference_dates: Any, secondary_dates: Any, source: str, *, min_pairs: int = 1
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.datetime64]]:
    """Pairs in date order, none repeated, one connected network; returns ``(ref_idx, sec_idx, dates)``.

    A network that falls apart into groups means pairs are missing (e.g. across a snow gap): its
    groups cannot be placed on one time axis, so this is an error naming them.
    """
    from fringenet.insar.network import check_connected, pair_indices

    ref = as_dates(reference_dates, source, "reference dates")
    sec = as_dates(secondary_dates, source, "secondary dates")
    if ref.size != sec.size:
        raise InputError(source, f"{ref.size} reference but {sec.size} secondary dates")
    if ref.size < min_pairs:
        raise InputError(source, f"{ref.size} interferogram(s); the model needs at least {min_pairs}")
    bad = np.flatnonzero(ref >= sec)
    if bad.size:
        k = int(bad[0])
        raise InputError(
            source, f"pair {k} ({ref[k]}..{sec[k]}): the reference date must precede the secondary"
        )
    key = ref.astype(np.int64) * 100_000 + sec.astype(np.int64)
    order = np.sort(key)
    if np.any(np.diff(order) == 0):
        dup = int(order[np.flatnonzero(np.diff(order) == 0)[0]])
        first, second = np.datetime64(dup // 100_000, "D"), np.datetime64(dup % 100_000, "D")
        raise InputError(source, f"pair {first}..{second} appears twice")
    if np.any(np.diff(key) < 0):
        k = int(np.flatnonzero(np.diff(key) < 0)[0])
        raise InputError(
            source, f"pairs are not in date order: {ref[k]}..{sec[k]} comes before {ref[k + 1]}..{sec[k + 1]}"
        )
    check_connected(ref, sec, source)
    ref_idx, sec_idx, dates = pair_indices(ref, sec)
    return ref_idx, sec_idx, dates


def time_features(reference: NDArray[np.datetime64], secondary: NDArray[np.datetime64]) -> F32:
    """``(S, TIME_FEATURES)``: t_ref, t_sec (yr since the earliest date), baseline (yr), sin/cos day of year."""
    ref = reference.astype("datetime64[D]")
    sec = secondary.astype("datetime64[D]")
    first = min(ref.min(), sec.min())
    t_ref = (ref - first).astype(np.float64) / DAYS_PER_YEAR
    t_sec = (sec - first).astype(np.float64) / DAYS_PER_YEAR

    def doy(d: NDArray[np.datetime64]) -> NDArray[np.float64]:
        return 2.0 * np.pi * (d - d.astype("datetime64[Y]")).astype(np.float64) / DAYS_PER_YEAR

    a, b = doy(ref), doy(sec)
    out = np.stack([t_ref, t_sec, t_sec - t_ref, np.sin(a), np.cos(a), np.sin(b), np.cos(b)], axis=1)
    assert out.shape[1] == TIME_FEATURES
    return out.astype(np.float32)


def terrain_inputs(
    dem: NDArray[np.floating] | None,
    slope: NDArray[np.floating] | None,
    aspect: NDArray[np.floating] | None,
    shape: tuple[int, int],
    notes: list[str] | None = None,
) -> F32:
    """``(TERRAIN_CHANNELS, H, W)``: elevation (km, minus the median), slope / 45°, sin and cos of aspect.

    Without a DEM the terrain channels are zero (the model saw such inputs in training) and a note says so.
    """
    out = np.zeros((TERRAIN_CHANNELS, *shape), dtype=np.float32)
    if dem is None:
        if notes is not None:
            notes.append("no DEM: terrain context left empty")
        return out
    h = np.asarray(dem, dtype=np.float64)
    if h.shape != shape:
        raise InputError("terrain", f"DEM shape {h.shape} differs from the phase {shape}")
    if np.isfinite(h).any():
        out[0] = (h - np.nanmedian(h)) / 1000.0
    if slope is not None and aspect is not None:
        az = np.radians(np.asarray(aspect, dtype=np.float64))
        out[1] = np.asarray(slope, dtype=np.float64) / 45.0
        out[2], out[3] = np.sin(az), np.cos(az)
    return np.nan_to_num(out)


def select_steps(n: int, max_steps: int) -> NDArray[np.intp]:
    """Indices of at most ``max_steps`` of ``n`` steps, spread evenly over the (date-ordered) sequence."""
    if n <= max_steps:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_steps)).astype(np.intp))


def _pad(steps: F32, time: F32, dates: NDArray[np.datetime64], max_steps: int) -> tuple[F32, F32, Any, Any]:
    s = steps.shape[0]
    mask = np.zeros(max_steps, dtype=bool)
    mask[:s] = True
    pad = max_steps - s
    steps = np.concatenate([steps, np.zeros((pad, *steps.shape[1:]), np.float32)]) if pad else steps
    time = np.concatenate([time, np.zeros((pad, time.shape[1]), np.float32)]) if pad else time
    dates = (
        np.concatenate([dates, np.full((pad, 2), np.datetime64("NaT"), "datetime64[D]")]) if pad else dates
    )
    return steps, time, mask, dates


def interferogram_inputs(
    wrapped_phase: NDArray[np.floating],
    coherence: NDArray[np.floating] | None,
    reference_dates: Any,
    secondary_dates: Any,
    spec: TemporalModelSpec,
    terrain: F32,
    source: str = "stack",
) -> StackInputs:
    """Interferogram steps ``(max_steps, 4, H, W)`` of a checked pair network: cos and sin of the phase,
    coherence, and each pair's share of the stacked phase rate (the mean over steps is the least-squares
    rate of a linear motion, ``sum(phi dt) / sum(dt^2)``, in ``RATE_SCALE_RAD_PER_YR``, clipped).

    Pairs beyond ``spec.max_steps`` are thinned evenly (a note says how many were used); NaN pixels
    are zeros with coherence 0 and are invalid where every pair lacks them. Without coherence it is
    estimated from the phase (noted).
    """
    phase = np.asarray(wrapped_phase, dtype=np.float64)
    if phase.ndim != 3:
        raise InputError(source, f"wrapped phase must be (pair, y, x), got shape {phase.shape}")
    ref_idx, sec_idx, dates = check_network(
        reference_dates, secondary_dates, source, min_pairs=spec.min_steps
    )
    if phase.shape[0] != ref_idx.size:
        raise InputError(source, f"{phase.shape[0]} phase layers but {ref_idx.size} pairs of dates")
    notes: list[str] = []
    if coherence is None:
        from fringenet.insar.coherence import coherence_from_phase

        coh = np.stack([coherence_from_phase(p, window=5) for p in phase])
        notes.append("coherence estimated from the wrapped phase (no coherence layer)")
    else:
        coh = np.asarray(coherence, dtype=np.float64)
        if coh.shape != phase.shape:
            raise InputError(source, f"coherence shape {coh.shape} differs from the phase {phase.shape}")
    keep = select_steps(phase.shape[0], spec.max_steps)
    if keep.size < phase.shape[0]:
        notes.append(
            f"{keep.size} of {phase.shape[0]} interferograms used (the model takes {spec.max_steps})"
        )
    ok = np.isfinite(phase[keep])
    p = np.where(ok, phase[keep], 0.0)
    c = np.where(ok & np.isfinite(coh[keep]), np.clip(coh[keep], 0.0, 1.0), 0.0)
    step_dates = np.stack([dates[ref_idx[keep]], dates[sec_idx[keep]]], axis=1)
    time = time_features(step_dates[:, 0], step_dates[:, 1])
    # least-squares velocity of a linear motion from the pairs, v = sum(phi_k dt_k) / sum(dt_k^2) (rad/yr),
    # written as each pair's share times the number of pairs, so that the mean over steps is v:
    # atmosphere of the inner dates cancels along a chain of pairs, unlike in phase / dt per pair
    baseline_yr = time[:, 2].astype(np.float64)
    share = keep.size * baseline_yr / max(float(np.sum(baseline_yr**2)), 1e-12)
    rate = np.clip(p * share[:, None, None] / RATE_SCALE_RAD_PER_YR, -RATE_CLIP, RATE_CLIP)
    steps = np.stack([np.cos(p) * ok, np.sin(p) * ok, c, rate], axis=1).astype(np.float32)
    assert steps.shape[1] == PAIR_CHANNELS
    steps, time, mask, step_dates = _pad(steps, time, step_dates, spec.max_steps)
    return StackInputs(steps, time, mask, terrain, np.asarray(ok.any(axis=0)), step_dates, notes)


def network_coherence_matrix(
    wrapped_phase: NDArray[np.floating],
    coherence: NDArray[np.floating],
    ref_idx: NDArray[np.intp],
    sec_idx: NDArray[np.intp],
    n_dates: int,
) -> tuple[NDArray[np.complex64], NDArray[np.bool_]]:
    """The coherence matrix ``(H, W, T, T)`` as far as a pair network gives it, and which entries it has.

    Pair ``(i, j)`` fills ``C[i, j] = gamma exp(1j phase)`` and its conjugate ``C[j, i]``; the diagonal is 1.
    """
    _, h, w = wrapped_phase.shape
    matrix = np.zeros((h, w, n_dates, n_dates), dtype=np.complex64)
    present = np.eye(n_dates, dtype=bool)
    idx = np.arange(n_dates)
    matrix[:, :, idx, idx] = 1.0
    for k, (i, j) in enumerate(zip(ref_idx, sec_idx, strict=True)):
        value = np.nan_to_num(coherence[k]) * np.exp(1j * np.nan_to_num(wrapped_phase[k]))
        matrix[:, :, i, j] = value
        matrix[:, :, j, i] = np.conj(value)
        present[i, j] = present[j, i] = True
    return matrix, present


def coherence_matrix_inputs(
    matrix: NDArray[np.complexfloating],
    present: NDArray[np.bool_],
    dates: Any,
    spec: TemporalModelSpec,
    terrain: F32,
    source: str = "stack",
) -> StackInputs:
    """Date steps ``(max_steps, 4 * max_steps, H, W)``: for each date its matrix row (|C|, cos, sin of
    the phase, entry present), zero-padded to ``max_steps`` dates. Dates beyond are thinned evenly."""
    d = check_dates(dates, source, min_dates=spec.min_steps)
    m = np.asarray(matrix)
    if m.ndim != 4 or m.shape[2:] != (d.size, d.size):
        raise InputError(source, f"coherence matrix shape {m.shape} does not fit {d.size} dates")
    notes: list[str] = []
    keep = select_steps(d.size, spec.max_steps)
    if keep.size < d.size:
        notes.append(f"{keep.size} of {d.size} dates used (the model takes {spec.max_steps})")
    sub = m[:, :, keep][:, :, :, keep]
    pres = np.asarray(present, dtype=bool)[np.ix_(keep, keep)]
    t, n = keep.size, spec.max_steps
    rows = np.moveaxis(sub, (2, 3), (0, 1))  # (t, t, H, W)
    rows = np.nan_to_num(rows)
    steps = np.zeros((t, 4 * n, *m.shape[:2]), dtype=np.float32)
    mag = np.abs(rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(mag > 0, rows / np.where(mag > 0, mag, 1.0), 0.0)
    steps[:, 0:t] = unit.real
    steps[:, n : n + t] = unit.imag
    steps[:, 2 * n : 2 * n + t] = mag
    steps[:, 3 * n : 3 * n + t] = pres[:, :, None, None]
    step_dates = np.stack([d[keep], d[keep]], axis=1)
    time = time_features(step_dates[:, 0], step_dates[:, 1])
    steps, time, mask, step_dates = _pad(steps, time, step_dates, n)
    valid = np.isfinite(m).all(axis=(2, 3)) & (np.abs(np.nan_to_num(m)).sum(axis=(2, 3)) > 0)
    return StackInputs(steps, time, mask, terrain, np.asarray(valid, dtype=bool), step_dates, notes)


def stack_inputs(
    spec: TemporalModelSpec,
    wrapped_phase: NDArray[np.floating],
    coherence: NDArray[np.floating] | None,
    reference_dates: Any,
    secondary_dates: Any,
    terrain: F32,
    source: str = "stack",
) -> StackInputs:
    """The inputs ``spec``'s model needs from an interferogram stack (the monitor's and explain's path)."""
    if not spec.steps_are_dates:
        return interferogram_inputs(
            wrapped_phase, coherence, reference_dates, secondary_dates, spec, terrain, source
        )
    phase = np.asarray(wrapped_phase, dtype=np.float64)
    ref_idx, sec_idx, dates = check_network(reference_dates, secondary_dates, source)
    if coherence is None:
        from fringenet.insar.coherence import coherence_from_phase

        coh = np.stack([coherence_from_phase(p, window=5) for p in phase])
    else:
        coh = np.asarray(coherence, dtype=np.float64)
    matrix, present = network_coherence_matrix(phase, coh, ref_idx, sec_idx, dates.size)
    out = coherence_matrix_inputs(matrix, present, dates, spec, terrain, source)
    if coherence is None:
        out.notes.append("coherence estimated from the wrapped phase (no coherence layer)")
    out.notes.append(
        "coherence matrix assembled from the interferogram network (entries of missing pairs empty)"
    )
    return out


def batch_inputs(items: Sequence[StackInputs]) -> dict[str, NDArray[Any]]:
    """Stack several inputs of one size into the arrays the network's ``forward`` takes."""
    return {
        "steps": np.stack([i.steps for i in items]),
        "time": np.stack([i.time for i in items]),
        "step_mask": np.stack([i.step_mask for i in items]),
        "terrain": np.stack([i.terrain for i in items]),
    }
