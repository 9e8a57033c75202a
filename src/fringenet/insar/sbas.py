"""Small-baseline (SBAS) inversion of a stack of unwrapped interferograms, vectorised over pixels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fringenet.conventions import days_to_years, phase_to_displacement
from fringenet.errors import InputError
from fringenet.insar.network import check_connected, design_matrix, pair_indices

INVERTED, TOO_FEW_PAIRS, SPLIT_NETWORK = 0, 1, 2
"""Codes of :attr:`SBASResult.status`."""
STATUS_REASONS: dict[int, str] = {
    INVERTED: "inverted",
    TOO_FEW_PAIRS: "fewer usable pairs than min_pairs",
    SPLIT_NETWORK: "the usable pairs split the network: some dates are not linked to the others",
}
"""What each code of :attr:`SBASResult.status` means."""

_SHARED = 32
"""Pixels with one pattern of usable pairs (and per-pair weights) from which they share one
pseudo-inverse; smaller groups, and per-pixel weights, go to the batched normal equations."""
_BLOCK_BYTES = 64 * 2**20
"""Bound of the memory one block of pixels takes (gathered observations, normal matrices)."""


@dataclass(frozen=True)
class SBASResult:
    """Time series and mean velocity from :func:`invert_sbas`."""

    dates: NDArray[np.datetime64]
    """``(date,)`` sorted acquisition dates (datetime64[D])."""
    time_years: NDArray[np.floating]
    """``(date,)`` time since the first date (years)."""
    displacement: NDArray[np.floating]
    """``(date, y, x)`` LOS displacement (m, positive towards the satellite), 0 at the first date."""
    velocity: NDArray[np.float64]
    """``(y, x)`` least-squares linear rate of the displacement (m/yr)."""
    velocity_std: NDArray[np.float64]
    """``(y, x)`` standard error of that rate from the fit residuals (m/yr); NaN with < 3 dates."""
    residual_rms: NDArray[np.float64]
    """``(y, x)`` RMS misfit of the network inversion over the pairs used (rad)."""
    n_pairs_used: NDArray[np.int64]
    """``(y, x)`` number of pairs that entered each pixel's inversion."""
    status: NDArray[np.uint8]
    """``(y, x)`` why a pixel is or is not inverted: a key of :data:`STATUS_REASONS` (0 = inverted;
    ``TOO_FEW_PAIRS`` and ``SPLIT_NETWORK`` pixels are NaN)."""


def _weights(weights: ArrayLike | None, shape: tuple[int, ...]) -> NDArray[np.float64] | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape not in ((shape[0],), shape):
        raise InputError("weights", f"must have shape ({shape[0]},) or {shape} (got {w.shape})")
    if np.any(w < 0):
        raise InputError("weights", "must be non-negative")
    return w


def _connects_all(
    usable: NDArray[np.bool_], ref_idx: NDArray[np.intp], sec_idx: NDArray[np.intp], n_dates: int
) -> NDArray[np.bool_]:
    """Whether each pattern's usable pairs link every date, shape ``(pattern,)``.

    ``usable`` is ``(pair, pattern)``. Labels spread along the usable pairs, vectorised over the
    patterns: every date starts with its own index and each pair gives both of its dates the smaller
    of their labels, until nothing changes; all dates end with label 0 exactly when the network is
    connected, which for the increment design matrix is full column rank.
    """
    label = np.repeat(np.arange(n_dates, dtype=np.int32)[:, None], usable.shape[1], axis=1)
    total = int(label.sum())
    for _ in range(n_dates):
        for k in range(ref_idx.size):
            r, s = ref_idx[k], sec_idx[k]
            low = np.minimum(label[r], label[s])
            np.copyto(label[r], low, where=usable[k])
            np.copyto(label[s], low, where=usable[k])
        before, total = total, int(label.sum())  # labels only decrease: same sum = no change
        if total == before:
            break
    return np.all(label == 0, axis=0)


