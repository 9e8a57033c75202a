"""Small-baseline (SBAS) inversion of a stack of unwrapped interferograms, vectorised over pixels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fringenet.conventions import days_to_years, phase_to_displacement
from fringenet.errors import InputError
from fringenet.insar.network import check_connected, design_matrix

_CHUNK = 20_000
"""Pixels per batched normal-equation solve when weights vary per pixel (bounds memory)."""


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


def _weights(weights: ArrayLike | None, shape: tuple[int, ...]) -> NDArray[np.float64] | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape not in ((shape[0],), shape):
        raise InputError("weights", f"must have shape ({shape[0]},) or {shape} (got {w.shape})")
    if np.any(w < 0):
        raise InputError("weights", "must be non-negative")
    return w


def _solve_group(
    A: NDArray[np.float64], Y: NDArray[np.float64], W: NDArray[np.float64] | None
) -> NDArray[np.floating]:
    """Least-squares solution ``(unknown, pixel)`` of ``A x = Y`` for many pixels at once.

    ``W`` is ``None`` (unweighted), ``(row,)`` (per pair) or ``(row, pixel)`` (per pixel).
    """
    if W is None or W.ndim == 1:
        sw = np.ones(A.shape[0]) if W is None else np.sqrt(W)
        x, *_ = np.linalg.lstsq(A * sw[:, None], Y * sw[:, None], rcond=None)
        return x
    out = np.empty((A.shape[1], Y.shape[1]))
    for start in range(0, Y.shape[1], _CHUNK):
        sl = slice(start, start + _CHUNK)
        normal = np.einsum("kp,ki,kj->pij", W[:, sl], A, A)
        rhs = np.einsum("kp,ki,kp->pi", W[:, sl], A, Y[:, sl])
        out[:, sl] = np.linalg.solve(normal, rhs[..., None])[..., 0].T
    return out


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
    finite pairs. Pixels sharing the same pattern of missing pairs are solved together in one
    call. A pixel whose usable pairs no longer connect every date gets NaN rather than a
    minimum-norm answer that would silently misplace part of the series.

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
    phase = np.asarray(unwrapped_phase, dtype=np.float64)
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
    w_flat: NDArray[np.float64] | None = None
    if w is not None:
        w_flat = np.broadcast_to(w.reshape(n_pairs, -1) if w.ndim == 3 else w[:, None], obs.shape)
        valid &= np.isfinite(w_flat) & (w_flat > 0)
    npix = obs.shape[1]
    increments = np.full((n_unknowns, npix), np.nan)
    rms = np.full(npix, np.nan)

    patterns, group = np.unique(np.packbits(valid.T, axis=1), axis=0, return_inverse=True)
    group = group.ravel()
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(patterns.shape[0] + 1))
    for g in range(patterns.shape[0]):
        pix = order[bounds[g] : bounds[g + 1]]
        rows = valid[:, pix[0]]
        A_sub = A[rows]
        if rows.sum() < min_pairs or np.linalg.matrix_rank(A_sub) < n_unknowns:
            continue
        Y = obs[rows][:, pix]
        if w_flat is None:
            W = None
        elif w is not None and w.ndim == 1:
            W = w[rows]
        else:
            W = w_flat[rows][:, pix]
        x = _solve_group(A_sub, Y, W)
        increments[:, pix] = x
        rms[pix] = np.sqrt(np.mean((A_sub @ x - Y) ** 2, axis=0))

    cumulative = np.vstack([np.zeros((1, npix)), np.cumsum(increments, axis=0)])
    displacement = phase_to_displacement(cumulative, wavelength_m)
    t = days_to_years((dates - dates[0]).astype(np.float64))
    tc = t - t.mean()
    velocity = tc @ displacement / (tc @ tc)
    fit = displacement.mean(axis=0) + np.outer(tc, velocity)
    if dates.size > 2:
        sigma2 = np.sum((displacement - fit) ** 2, axis=0) / (dates.size - 2)
        velocity_std = np.sqrt(sigma2 / (tc @ tc))
    else:
        velocity_std = np.full(npix, np.nan)
    n_used = np.where(np.isfinite(rms), valid.sum(axis=0), 0).astype(np.int64)
    return SBASResult(
        dates=dates,
        time_years=t,
        displacement=displacement.reshape(dates.size, ny, nx),
        velocity=velocity.reshape(ny, nx),
        velocity_std=velocity_std.reshape(ny, nx),
        residual_rms=rms.reshape(ny, nx),
        n_pairs_used=n_used.reshape(ny, nx),
    )
