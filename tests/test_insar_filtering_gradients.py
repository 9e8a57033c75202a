"""Goldstein filter and phase-gradient tools."""

from __future__ import annotations

import numpy as np
import pytest

from fringenet.conventions import wrap
from fringenet.errors import InputError
from fringenet.insar.filtering import goldstein_filter
from fringenet.insar.gradients import phase_gradient_stack, phase_gradients


def circular_variance(residual: np.ndarray) -> float:
    return float(1.0 - np.abs(np.nanmean(np.exp(1j * residual))))


def test_goldstein_reduces_noise_without_shifting_fringes() -> None:
    rng = np.random.default_rng(11)
    y, x = np.mgrid[:96, :112]
    clean = 0.35 * x + 0.15 * y + 6.0 * np.exp(-((x - 56) ** 2 + (y - 48) ** 2) / 300.0)
    noisy = clean + rng.normal(0.0, 0.9, clean.shape)
    filtered = goldstein_filter(np.exp(1j * noisy), alpha=0.8, window=32)
    before = circular_variance(wrap(noisy - clean))
    after = circular_variance(wrap(np.angle(filtered) - clean))
    assert after < 0.3 * before
    # fringes not shifted: mean phase offset ~ 0 and typical error small
    mean_offset = np.angle(np.mean(np.exp(1j * (np.angle(filtered) - clean))))
    assert abs(mean_offset) < 0.05  # rad
    assert np.median(np.abs(wrap(np.angle(filtered) - clean))) < 0.3  # rad


def test_goldstein_alpha_zero_is_identity_and_keeps_nan() -> None:
    rng = np.random.default_rng(1)
    z = np.exp(1j * rng.uniform(-np.pi, np.pi, (40, 50)))
    z[3, 4] = np.nan
    out = goldstein_filter(z, alpha=0.0, window=16, step=4)
    assert np.isnan(out[3, 4])
    ok = np.isfinite(out)
    assert np.allclose(wrap(np.angle(out[ok]) - np.angle(z[ok])), 0.0, atol=1e-9)
    with pytest.raises(InputError):
        goldstein_filter(z, alpha=1.5)
    with pytest.raises(InputError):
        goldstein_filter(z, window=16, step=5)


def test_phase_gradients_of_a_ramp() -> None:
    y, x = np.mgrid[:20, :30]
    phase = wrap(0.5 * x - 0.3 * y)  # 90 deg points up (towards row 0): +0.3 rad/pixel
    g = phase_gradients(phase)
    assert g.shape == (4, 20, 30)
    assert np.allclose(g[0, :, :-1], 0.5)
    assert np.allclose(g[2, 1:, :], 0.3)
    assert np.allclose(g[1, 1:, :-1], (0.5 + 0.3) / np.sqrt(2))
    assert np.allclose(g[3, 1:, 1:], (-0.5 + 0.3) / np.sqrt(2))
    assert np.isnan(g[0, :, -1]).all() and np.isnan(g[2, 0, :]).all()
    with pytest.raises(InputError):
        phase_gradients(phase, directions=(30,))


def test_phase_gradient_stack_highlights_steady_bowl() -> None:
    rng = np.random.default_rng(2024)
    n_pairs, size = 20, 96
    y, x = np.mgrid[:size, :size]
    bowl = -4.0 * np.exp(-((x - 48) ** 2 + (y - 48) ** 2) / (2 * 8.0**2))  # rad per pair, steady
    stack = np.empty((n_pairs, size, size))
    for k in range(n_pairs):
        atmosphere = np.cumsum(np.cumsum(rng.normal(0, 0.05, (size, size)), 0), 1) * 0.05
        stack[k] = wrap(bowl + atmosphere + rng.normal(0, 0.3, (size, size)))
    stack[3, :10, :10] = np.nan
    res = phase_gradient_stack(stack)
    ring = (np.hypot(x - 48, y - 48) > 4) & (np.hypot(x - 48, y - 48) < 14)
    background = np.hypot(x - 48, y - 48) > 30
    assert np.nanmedian(res.magnitude[ring]) > 2.5 * np.nanmedian(res.magnitude[background])
    # stacked gradient recovers the true bowl gradient (rad/pixel) on the ring
    true_grad = np.hypot(*np.gradient(bowl))
    assert np.nanmedian(res.magnitude[ring]) == pytest.approx(np.median(true_grad[ring]), rel=0.2)
    assert res.per_direction.shape == (4, size, size)
    assert res.n_pairs[5, 5] == n_pairs - 1 and res.n_pairs[50, 50] == n_pairs
    single = phase_gradient_stack(stack[:1])
    # one noisy pair alone barely separates the bowl from the noise floor: stacking is what helps
    assert np.nanmedian(single.magnitude[ring]) < 1.6 * np.nanmedian(single.magnitude[background])
    weighted = phase_gradient_stack(stack, weights=np.r_[np.ones(10), np.zeros(10)])
    assert weighted.magnitude.shape == (size, size)
    with pytest.raises(InputError):
        phase_gradient_stack(stack, weights=np.ones(3))


def test_integrate_gradient_field_recovers_a_surface_and_stacked_rate_its_rate() -> None:
    from fringenet.insar.gradients import integrate_gradient_field, stacked_rate

    rng = np.random.default_rng(3)
    surface = np.cumsum(np.cumsum(rng.normal(0, 0.05, (24, 40)), axis=0), axis=1)
    along_x = np.zeros_like(surface)
    along_x[:, :-1] = np.diff(surface, axis=1)
    along_y = np.zeros_like(surface)
    along_y[:-1] = np.diff(surface, axis=0)
    assert np.allclose(integrate_gradient_field(along_x, along_y), surface - surface.mean(), atol=1e-9)
    # phase = rate x span exactly: the stacked rate is the rate (up to its mean), wrapping and all
    rate = 40.0 * np.exp(-((np.arange(40) - 20.0) ** 2) / 50.0)[None] * np.ones((24, 1))  # rad/yr
    spans = np.array([0.033, 0.066, 0.1, 0.2])
    wrapped = np.angle(np.exp(1j * rate[None] * spans[:, None, None]))
    coherence = np.full(wrapped.shape, 0.8)
    assert np.allclose(stacked_rate(wrapped, spans, coherence), rate - rate.mean(), atol=1e-3)
