"""Units and sign conventions, stated once (see docs/conventions.md).

- Phase is in radians; wrapped phase lies in [-pi, pi).
- Line-of-sight (LOS) displacement is in metres, **positive = motion towards the satellite**
  (range decrease; e.g. uplift for a typical incidence angle).
- Interferometric phase follows range change: ``phase = -4 pi / wavelength * los_displacement``,
  so a positive phase means motion away from the satellite. This is MintPy's convention for
  interferograms and its time series; the mapping to and from MintPy is therefore the identity.
- Velocity is in metres per year (m/yr), with the same sign as displacement.
- Angles of the viewing geometry (incidence, heading) and terrain (slope, aspect) are in degrees.
  Heading is the satellite's flight direction, clockwise from north; look direction is right.
- A year is 365.25 days.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

SENTINEL1_WAVELENGTH_M = 0.05546576
"""Sentinel-1 C-band radar wavelength (m); used only when a product carries no wavelength."""

DAYS_PER_YEAR = 365.25

LOS_SIGN_CONVENTION = "positive los_displacement = motion towards the satellite"


def displacement_to_phase(los_displacement_m: ArrayLike, wavelength_m: float) -> NDArray[np.floating]:
    """Convert LOS displacement (m, positive towards the satellite) to unwrapped phase (rad)."""
    _check_wavelength(wavelength_m)
    return -4.0 * np.pi / wavelength_m * np.asarray(los_displacement_m, dtype=np.float64)


def phase_to_displacement(phase_rad: ArrayLike, wavelength_m: float) -> NDArray[np.floating]:
    """Convert unwrapped phase (rad) to LOS displacement (m, positive towards the satellite)."""
    _check_wavelength(wavelength_m)
    return -wavelength_m / (4.0 * np.pi) * np.asarray(phase_rad, dtype=np.float64)


def wrap(phase_rad: ArrayLike) -> NDArray[np.floating]:
    """Wrap phase (rad) into [-pi, pi); NaN stays NaN."""
    phase = np.asarray(phase_rad)
    return (phase + np.pi) % (2.0 * np.pi) - np.pi


def days_to_years(days: ArrayLike) -> NDArray[np.floating]:
    """Convert a time span in days to years."""
    return np.asarray(days, dtype=np.float64) / DAYS_PER_YEAR


def _check_wavelength(wavelength_m: float) -> None:
    if not np.isfinite(wavelength_m) or not 1e-3 < wavelength_m < 1.0:
        raise ValueError(f"wavelength must be given in metres (got {wavelength_m!r})")
