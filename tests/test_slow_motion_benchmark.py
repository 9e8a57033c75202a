"""The slow-motion benchmark: its independent stack generator and its scoring rules (issue 13)."""

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("troposim", reason="troposim not installed (pip install '.[bench]')")
pytest.importorskip(
    "okada_wrapper", reason="okada-wrapper not installed (pip install '.[bench]', needs gfortran)"
)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import independent_stacks as stacks
import slow_motion as slow


def test_stacks_are_deterministic_and_the_velocity_only_scales_the_motion() -> None:
    a = stacks.make_stack(3, 0, 6, 0.05, size=48)
    b = stacks.make_stack(3, 0, 6, 0.05, size=48)
    assert a.wrapped_phase.tobytes() == b.wrapped_phase.tobytes() and a.info == b.info
    still = stacks.make_stack(3, 0, 6, 0.0, size=48)
    fast = stacks.make_stack(3, 0, 6, 0.1, size=48)
    assert not still.label.any() and np.abs(still.velocity_m_per_yr).max() == 0
    np.testing.assert_allclose(fast.velocity_m_per_yr, 2 * a.velocity_m_per_yr, rtol=1e-6)
    assert np.abs(fast.velocity_m_per_yr).max() == pytest.approx(0.1, rel=1e-6)
    assert fast.label.tobytes() == a.label.tobytes() and a.label.any()
    assert a.wrapped_phase.shape == (len(stacks.network(6, 3)), 48, 48)
    assert np.nanmax(np.abs(a.wrapped_phase)) <= np.pi


def test_network_and_fringes_per_pair() -> None:
    assert stacks.network(4, 2).tolist() == [[0, 1], [0, 2], [1, 2], [1, 3], [2, 3]]
    # 0.1 m/yr over 12 days is 3.3 mm of LOS, 0.118 of a 27.7 mm C-band fringe
    assert stacks.fringes_per_pair(0.1) == pytest.approx(0.1 * 12 / 365.25 / (stacks.WAVELENGTH_M / 2))


def test_scores_and_the_minimum_detectable_velocity() -> None:
    label = np.zeros((10, 10), bool)
    label[:5, :4] = True  # 20 px
    found, missed = label.copy(), np.zeros_like(label)
    cell = slow.score_cell([found, missed], [label, label])
    assert cell["rate"] == 0.5 and cell["iou"] == pytest.approx(0.5)  # 20 of 20 px, then 0 of 20
    noisy = np.zeros_like(label)
    noisy[0, :2] = True  # 2 % of the scene: a false alarm
    empty = np.zeros_like(label)
    assert slow.score_cell([noisy, empty], [empty, empty])["rate"] == 0.5
    assert slow.mdv([0.01, 0.02, 0.04], [0.9, 0.5, 0.8]) == 0.04
    assert slow.mdv([0.01, 0.02, 0.04], [0.9, 0.8, 1.0]) == 0.01
    assert slow.mdv([0.01, 0.02], [0.1, 0.2]) is None
