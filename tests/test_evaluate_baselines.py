"""Non-learned segmentation baselines: phase-gradient score and Otsu rules."""

from __future__ import annotations

import numpy as np
import pytest

from fringenet.errors import InputError
from fringenet.evaluate.baselines import (
    BASELINES,
    coherent_gradient_otsu,
    low_coherence_otsu,
    phase_gradient_score,
    run_baseline,
)

Y, X = np.mgrid[:64, :64]
R = np.hypot(Y - 32, X - 32)
# concentric fringes in a disc of radius 20 px over a flat background; the steepest gradient
# (4 pi r / 200 = 1.26 rad/px at the rim) stays below pi, so the wrapped differences are exact
FRINGES = np.where(R < 20, 2 * np.pi * R**2 / 200.0, 0.0)


def test_phase_gradient_score_higher_inside_fringes() -> None:
    valid = np.ones(FRINGES.shape, bool)
    score = phase_gradient_score(np.cos(FRINGES), np.sin(FRINGES), valid)
    assert score.dtype == np.float32 and score.shape == FRINGES.shape
    inside, outside = score[R < 15], score[R > 28]
    assert inside.mean() > 0.4  # rad/px
    assert outside.max() < 1e-6  # flat, noise-free background has no gradient
    # ring mean at radius r is about 4 pi r / 200 rad/px
    ring = score[(R > 9.5) & (R < 10.5)].mean()
    assert ring == pytest.approx(4 * np.pi * 10 / 200, rel=0.1)


def test_phase_gradient_score_ignores_invalid_pixels_and_stacks() -> None:
    rng = np.random.default_rng(2)
    phase = np.zeros((64, 64))
    phase[:, 30:34] = rng.uniform(-np.pi, np.pi, (64, 4))  # garbage under the invalid strip
    valid = np.ones(phase.shape, bool)
    valid[:, 30:34] = False
    score = phase_gradient_score(np.cos(phase), np.sin(phase), valid, window=5)
    assert np.abs(score).max() < 1e-6  # garbage never enters the valid neighbours' mean
    stacked = phase_gradient_score(
        np.cos([phase, FRINGES]), np.sin([phase, FRINGES]), np.stack([valid, np.ones_like(valid)])
    )
    alone = phase_gradient_score(np.cos(FRINGES), np.sin(FRINGES), np.ones_like(valid))
    assert stacked.shape == (2, 64, 64)
    assert np.allclose(stacked[1], alone, atol=1e-6)  # patches do not bleed into each other


def test_coherent_gradient_otsu_finds_coherent_fringes_only() -> None:
    rng = np.random.default_rng(0)
    phase = FRINGES.copy()
    phase[:, :10] = rng.uniform(-np.pi, np.pi, (64, 10))  # decorrelated noise: large gradients
    coherence = np.full(phase.shape, 0.9)
    coherence[:, :10] = 0.2
    valid = np.ones(phase.shape, bool)
    mask = coherent_gradient_otsu(np.cos(phase), np.sin(phase), coherence, valid)
    assert mask.dtype == np.bool_ and mask.shape == phase.shape
    assert mask[(R > 6) & (R < 18)].mean() > 0.95
    assert not mask[:, :10].any()  # noise is steep but incoherent
    assert not mask[(R > 28) & (X >= 20)].any()


def test_otsu_rules_degenerate_inputs_are_all_false() -> None:
    shape = (2, 16, 16)
    valid = np.ones(shape, bool)
    flat_coh = np.full(shape, 0.7)
    out = coherent_gradient_otsu(np.ones(shape), np.zeros(shape), flat_coh, valid)
    assert out.shape == shape and out.dtype == np.bool_ and not out.any()
    coh = np.where(np.arange(16) < 8, 0.9, 0.3) * np.ones(shape)
    # coherence splits fine but the phase is flat: constant scores, no gradient threshold
    assert not coherent_gradient_otsu(np.ones(shape), np.zeros(shape), coh, valid).any()
    assert not low_coherence_otsu(flat_coh, valid).any()
    assert not low_coherence_otsu(coh, np.zeros(shape, bool)).any()


def test_low_coherence_otsu_per_patch() -> None:
    coherence = np.full((2, 32, 32), 0.9)
    coherence[0, 8:16, 8:16] = 0.15
    coherence[1] = 0.5  # constant patch: no threshold
    valid = np.ones(coherence.shape, bool)
    valid[0, 8, 8] = False
    mask = low_coherence_otsu(coherence, valid)
    expected = coherence[0] < 0.5
    expected[8, 8] = False
    assert np.array_equal(mask[0], expected)
    assert not mask[1].any()


