"""Sign conventions and conversions stated in docs/conventions.md."""

import numpy as np
import pytest

from fringenet.conventions import (
    SENTINEL1_WAVELENGTH_M,
    days_to_years,
    displacement_to_phase,
    phase_to_displacement,
    wrap,
)
from fringenet.simulate.geometry import los_unit_vector, project_to_los


def test_half_wavelength_of_motion_is_one_fringe_of_two_pi_rad() -> None:
    # Two-way travel: lambda/2 of LOS motion changes the phase by one full cycle.
    phase = displacement_to_phase(SENTINEL1_WAVELENGTH_M / 2, SENTINEL1_WAVELENGTH_M)
    assert float(phase) == pytest.approx(-2 * np.pi)


def test_motion_towards_satellite_gives_negative_phase_and_round_trips() -> None:
    d = np.array([-0.03, 0.0, 0.012])  # m, positive = towards the satellite
    phase = displacement_to_phase(d, 0.0562356424)
    assert phase[2] < 0 < phase[0]
    np.testing.assert_allclose(phase_to_displacement(phase, 0.0562356424), d, atol=1e-15)


def test_wavelength_must_be_in_metres() -> None:
    with pytest.raises(ValueError, match="metres"):
        displacement_to_phase(0.01, 5.5)  # centimetres by mistake


def test_wrap_range_and_equivalence() -> None:
    phase = np.linspace(-20, 20, 1001)
    wrapped = wrap(phase)
    assert wrapped.min() >= -np.pi and wrapped.max() < np.pi
    np.testing.assert_allclose(np.exp(1j * wrapped), np.exp(1j * phase), atol=1e-12)


def test_days_to_years() -> None:
    assert float(days_to_years(365.25)) == pytest.approx(1.0)


def test_los_vector_is_unit_and_points_to_the_satellite() -> None:
    e, n, u = los_unit_vector(39.0, -12.0)  # Sentinel-1 ascending, right-looking: satellite is to the west
    assert float(e**2 + n**2 + u**2) == pytest.approx(1.0)
    assert e < 0 and u > 0
    e, n, u = los_unit_vector(39.0, -168.0)  # descending: satellite is to the east
    assert e > 0


def test_uplift_is_positive_los_displacement() -> None:
    assert project_to_los(0.0, 0.0, 0.01, 35.0, -12.0) == pytest.approx(0.01 * np.cos(np.deg2rad(35.0)))
