"""The classical SNAPHU/whirlwind + SBAS + velocity-threshold chain on a synthetic subsiding bowl."""

from __future__ import annotations

import numpy as np
import pytest

from fringenet.conventions import displacement_to_phase, wrap
from fringenet.errors import InputError, NetworkError
from fringenet.evaluate.classical_chain import sbas_velocity_chain

WAVELENGTH = 0.05546576
SIZE = 32
CENTRE = 15.5
SIGMA = 5.0
PEAK_VELOCITY = -0.3
"""m/yr (subsidence): 2.2 rad per 12-day pair, 4.5 rad per skip-one pair, so pairs do wrap."""


def bowl_velocity() -> np.ndarray:
    """``(32, 32)`` true LOS velocity (m/yr): a Gaussian bowl of -0.3 m/yr at the centre."""
    y, x = np.mgrid[:SIZE, :SIZE]
    return PEAK_VELOCITY * np.exp(-((x - CENTRE) ** 2 + (y - CENTRE) ** 2) / (2 * SIGMA**2))


def stack(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Wrapped phase, coherence, pairs (consecutive + skip-one) and days of an 8-date, 12-day stack."""
    rng = np.random.default_rng(seed)
    days = np.arange(8) * 12.0
    pairs = np.array([(i, i + 1) for i in range(7)] + [(i, i + 2) for i in range(6)])
    phase_t = displacement_to_phase(bowl_velocity()[None] * (days / 365.25)[:, None, None], WAVELENGTH)
    truth = phase_t[pairs[:, 1]] - phase_t[pairs[:, 0]]
    wrapped = wrap(truth + rng.normal(0.0, 0.2, truth.shape))
    coherence = np.full(truth.shape, 0.9)
    return wrapped, coherence, pairs, days


def far_background() -> np.ndarray:
    y, x = np.mgrid[:SIZE, :SIZE]
    return np.hypot(x - CENTRE, y - CENTRE) > 13.0


@pytest.mark.parametrize("method", ["snaphu", "whirlwind"])
def test_bowl_velocity_and_mask(method: str) -> None:
    wrapped, coherence, pairs, days = stack()
    coherence[:, :4, :4] = 0.1  # a decorrelated corner: not used
    result = sbas_velocity_chain(wrapped, coherence, pairs, days, WAVELENGTH, unwrapper=method)

    # the chain's zero is the median over the coherent pixels, which the bowl's tail pulls down a bit
    truth = bowl_velocity()
    truth -= np.median(truth[np.isfinite(result.velocity)])
    assert result.velocity[15:17, 15:17].mean() == pytest.approx(truth[15:17, 15:17].mean(), rel=0.05)
    assert truth[15:17, 15:17].mean() == pytest.approx(PEAK_VELOCITY, rel=0.06)
    assert result.velocity.dtype == np.float32
    assert np.isnan(result.velocity[:4, :4]).all() and not result.mask[:4, :4].any()
    assert np.isfinite(result.velocity[4:, 4:]).all()

    # default threshold: lambda / (4 pi) * (pi / 2) / (84 / 365.25 yr) = 0.030 m/yr
    assert result.threshold_m_per_yr == pytest.approx(WAVELENGTH / 8 / (84 / 365.25))
    truly_moving = np.abs(bowl_velocity()) >= 1.3 * result.threshold_m_per_yr
    assert result.mask[truly_moving].mean() > 0.95
    assert not result.mask[far_background()].any()
    assert result.seconds > 0


def test_estimated_coherence_is_noted_and_threshold_override_is_used() -> None:
    wrapped, _, pairs, days = stack(1)
    result = sbas_velocity_chain(
        wrapped, None, pairs, days, WAVELENGTH, unwrapper="whirlwind", threshold_m_per_yr=0.1
    )
    assert any("estimated from the phase" in note for note in result.notes)
    assert result.threshold_m_per_yr == 0.1
    # |v| >= 0.1 m/yr inside r = sigma * sqrt(2 ln 3) = 7.4 px: 172 px in the exact disc
    assert 120 <= result.mask.sum() <= 230
    assert not result.mask[np.abs(bowl_velocity()) < 0.07].any()


def test_reversed_pair_is_flipped_and_valid_mask_respected() -> None:
    wrapped, coherence, pairs, days = stack(2)
    valid = np.ones((SIZE, SIZE), dtype=bool)
    valid[:, -3:] = False
    plain = sbas_velocity_chain(
        wrapped, coherence, pairs, days, WAVELENGTH, unwrapper="whirlwind", valid=valid
    )
    # pair 3 as (later, earlier) with the opposite phase is the same observation
    wrapped[3] = -wrapped[3]
    pairs[3] = pairs[3, ::-1]
    result = sbas_velocity_chain(
        wrapped, coherence, pairs, days, WAVELENGTH, unwrapper="whirlwind", valid=valid
    )
    assert any("flipped" in note for note in result.notes)
    assert np.isnan(result.velocity[:, -3:]).all() and not result.mask[:, -3:].any()
    np.testing.assert_allclose(result.velocity, plain.velocity, atol=1e-6)
    assert result.velocity[15:17, 15:17].mean() == pytest.approx(PEAK_VELOCITY, rel=0.1)


def _call(**changes: object) -> None:
    wrapped, coherence, pairs, days = stack()
    args: dict[str, object] = {
        "wrapped_phase": wrapped,
        "coherence": coherence,
        "pairs": pairs,
        "days": days,
        "wavelength_m": WAVELENGTH,
        "unwrapper": "whirlwind",
    }
    args.update(changes)
    sbas_velocity_chain(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"coherence": np.full((13, 32, 31), 0.9)}, "coherence"),
        (
            {"pairs": np.array([(i, i + 1) for i in range(8)] + [(i, i + 2) for i in range(5)])},
            "outside days",
        ),
        ({"pairs": np.array([(i, i + 1) for i in range(7)])}, "13"),
        ({"days": np.array([0.0, 12, 24, 36, 30, 60, 72, 84])}, "strictly increasing"),
        ({"days": np.array([0.0, 12, 24, 24, 48, 60, 72, 84])}, "strictly increasing"),
        ({"wrapped_phase": np.full((13, 32, 32), np.nan)}, "NaN everywhere"),
        ({"valid": np.ones((31, 32), dtype=bool)}, "valid"),
        ({"unwrapper": "nope"}, "unknown method"),
    ],
)
def test_bad_input_raises(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        _call(**changes)


def test_disconnected_network_raises() -> None:
    bridged_out = np.array(
        [(0, 1), (1, 2), (2, 3), (0, 2), (1, 3), (4, 5), (5, 6), (6, 7), (4, 6), (5, 7)] * 2
    )
    wrapped, coherence, _, days = stack()
    with pytest.raises(NetworkError, match="disconnected"):
        sbas_velocity_chain(
            np.concatenate([wrapped, wrapped[:7]]),
            np.concatenate([coherence, coherence[:7]]),
            bridged_out,
            days,
            WAVELENGTH,
        )
    with pytest.raises(NetworkError, match="no pair"):
        _call(
            pairs=np.array([(i, i + 1) for i in range(6)] + [(i, i + 2) for i in range(5)] + [(0, 3), (1, 4)])
        )


def test_no_coherent_pixel_gives_nan_and_a_note() -> None:
    wrapped, coherence, pairs, days = stack()
    result = sbas_velocity_chain(wrapped, coherence * 0.2, pairs, days, WAVELENGTH, unwrapper="whirlwind")
    assert np.isnan(result.velocity).all() and not result.mask.any()
    assert any("no pixel has mean coherence" in note for note in result.notes)