def test_registry_and_run_baseline() -> None:
    assert set(BASELINES) == {"phase_gradient", "coherent_gradient_otsu", "low_coherence_otsu"}
    assert BASELINES["phase_gradient"].kind == "score"
    assert BASELINES["low_coherence_otsu"].channels == ("coherence",)
    channels = {
        "cos_phase": np.cos(FRINGES)[None],
        "sin_phase": np.sin(FRINGES)[None],
        "coherence": np.full((1, 64, 64), 0.9),
    }
    valid = np.ones((1, 64, 64), bool)
    score = run_baseline("phase_gradient", channels, valid)
    assert score.dtype == np.float32 and score.shape == (1, 64, 64)
    assert np.allclose(score[0], phase_gradient_score(np.cos(FRINGES), np.sin(FRINGES), valid[0]))
    assert run_baseline("coherent_gradient_otsu", channels, valid).dtype == np.bool_
    with pytest.raises(InputError, match="low_coherence_otsu"):
        run_baseline("nope", channels, valid)
    with pytest.raises(InputError, match="coherence"):
        run_baseline("low_coherence_otsu", {"cos_phase": channels["cos_phase"]}, valid)


def test_stacked_gradient_otsu_flags_a_steady_bowl_not_the_noise() -> None:
    from fringenet.evaluate.baselines import stacked_gradient_otsu

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    bowl = 6.0 * np.exp(-((yy - 32) ** 2 + (xx - 32) ** 2) / (2 * 6.0**2))  # rad per pair
    stack = np.angle(np.exp(1j * (bowl[None] + rng.normal(0, 0.6, (12, 64, 64)))))
    usable = np.ones((64, 64), dtype=bool)
    usable[:, :4] = False
    flagged = stacked_gradient_otsu(stack, None, usable)
    ring = (np.hypot(yy - 32, xx - 32) > 3) & (np.hypot(yy - 32, xx - 32) < 9)  # steepest part of the bowl
    assert flagged[ring].mean() > 0.8
    assert flagged[np.hypot(yy - 32, xx - 32) > 24].mean() < 0.05
    assert not flagged[:, :4].any()
    assert not stacked_gradient_otsu(np.zeros((3, 16, 16))).any()  # constant score: nothing flagged


def _slow_stack(rate_peak: float, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """30 pairs of 12-36 days over 13 dates, a Gaussian bowl of ``rate_peak`` rad/yr (a tenth of a fringe per pair
    at 10 rad/yr): (wrapped phase, spans in yr, bowl pattern)."""
    from slow_stacks import slow_bowl_phase

    phase, spans, pattern, _ = slow_bowl_phase(13, rate_peak, seed=seed)
    return np.angle(np.exp(1j * phase)), spans, pattern


def test_stacked_rate_anomaly_finds_slow_steady_motion_and_flags_nothing_without_it() -> None:
    from fringenet.evaluate.baselines import stacked_rate_anomaly

    # 15 rad/yr = 0.08 fringe per 12-day pair, 0.5 rad: invisible in one pair, under noise of 0.5 rad
    wrapped, spans, pattern = _slow_stack(15.0)
    moving = stacked_rate_anomaly(wrapped, spans)
    core = pattern > 0.5
    assert moving.mask[core].mean() > 0.8
    assert moving.mask[pattern < 0.01].mean() < 0.01
    assert moving.rate_anomaly[40, 40] > 0.5 * 15.0  # rad/yr, the bowl's sign
    still, _, _ = _slow_stack(0.0)
    quiet = stacked_rate_anomaly(still, spans)
    assert quiet.mask.mean() < 0.01
    # the same seed gives the same bytes; an unusable strip is never flagged
    usable = np.ones(pattern.shape, dtype=bool)
    usable[:, 36:44] = False
    again = stacked_rate_anomaly(wrapped, spans, usable=usable)
    assert not again.mask[~usable].any() and again.mask[core & usable].mean() > 0.8
    assert np.array_equal(stacked_rate_anomaly(wrapped, spans).z, moving.z)


def test_stacked_rate_anomaly_rejects_bad_input() -> None:
    from fringenet.evaluate.baselines import stacked_rate_anomaly

    wrapped, spans, _ = _slow_stack(0.0)
    with pytest.raises(InputError, match="spans_years"):
        stacked_rate_anomaly(wrapped, spans[:-1])
    with pytest.raises(InputError, match="spans_years"):
        stacked_rate_anomaly(wrapped, np.zeros_like(spans))
    with pytest.raises(InputError, match="usable"):
        stacked_rate_anomaly(wrapped, spans, usable=np.ones((3, 3), bool))
    with pytest.raises(InputError, match="pixel_m"):
        stacked_rate_anomaly(wrapped, spans, pixel_m=0.0)
    # a stack of NaN flags nothing rather than failing deep inside
    assert not stacked_rate_anomaly(np.full(wrapped.shape, np.nan), spans).mask.any()
