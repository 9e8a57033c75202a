"""The batched SBAS inversion against a plain per-pixel ``np.linalg.lstsq`` on tiny random stacks."""

from __future__ import annotations

import numpy as np
import pytest

from fringenet.conventions import days_to_years, phase_to_displacement
from fringenet.insar.network import design_matrix
from fringenet.insar.sbas import (
    INVERTED,
    SPLIT_NETWORK,
    STATUS_REASONS,
    TOO_FEW_PAIRS,
    invert_sbas,
)

WAVELENGTH = 0.0555  # m
DATES = np.datetime64("2021-01-01") + np.array([0, 12, 24, 36, 60, 72, 84, 108, 120])
# next two neighbours plus two long pairs
PAIRS = [(i, j) for i in range(DATES.size) for j in (i + 1, i + 2) if j < DATES.size] + [(0, 4), (3, 8)]
REF = DATES[[i for i, _ in PAIRS]]
SEC = DATES[[j for _, j in PAIRS]]
SHAPE = (12, 12)
SHARED_ROWS = 4  # the first 4 rows (48 px) keep every pair: one pattern, solved through a pseudo-inverse


def random_stack(rng: np.random.Generator, nan_fraction: float) -> np.ndarray:
    """``(pair, y, x)`` phase (rad) of random series, ``nan_fraction`` of the values NaN past the first rows."""
    series = np.cumsum(rng.normal(0.0, 1.5, (DATES.size, *SHAPE)), axis=0)
    phase = np.stack([series[j] - series[i] for i, j in PAIRS]) + rng.normal(0.0, 0.3, (len(PAIRS), *SHAPE))
    holes = rng.random(phase.shape) < nan_fraction
    holes[:, :SHARED_ROWS] = False
    phase[holes] = np.nan
    return phase


