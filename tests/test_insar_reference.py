"""Referencing unwrapped pairs to a common stable area."""

import numpy as np
import pytest

from fringenet.errors import InputError
from fringenet.insar.reference import point_area, reference_to_area


def test_arbitrary_per_pair_constants_are_removed() -> None:
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(3, 20, 20))
    offsets = np.array([2 * np.pi * 3, -7.0, 0.5])
    referenced, found = reference_to_area(signal + offsets[:, None, None])
    expected, _ = reference_to_area(signal)
    np.testing.assert_allclose(referenced, expected, atol=1e-12)
    np.testing.assert_allclose(found - np.median(signal.reshape(3, -1), axis=1), offsets, atol=1e-12)


def test_point_reference_makes_that_area_zero() -> None:
    phase = np.arange(100.0).reshape(10, 10)
    referenced, _ = reference_to_area(phase, point_area((10, 10), 4, 4, radius=0))
    assert referenced[4, 4] == 0.0


def test_reference_errors() -> None:
    with pytest.raises(InputError, match="outside"):
        point_area((5, 5), 9, 0)
    with pytest.raises(InputError, match="no pixel is valid"):
        reference_to_area(np.full((2, 3, 3), np.nan))
