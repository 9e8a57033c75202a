"""Phase unwrapping round trips with SNAPHU and whirlwind."""

from __future__ import annotations

import numpy as np
import pytest

from fringenet.conventions import wrap
from fringenet.errors import InputError
from fringenet.insar.unwrap import unwrap


def bowl_pair(seed: int = 1) -> np.ndarray:
    """Smooth phase field (rad): a 30 rad Gaussian bowl plus mild noise, 100 x 110 px."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:100, :110]
    return -30.0 * np.exp(-((x - 55) ** 2 + (y - 50) ** 2) / (2 * 18.0**2)) + rng.normal(0, 0.2, x.shape)


def fraction_correct(unwrapped: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of pixels equal to the truth up to one common 2 pi k offset (within 0.01 rad)."""
    offset = 2 * np.pi * np.round(np.nanmedian(unwrapped - truth) / (2 * np.pi))
    return float(np.mean(np.abs(unwrapped - truth - offset) < 0.01))


@pytest.mark.parametrize("method", ["snaphu", "whirlwind"])
def test_unwrap_round_trip(method: str) -> None:
    truth = bowl_pair()
    result = unwrap(wrap(truth), np.full(truth.shape, 0.9), method=method, nlooks=5.0)
    assert result.method == method
    assert result.coherence_source == "input"
    assert fraction_correct(result.unwrapped, truth) > 0.99
    assert (result.components > 0).mean() > 0.99


@pytest.mark.parametrize("method", ["snaphu", "whirlwind"])
def test_unwrap_without_coherence_uses_phase_and_keeps_nan(method: str) -> None:
    truth = bowl_pair(2)
    wrapped = wrap(truth)
    wrapped[:5, :5] = np.nan
    result = unwrap(wrapped, method=method)
    assert result.coherence_source == "phase"
    assert np.isnan(result.unwrapped[:5, :5]).all()
    assert result.components[:5, :5].max() == 0
    ok = np.isfinite(result.unwrapped)
    assert fraction_correct(result.unwrapped[ok], truth[ok]) > 0.99


def test_unwrap_rejects_unknown_method_and_bad_shapes() -> None:
    phase = wrap(bowl_pair())
    with pytest.raises(InputError, match="snaphu, whirlwind"):
        unwrap(phase, method="icu")
    with pytest.raises(InputError, match="shape"):
        unwrap(phase, np.ones((3, 3)))
    with pytest.raises(InputError, match="no valid pixel"):
        unwrap(np.full((8, 8), np.nan))
