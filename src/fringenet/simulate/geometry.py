"""Radar viewing geometry: the line-of-sight (LOS) unit vector and projection onto it.

The LOS unit vector points from the ground to the satellite, so the dot product of a ground
displacement (east, north, up) with it is LOS displacement positive towards the satellite
(fringenet's convention). The radar is right-looking; heading is the flight direction, degrees
clockwise from north (Sentinel-1: about -12 ascending, about -168 or 192 descending).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

SENTINEL1_ASCENDING_HEADING_DEG = -12.0
SENTINEL1_DESCENDING_HEADING_DEG = -168.0


def los_unit_vector(
    incidence_deg: ArrayLike, heading_deg: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """East, north and up components of the ground-to-satellite unit vector.

    Parameters
    ----------
    incidence_deg
        Incidence angle from the vertical (deg); scalar or array.
    heading_deg
        Satellite heading, clockwise from north (deg); scalar or array.
    """
    inc = np.deg2rad(np.asarray(incidence_deg, dtype=np.float64))
    head = np.deg2rad(np.asarray(heading_deg, dtype=np.float64))
    east = -np.sin(inc) * np.cos(head)
    north = np.sin(inc) * np.sin(head)
    up = np.cos(inc)
    return east, north, up


def project_to_los(
    east_m: ArrayLike, north_m: ArrayLike, up_m: ArrayLike, incidence_deg: ArrayLike, heading_deg: ArrayLike
) -> NDArray[np.float64]:
    """Project a ground displacement (m, east/north/up) onto the LOS (m, positive towards satellite)."""
    le, ln, lu = los_unit_vector(incidence_deg, heading_deg)
    return np.asarray(east_m) * le + np.asarray(north_m) * ln + np.asarray(up_m) * lu
