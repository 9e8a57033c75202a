"""Multilooking, coherence estimation and the Otsu coherence mask."""

from __future__ import annotations

import numpy as np
import pytest

from fringenet.errors import InputError
from fringenet.insar.coherence import coherence_from_phase, estimate_coherence
from fringenet.insar.masking import otsu_coherence_mask
from fringenet.insar.multilook import multilook, multilook_interferogram


def correlated_pair(gamma: float, shape: tuple[int, int], rng: np.random.Generator):
    """Two circular complex Gaussian images with true coherence ``gamma`` (unit power)."""

    def cn() -> np.ndarray:
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)

    s1 = cn()
    s2 = gamma * s1 + np.sqrt(1 - gamma**2) * cn()
    return s1, s2


def test_multilook_block_mean_crops_and_ignores_nan() -> None:
    a = np.arange(7 * 9, dtype=float).reshape(7, 9)
    a[0, 0] = np.nan
    out = multilook(a, 3, 4)
    assert out.shape == (2, 2)
    block = a[:3, :4]
    assert out[0, 0] == pytest.approx(np.nanmean(block))
    assert out[1, 1] == pytest.approx(a[3:6, 4:8].mean())
    assert np.isnan(multilook(np.full((4, 4), np.nan), 2, 2)).all()


def test_multilook_interferogram_averages_complex_phase() -> None:
    phase = np.full((6, 6), 3.0)  # close to the +-pi wrap: real averaging of phase would fail
    phase[::2] = -3.0
    z = np.exp(1j * phase)
    ml = multilook_interferogram(z, 2)
    assert ml.shape == (3, 3)
    # mean of exp(3i) and exp(-3i) is real negative: phase pi, not 0
    assert np.allclose(np.abs(np.angle(ml)), np.pi)
    with pytest.raises(InputError):
        multilook_interferogram(phase, 2)
    with pytest.raises(InputError):
        multilook(phase, 0, 2)


@pytest.mark.parametrize("gamma", [0.3, 0.6, 0.9])
def test_estimate_coherence_matches_truth_with_many_looks(gamma: float) -> None:
    rng = np.random.default_rng(42)
    s1, s2 = correlated_pair(gamma, (128, 128), rng)
    coh = estimate_coherence(s1, s2, window=15)  # L = 225 looks: bias < 0.01 here
    core = coh[10:-10, 10:-10]
    assert np.mean(core) == pytest.approx(gamma, abs=0.02)


def test_estimate_coherence_bias_at_zero_coherence() -> None:
    rng = np.random.default_rng(7)
    s1, s2 = correlated_pair(0.0, (128, 128), rng)
    coh = estimate_coherence(s1, s2, window=5)
    # E|gamma_hat| for gamma = 0 and L = 25 looks is about sqrt(pi / (4 L)) = 0.177
    assert np.mean(coh[5:-5, 5:-5]) == pytest.approx(np.sqrt(np.pi / 100), abs=0.02)


def test_estimate_coherence_nan_aware() -> None:
    rng = np.random.default_rng(3)
    s1, s2 = correlated_pair(0.8, (64, 64), rng)
    s1[20:30, 20:30] = np.nan
    coh = estimate_coherence(s1, s2, window=9)
    assert np.isnan(coh[20:30, 20:30]).all()
    assert np.isfinite(coh[:15]).all()
    assert np.nanmean(coh) == pytest.approx(0.8, abs=0.05)


def test_coherence_from_phase_separates_fringes_from_noise() -> None:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:96, :96]
    clean = 0.9 * x + 0.4 * y  # dense fringes, ~0.98 rad/pixel
    noise = rng.uniform(-np.pi, np.pi, clean.shape)
    phase = np.where(x < 48, np.angle(np.exp(1j * clean)), noise)
    coh = coherence_from_phase(phase, 5)
    assert np.nanmean(coh[5:-5, 5:40]) > 0.95  # ramp removed: clean dense fringes look coherent
    assert np.nanmean(coh[5:-5, 56:-5]) < 0.35  # pure noise stays low (biased up from 0, ~0.2-0.3)
    no_ramp = coherence_from_phase(phase, 5, remove_ramp=False)
    assert np.nanmean(no_ramp[5:-5, 5:40]) < 0.5  # without ramp removal fringes look decorrelated
    phase[0, 0] = np.nan
    assert np.isnan(coherence_from_phase(phase, 5)[0, 0])


def test_otsu_mask_splits_bimodal_coherence() -> None:
    rng = np.random.default_rng(5)
    coh = np.where(np.arange(64)[None, :] < 32, 0.15, 0.8) + rng.normal(0, 0.02, (64, 64))
    coh[0, 0] = np.nan
    mask, threshold = otsu_coherence_mask(coh)
    assert 0.15 < threshold < 0.8  # anywhere in the gap between the two modes
    assert mask[:, 40:].all() and not mask[:, :30].any()
    assert not mask[0, 0]
    with pytest.raises(InputError, match="all NaN"):
        otsu_coherence_mask(np.full((4, 4), np.nan))


@pytest.mark.parametrize(
    ("shape", "size"), [((40, 37), 5), ((9, 50), (4, 3)), ((3, 3), 5), ((30, 31), (2, 6))]
)
def test_box_mean_float32_is_scipys_zero_padded_boxcar(
    shape: tuple[int, int], size: int | tuple[int, int]
) -> None:
    from scipy.ndimage import uniform_filter

    from fringenet.insar.coherence import box_mean_float32

    values = np.random.default_rng(3).normal(size=shape).astype(np.float32)
    got = box_mean_float32(values, size)
    assert got.dtype == np.float32 and got.shape == shape
    np.testing.assert_allclose(got, uniform_filter(values, size, mode="constant"), atol=2e-7)