def reference(phase: np.ndarray, weights: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per-pixel weighted least squares with ``np.linalg.lstsq``; NaN where the pairs left are rank deficient."""
    A, dates = design_matrix(REF, SEC)
    n = A.shape[1]
    obs = phase.reshape(len(PAIRS), -1)
    w = np.ones_like(obs) if weights is None else np.broadcast_to(weights.reshape(len(PAIRS), -1), obs.shape)
    increments = np.full((n, obs.shape[1]), np.nan)
    rms = np.full(obs.shape[1], np.nan)
    used = np.zeros(obs.shape[1], int)
    for p in range(obs.shape[1]):
        use = np.isfinite(obs[:, p]) & np.isfinite(w[:, p]) & (w[:, p] > 0)
        if use.sum() < n or np.linalg.matrix_rank(A[use]) < n:
            continue
        sw = np.sqrt(w[use, p])
        x, *_ = np.linalg.lstsq(A[use] * sw[:, None], obs[use, p] * sw, rcond=None)
        increments[:, p] = x
        rms[p] = np.sqrt(np.mean((A[use] @ x - obs[use, p]) ** 2))
        used[p] = use.sum()
    disp = phase_to_displacement(
        np.vstack([np.zeros((1, obs.shape[1])), np.cumsum(increments, 0)]), WAVELENGTH
    )
    t = days_to_years((dates - dates[0]).astype(float))
    velocity = np.full(obs.shape[1], np.nan)
    ok = np.isfinite(rms)
    velocity[ok] = np.polyfit(t, disp[:, ok], 1)[0]
    return {
        "displacement": disp.reshape(-1, *SHAPE),
        "velocity": velocity.reshape(SHAPE),
        "residual_rms": rms.reshape(SHAPE),
        "n_pairs_used": used.reshape(SHAPE),
    }


@pytest.mark.parametrize("weighting", ["none", "per pair", "per pixel"])
def test_matches_per_pixel_lstsq_with_scattered_nan(weighting: str) -> None:
    rng = np.random.default_rng(3)
    phase = random_stack(rng, nan_fraction=0.12)
    weights = None
    if weighting == "per pair":
        weights = rng.uniform(0.1, 4.0, len(PAIRS))
    elif weighting == "per pixel":
        coh = rng.uniform(0.2, 0.95, phase.shape)
        weights = coh**2 / (1 - coh**2)
        weights[0, 1, 5] = 0.0  # zero weight removes that pair at that pixel
        weights[3, 2, 6] = np.nan  # so does a NaN weight
    res = invert_sbas(phase, REF, SEC, wavelength_m=WAVELENGTH, weights=weights)
    w_full = None
    if weights is not None:
        w_full = np.broadcast_to(weights[:, None, None] if weights.ndim == 1 else weights, phase.shape)
    ref = reference(phase, w_full)
    assert np.array_equal(np.isnan(res.velocity), np.isnan(ref["velocity"]))
    assert np.isfinite(res.velocity).mean() > 0.8
    ok = np.isfinite(ref["velocity"])
    scale = np.max(np.abs(ref["velocity"][ok]))
    assert np.max(np.abs(res.velocity[ok] - ref["velocity"][ok])) < 1e-9 * scale
    assert np.allclose(res.displacement, ref["displacement"], rtol=1e-9, atol=1e-12, equal_nan=True)
    assert np.allclose(res.residual_rms, ref["residual_rms"], rtol=1e-9, atol=1e-12, equal_nan=True)
    assert np.array_equal(res.n_pairs_used, ref["n_pairs_used"])
    assert np.all(res.status[ok] == INVERTED)
    if weighting == "per pixel":
        assert res.n_pairs_used[1, 5] == res.n_pairs_used[2, 6] == len(PAIRS) - 1


def test_split_network_is_nan_with_a_reason() -> None:
    rng = np.random.default_rng(4)
    phase = random_stack(rng, nan_fraction=0.0)
    across = [k for k, (i, j) in enumerate(PAIRS) if i <= 4 < j]  # every pair across the 4 -> 5 interval
    phase[across, 8, 3] = np.nan  # dates 0..4 and 5..8 no longer linked
    touching = [k for k, (i, j) in enumerate(PAIRS) if 6 in (i, j)]
    phase[touching, 9, 9] = np.nan  # date 6 left alone
    phase[:, 10, 0] = np.nan  # nothing at all
    phase[: len(PAIRS) - 6, 11, 11] = np.nan  # 6 pairs left, fewer than the 8 unknowns
    res = invert_sbas(phase, REF, SEC, wavelength_m=WAVELENGTH)
    ref = reference(phase, None)
    for y, x in [(8, 3), (9, 9)]:
        assert res.status[y, x] == SPLIT_NETWORK
        assert np.isnan(ref["velocity"][y, x])  # the reference's pairs there are rank deficient too
    assert res.status[10, 0] == TOO_FEW_PAIRS and res.status[11, 11] == TOO_FEW_PAIRS
    bad = res.status != INVERTED
    assert bad.sum() == 4
    assert np.isnan(res.velocity[bad]).all() and np.isnan(res.velocity_std[bad]).all()
    assert np.isnan(res.displacement[1:, bad]).all() and np.all(res.n_pairs_used[bad] == 0)
    assert np.isfinite(res.velocity[~bad]).all()
    assert np.allclose(res.velocity[~bad], ref["velocity"][~bad], rtol=1e-9)
    assert "split" in STATUS_REASONS[SPLIT_NETWORK]
    # a looser min_pairs does not invert a split network either, it only changes the reason
    loose = invert_sbas(phase, REF, SEC, wavelength_m=WAVELENGTH, min_pairs=1)
    assert loose.status[11, 11] == SPLIT_NETWORK and np.isnan(loose.velocity[11, 11])
    strict = invert_sbas(phase, REF, SEC, wavelength_m=WAVELENGTH, min_pairs=len(PAIRS))
    assert strict.status[8, 3] == TOO_FEW_PAIRS and strict.status[0, 0] == INVERTED


def test_connectivity_check_agrees_with_the_rank() -> None:
    rng = np.random.default_rng(5)
    phase = random_stack(rng, nan_fraction=0.4)  # heavy gaps: many split networks
    res = invert_sbas(phase, REF, SEC, wavelength_m=WAVELENGTH, min_pairs=1)
    A, _ = design_matrix(REF, SEC)
    obs = phase.reshape(len(PAIRS), -1)
    rank_ok = np.array(
        [np.linalg.matrix_rank(A[np.isfinite(obs[:, p])]) == A.shape[1] for p in range(obs.shape[1])]
    )
    assert 10 < (~rank_ok).sum() < rank_ok.size - 48
    assert np.array_equal(res.status.ravel() == INVERTED, rank_ok)
    assert np.all(res.status.ravel()[~rank_ok] == SPLIT_NETWORK)


def test_float32_input_gives_the_float64_answer() -> None:
    phase = random_stack(np.random.default_rng(6), nan_fraction=0.1).astype(np.float32)
    single = invert_sbas(phase, REF, SEC, wavelength_m=WAVELENGTH)
    double = invert_sbas(phase.astype(np.float64), REF, SEC, wavelength_m=WAVELENGTH)
    assert np.array_equal(single.velocity, double.velocity, equal_nan=True)
    assert np.array_equal(single.residual_rms, double.residual_rms, equal_nan=True)
