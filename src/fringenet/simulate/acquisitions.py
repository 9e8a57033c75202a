"""Acquisition dates, small-baseline networks, and wrapped/unwrapped phase with integer ambiguity."""

from __future__ import annotations

import datetime as dt

import numpy as np
from numpy.typing import NDArray

from fringenet.errors import InputError

IntArray = NDArray[np.int64]


def acquisition_dates(
    rng: np.random.Generator,
    start: dt.date,
    n_dates: int,
    revisit_days: int = 12,
    gap_probability: float = 0.1,
    snow_months: tuple[int, ...] = (),
) -> NDArray[np.datetime64]:
    """``n_dates`` acquisition dates (``datetime64[D]``) on a ``revisit_days`` grid from ``start``.

    Each grid slot is missed with probability ``gap_probability`` (missing acquisitions) and slots
    in ``snow_months`` (1-12) are never acquired, giving a seasonal gap as in snow-covered areas.
    The first date is ``start`` unless it falls in a snow month.
    """
    if n_dates < 1 or revisit_days < 1:
        raise InputError(
            "acquisitions", f"need n_dates >= 1 and revisit_days >= 1, got {n_dates}, {revisit_days}"
        )
    if len(snow_months) >= 12:
        raise InputError("acquisitions", "snow season cannot cover all 12 months")
    dates: list[np.datetime64] = []
    slot = 0
    start64 = np.datetime64(start, "D")
    while len(dates) < n_dates:
        date = start64 + np.timedelta64(slot * revisit_days, "D")
        slot += 1
        month = int(str(date)[5:7])
        if month in snow_months:
            continue
        if dates and rng.random() < gap_probability:
            continue
        dates.append(date)
    return np.array(dates, dtype="datetime64[D]")


def small_baseline_network(
    dates: NDArray[np.datetime64],
    max_baseline_days: float,
    n_neighbours: int | None = None,
    bridge_gaps: bool = False,
) -> IntArray:
    """Small-baseline pairs ``(n_pairs, 2)`` of date indices ``(reference, secondary)``, reference first.

    A pair ``(i, j)``, ``i < j``, is kept when its temporal baseline is ``<= max_baseline_days`` and,
    if ``n_neighbours`` is given, ``j - i <= n_neighbours``. With ``bridge_gaps`` the consecutive pair
    across a gap longer than ``max_baseline_days`` is added too, so the network stays connected;
    without it such a network is disconnected (as a strict baseline limit implies).
    """
    d = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
    if d.size < 2:
        raise InputError("acquisitions", f"a network needs at least 2 dates, got {d.size}")
    if np.any(np.diff(d) <= 0):
        raise InputError("acquisitions", "dates must be strictly increasing")
    i, j = np.triu_indices(d.size, k=1)
    keep = (d[j] - d[i]) <= max_baseline_days
    if n_neighbours is not None:
        keep &= (j - i) <= n_neighbours
    if bridge_gaps:
        keep |= (j - i) == 1
    return np.stack([i[keep], j[keep]], axis=1).astype(np.int64)


def wrap_with_ambiguity(
    unwrapped_rad: NDArray[np.floating],
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int16]]:
    """Split unwrapped phase into float32 wrapped phase and int16 ambiguity, exactly.

    Returns ``(wrapped, unwrapped, ambiguity)`` with ``wrapped`` in [-pi, pi) (as float64 values),
    and ``unwrapped == float32(float64(wrapped) + 2 pi * ambiguity)`` bit for bit, so the stored
    unwrapped phase is the float32 rounding of the identity (differences from the input are at
    float32 precision).
    """
    u = np.asarray(unwrapped_rad, dtype=np.float64)
    k = np.floor((u + np.pi) / (2.0 * np.pi))
    w = (u - 2.0 * np.pi * k).astype(np.float32)
    # float32(pi) > pi and float32(-pi) < -pi: keep the float32 wrapped phase inside [-pi, pi)
    hi = np.nextafter(np.float32(np.pi), np.float32(0.0))
    lo = np.nextafter(np.float32(-np.pi), np.float32(0.0))
    w = np.clip(w, lo, hi)
    if np.any(np.abs(k) > np.iinfo(np.int16).max):
        raise InputError("phase", "unwrapped phase exceeds the int16 ambiguity range (|k| > 32767)")
    amb = k.astype(np.int16)
    unw = (w.astype(np.float64) + 2.0 * np.pi * amb.astype(np.float64)).astype(np.float32)
    return w, unw, amb