def _blocks(cols: NDArray[np.intp], size: int) -> list[NDArray[np.intp] | slice]:
    """``cols`` cut into blocks of at most ``size``; a run of consecutive pixels becomes a slice."""
    out: list[NDArray[np.intp] | slice] = []
    for start in range(0, cols.size, size):
        c = cols[start : start + size]
        out.append(slice(c[0], c[-1] + 1) if c[-1] - c[0] + 1 == c.size else c)
    return out


def _solve_shared(
    A: NDArray[np.float64],
    obs: NDArray[np.float64],
    rows: NDArray[np.bool_],
    cols: NDArray[np.intp],
    w_pair: NDArray[np.float64] | None,
    increments: NDArray[np.float64],
    rms: NDArray[np.float64],
) -> None:
    """Pixels ``cols`` that all use the pairs ``rows`` (per-pair weights ``w_pair``): one pseudo-inverse."""
    rows_idx = np.flatnonzero(rows)
    A_sub = A[rows_idx]
    if w_pair is None:
        P = np.linalg.pinv(A_sub)
    else:
        sw = np.sqrt(w_pair[rows_idx])
        P = np.linalg.pinv(A_sub * sw[:, None]) * sw[None, :]
    every_row = rows_idx.size == A.shape[0]
    for c in _blocks(cols, max(1, _BLOCK_BYTES // (16 * A.shape[0]))):
        if every_row:
            Y = obs[:, c]
        elif isinstance(c, slice):
            Y = obs[rows_idx, c]
        else:
            Y = obs[rows_idx[:, None], c]
        X = P @ Y
        increments[:, c] = X
        R = A_sub @ X
        R -= Y
        rms[c] = np.sqrt(np.mean(np.square(R, out=R), axis=0))


def _solve_normal(
    A: NDArray[np.float64],
    obs: NDArray[np.float64],
    valid: NDArray[np.bool_],
    cols: NDArray[np.intp],
    w_pair: NDArray[np.float64] | None,
    w_pix: NDArray[np.float64] | None,
    increments: NDArray[np.float64],
    rms: NDArray[np.float64],
) -> None:
    """Pixels ``cols``, each with its own usable pairs and weights: batched normal equations.

    Pixel ``p`` solves ``(A^T W_p A) x = A^T W_p y_p`` with ``W_p`` its weights, 0 on missing
    pairs; all of a block's ``(unknown, unknown)`` systems are built by one matrix product and
    solved by one call.
    """
    n_pairs, n = A.shape
    outer = (A[:, :, None] * A[:, None, :]).reshape(n_pairs, n * n)
    for c in _blocks(cols, max(1, _BLOCK_BYTES // (8 * (2 * n * n + 4 * n_pairs)))):
        use = valid[:, c]
        Y = np.where(use, obs[:, c], 0.0)
        if w_pix is not None:
            W = np.where(use, w_pix[:, c], 0.0)
        elif w_pair is not None:
            W = use * w_pair[:, None]
        else:
            W = use.astype(np.float64)
        normal = (W.T @ outer).reshape(-1, n, n)
        rhs = (W * Y).T @ A
        try:
            X = np.linalg.solve(normal, rhs[..., None])[..., 0].T
        except np.linalg.LinAlgError:  # numerically singular (vanishing weights): minimum norm
            X = (np.linalg.pinv(normal) @ rhs[..., None])[..., 0].T
        increments[:, c] = X
        R = A @ X
        R -= Y
        R *= use
        rms[c] = np.sqrt(np.sum(np.square(R, out=R), axis=0) / use.sum(axis=0))


def _group_patterns(
    valid: NDArray[np.bool_],
) -> tuple[NDArray[np.bool_], NDArray[np.intp], NDArray[np.intp]]:
    """Pixels grouped by their pattern of usable pairs.

    Returns ``usable`` ``(pair, pattern)``, each pixel's pattern ``group`` ``(pixel,)`` and an
    ``order`` of the pixels that lists each pattern's pixels together, in increasing pixel index,
    patterns in the order of their index.
    """
    n_pairs, npix = valid.shape
    if valid.all():
        return np.ones((n_pairs, 1), dtype=bool), np.zeros(npix, dtype=np.intp), np.arange(npix)
    packed = np.packbits(valid, axis=0)  # (byte, pixel): 8 pairs per byte
    words = np.zeros((npix, 8 * -(-packed.shape[0] // 8)), dtype=np.uint8)
    words[:, : packed.shape[0]] = packed.T
    keys = words.view(np.uint64)  # (pixel, word): the pattern as 64-bit integers
    order = np.lexsort(keys.T[::-1]) if keys.shape[1] > 1 else np.argsort(keys[:, 0], kind="stable")
    ranked = keys[order]
    first = np.ones(npix, dtype=bool)
    first[1:] = np.any(ranked[1:] != ranked[:-1], axis=1)
    group = np.empty(npix, dtype=np.intp)
    group[order] = np.cumsum(first) - 1
    return valid[:, order[first]], group, order


def _series_and_rate(
    increments: NDArray[np.float64], t: NDArray[np.floating], wavelength_m: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Displacement ``(date, pixel)`` (m) from phase increments, its linear rate and that rate's error (m/yr)."""
    n_dates, npix = t.size, increments.shape[1]
    displacement = np.empty((n_dates, npix))
    displacement[0] = 0.0
    np.cumsum(increments, axis=0, out=displacement[1:])
    displacement *= phase_to_displacement(1.0, wavelength_m)
    tc = t - t.mean()
    velocity = tc @ displacement / (tc @ tc)
    velocity_std = np.full(npix, np.nan)
    if n_dates > 2:
        mean = displacement.mean(axis=0)
        sigma2 = np.empty(npix)
        block = max(1, _BLOCK_BYTES // (64 * n_dates))
        for start in range(0, npix, block):
            sl = slice(start, start + block)
            misfit = displacement[:, sl] - mean[sl]
            misfit -= np.outer(tc, velocity[sl])
            sigma2[sl] = np.einsum("dp,dp->p", misfit, misfit)
        velocity_std = np.sqrt(sigma2 / (n_dates - 2) / (tc @ tc))
    return displacement, velocity, velocity_std


def invert_sbas(
    unwrapped_phase: ArrayLike,
    reference_dates: Sequence[Any] | NDArray[Any],
    secondary_dates: Sequence[Any] | NDArray[Any],
    *,
    wavelength_m: float,
    weights: ArrayLike | None = None,
    min_pairs: int | None = None,
) -> SBASResult:
    """Invert a small-baseline network of unwrapped interferograms for a displacement time series.

    Every pixel solves ``A x = phase`` (``A`` from :func:`~fringenet.insar.network.design_matrix`,
    unknowns = phase increments between consecutive dates) by (weighted) least squares over its
    finite pairs. Pixels that share a pattern of usable pairs (and per-pair weights) share one
    pseudo-inverse; the others, and per-pixel weights, are solved by batched normal equations
    (``A^T W A x = A^T W y``, ``W = 0`` on missing pairs). A pixel whose usable pairs no longer
    connect every date gets NaN, with ``status == SPLIT_NETWORK``, rather than a minimum-norm
    answer that would silently misplace part of the series.

    Parameters
    ----------
    unwrapped_phase
        Unwrapped phase (rad), shape ``(pair, y, x)``; NaN = missing. Each pair's phase is
        ``phase(secondary) - phase(reference)``.
    reference_dates, secondary_dates
        Dates of each pair, length ``pair``.
    wavelength_m
        Radar wavelength (m), for the phase-to-displacement conversion.
    weights
        Optional non-negative weights, shape ``(pair,)`` or ``(pair, y, x)`` (e.g. derived from
        coherence: ``coh**2 / (1 - coh**2)``). Zero or NaN weight removes the observation.
    min_pairs
        Minimum number of usable pairs for a pixel to be inverted; default ``n_dates - 1``
        (the fewest that can determine the series).

    Returns
    -------
    SBASResult

    Raises
    ------
    NetworkError
        When the pairs do not connect all dates (names the disconnected groups).
    InputError
        On inconsistent shapes, bad weights or a bad wavelength.
    """
    phase = np.asarray(unwrapped_phase)
    if phase.dtype not in (np.float32, np.float64):  # float32 stays: each block is read as float64
        phase = phase.astype(np.float64)
    if phase.ndim != 3:
        raise InputError("unwrapped_phase", f"expected shape (pair, y, x) (got {phase.shape})")
    if len(reference_dates) != phase.shape[0] or len(secondary_dates) != phase.shape[0]:
        raise InputError(
            "unwrapped_phase",
            f"has {phase.shape[0]} pairs but {len(reference_dates)} reference / "
            f"{len(secondary_dates)} secondary dates",
        )
    if not (np.isfinite(wavelength_m) and 1e-3 < wavelength_m < 1.0):
        raise InputError("wavelength_m", f"must be the radar wavelength in metres (got {wavelength_m!r})")
    check_connected(reference_dates, secondary_dates, source="interferogram network")
    A, dates = design_matrix(reference_dates, secondary_dates)
    n_pairs, ny, nx = phase.shape
    n_unknowns = dates.size - 1
    min_pairs = n_unknowns if min_pairs is None else int(min_pairs)
    if min_pairs < 1:
        raise InputError("min_pairs", f"must be >= 1 (got {min_pairs})")
    w = _weights(weights, phase.shape)

    obs = phase.reshape(n_pairs, -1)
    valid = np.isfinite(obs)
    w_pair = w_pix = None
    if w is not None and w.ndim == 1:
        w_pair = w
        valid &= (np.isfinite(w) & (w > 0))[:, None]
    elif w is not None:
        w_pix = w.reshape(n_pairs, -1)
        valid &= np.isfinite(w_pix) & (w_pix > 0)
    npix = obs.shape[1]

    # pixels grouped by their pattern of usable pairs; each pattern is checked once
    usable, group, order = _group_patterns(valid)
    n_usable = usable.sum(axis=0)
    status_of = np.full(usable.shape[1], TOO_FEW_PAIRS, dtype=np.uint8)
    enough = np.flatnonzero(n_usable >= min_pairs)
    ref_idx, sec_idx, _ = pair_indices(reference_dates, secondary_dates)
    linked = _connects_all(np.ascontiguousarray(usable[:, enough]), ref_idx, sec_idx, dates.size)
    status_of[enough] = np.where(linked, INVERTED, SPLIT_NETWORK)
    status = status_of[group]

    increments = np.full((n_unknowns, npix), np.nan)
    rms = np.full(npix, np.nan)
    counts = np.bincount(group, minlength=usable.shape[1])
    bounds = np.concatenate([[0], np.cumsum(counts)])
    shared = (status_of == INVERTED) & (counts >= _SHARED) & (w_pix is None)
    for g in np.flatnonzero(shared):
        cols = order[bounds[g] : bounds[g + 1]]
        _solve_shared(A, obs, usable[:, g], cols, w_pair, increments, rms)
    rest = np.flatnonzero((status == INVERTED) & ~shared[group])
    if rest.size:
        _solve_normal(A, obs, valid, rest, w_pair, w_pix, increments, rms)

    t = days_to_years((dates - dates[0]).astype(np.float64))
    displacement, velocity, velocity_std = _series_and_rate(increments, t, wavelength_m)
    n_used = np.where(status == INVERTED, valid.sum(axis=0), 0).astype(np.int64)
    return SBASResult(
        dates=dates,
        time_years=t,
        displacement=displacement.reshape(dates.size, ny, nx),
        velocity=velocity.reshape(ny, nx),
        velocity_std=velocity_std.reshape(ny, nx),
        residual_rms=rms.reshape(ny, nx),
        n_pairs_used=n_used.reshape(ny, nx),
        status=status.reshape(ny, nx),
    )
