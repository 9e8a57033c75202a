"""Small-baseline network helpers: design matrix and connectivity of a set of pairs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as _graph_components

from fringenet.conventions import days_to_years
from fringenet.errors import InputError, NetworkError


def _as_dates(values: Sequence[Any] | NDArray[Any], name: str) -> NDArray[np.datetime64]:
    try:
        dates = np.asarray(values).ravel().astype("datetime64[D]")
    except (ValueError, TypeError) as exc:
        raise InputError(name, f"cannot be read as dates ({exc})") from None
    if np.isnat(dates).any():
        raise InputError(name, "contains missing dates (NaT)")
    return dates


def pair_indices(
    reference_dates: Sequence[Any] | NDArray[Any], secondary_dates: Sequence[Any] | NDArray[Any]
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.datetime64]]:
    """Indices of each pair's reference and secondary date in the sorted unique dates.

    Returns
    -------
    ref_idx, sec_idx : ndarray of intp, shape ``(pair,)``
    dates : ndarray of datetime64[D], shape ``(date,)``, sorted and unique
    """
    ref = _as_dates(reference_dates, "reference_dates")
    sec = _as_dates(secondary_dates, "secondary_dates")
    if ref.shape != sec.shape or ref.size == 0:
        raise InputError(
            "network", f"need as many reference as secondary dates, >= 1 (got {ref.size}, {sec.size})"
        )
    bad = np.flatnonzero(ref >= sec)
    if bad.size:
        raise InputError(
            "network",
            f"pair {bad[0]} ({ref[bad[0]]}..{sec[bad[0]]}): the reference date must precede the secondary",
        )
    dates = np.unique(np.concatenate([ref, sec]))
    return np.searchsorted(dates, ref), np.searchsorted(dates, sec), dates


def design_matrix(
    reference_dates: Sequence[Any] | NDArray[Any],
    secondary_dates: Sequence[Any] | NDArray[Any],
    *,
    unknowns: Literal["increment", "velocity"] = "increment",
) -> tuple[NDArray[np.float64], NDArray[np.datetime64]]:
    """Design matrix of the small-baseline inversion, first date as the zero reference.

    Unknown ``j`` (``j = 0 .. n_dates - 2``) belongs to the interval ``dates[j] .. dates[j+1]``;
    a pair spanning intervals ``ref .. sec-1`` observes their sum.

    Parameters
    ----------
    reference_dates, secondary_dates
        One entry per pair (anything ``numpy.datetime64`` accepts: strings, dates, datetime64).
    unknowns
        ``"increment"``: unknowns are the displacement (or phase) increments of each interval,
        entries are 0/1. ``"velocity"``: unknowns are the mean rate of each interval (per year,
        Berardino et al. 2002), entries are the interval lengths in years.

    Returns
    -------
    A : ndarray of float64, shape ``(pair, date - 1)``
    dates : ndarray of datetime64[D], shape ``(date,)``
        Sorted unique dates of the network.
    """
    ref_idx, sec_idx, dates = pair_indices(reference_dates, secondary_dates)
    interval = np.arange(dates.size - 1)
    spans = (interval[None, :] >= ref_idx[:, None]) & (interval[None, :] < sec_idx[:, None])
    if unknowns == "increment":
        return spans.astype(np.float64), dates
    if unknowns == "velocity":
        lengths = days_to_years(np.diff(dates).astype(np.float64))
        return spans * lengths[None, :], dates
    raise InputError("design_matrix", f"unknowns must be 'increment' or 'velocity' (got {unknowns!r})")


def connected_components(
    reference_dates: Sequence[Any] | NDArray[Any], secondary_dates: Sequence[Any] | NDArray[Any]
) -> list[NDArray[np.datetime64]]:
    """Groups of dates linked by pairs, each sorted, ordered by their first date.

    A network that can be inverted for one time series has exactly one group.
    """
    ref_idx, sec_idx, dates = pair_indices(reference_dates, secondary_dates)
    graph = coo_matrix((np.ones(ref_idx.size), (ref_idx, sec_idx)), shape=(dates.size, dates.size))
    _, labels = _graph_components(graph, directed=False)
    groups = [dates[labels == lab] for lab in np.unique(labels)]
    return sorted(groups, key=lambda g: g[0])


def describe_groups(groups: Sequence[NDArray[np.datetime64]]) -> str:
    """``"2020-01-01..2020-03-01 and 2020-06-01..2020-08-01"`` style summary of date groups."""
    spans = [f"{g[0]}..{g[-1]}" if g.size > 1 else f"{g[0]}" for g in groups]
    return ", ".join(spans[:-1]) + f" and {spans[-1]}" if len(spans) > 1 else spans[0]


def check_connected(
    reference_dates: Sequence[Any] | NDArray[Any],
    secondary_dates: Sequence[Any] | NDArray[Any],
    source: str = "network",
) -> NDArray[np.datetime64]:
    """Raise :class:`NetworkError` naming the groups if the pairs do not connect all dates.

    Returns the sorted unique dates when the network is connected.
    """
    groups = connected_components(reference_dates, secondary_dates)
    if len(groups) > 1:
        raise NetworkError(
            source,
            f"pairs form {len(groups)} disconnected groups: {describe_groups(groups)}; "
            "add bridging pairs or invert groups separately",
        )
    return groups[0]
