"""Okada (1985) surface displacement of a finite rectangular dislocation in an elastic half-space.

Closed-form expressions of Okada, Y. (1985), *Surface deformation due to shear and tensile faults
in a half-space*, Bull. Seismol. Soc. Am. 75(4), 1135-1154 (eqs. 25-30), evaluated with numpy
over any array of observation points. Checked against the paper's Table 2 check list.

Geometry used here (not Okada's internal one): the source is placed by its **centroid** (the
centre of the rectangle) at horizontal position ``(xs, ys)`` and depth ``depth_m`` (positive
down). Strike is clockwise from north; the fault dips to the right of the strike direction
(Aki & Richards convention). Rake follows Aki & Richards too: 0 = left-lateral, 90 = reverse
(thrust), 180 = right-lateral, -90 = normal. Opening > 0 is tensile (inflation of a dyke/sill).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fringenet.errors import InputError

FloatArray = NDArray[np.float64]

_COS_ZERO = 1e-10  # below this the fault is treated as exactly vertical (Okada's cos(dip) = 0 branch)


def okada85(
    x: ArrayLike,
    y: ArrayLike,
    xs: float,
    ys: float,
    depth_m: float,
    strike_deg: float,
    dip_deg: float,
    length_m: float,
    width_m: float,
    rake_deg: float = 0.0,
    slip_m: float = 0.0,
    opening_m: float = 0.0,
    nu: float = 0.25,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Surface displacement (east, north, up) of a rectangular dislocation.

    Parameters
    ----------
    x, y
        East and north coordinates of the observation points (m), broadcastable arrays.
    xs, ys
        East and north position of the fault centroid (m), same frame as ``x``, ``y``.
    depth_m
        Depth of the fault **centroid** below the surface (m, > 0). The top edge lies at
        ``depth_m - width_m / 2 * sin(dip)``, which must be >= 0.
    strike_deg, dip_deg
        Strike (deg clockwise from north) and dip (deg, 0-90) of the fault plane.
    length_m, width_m
        Along-strike length and down-dip width (m).
    rake_deg, slip_m
        Slip direction on the plane (deg, Aki & Richards) and slip magnitude (m).
    opening_m
        Tensile opening (m); > 0 opens the crack.
    nu
        Poisson's ratio of the half-space.

    Returns
    -------
    east, north, up
        Float64 arrays of the broadcast shape of ``x`` and ``y``, in metres.
    """
    _check(depth_m, dip_deg, length_m, width_m, nu)
    xe, yn = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    strike, dip = np.deg2rad(strike_deg), np.deg2rad(dip_deg)
    cs, ss = np.cos(dip), np.sin(dip)
    if abs(cs) < _COS_ZERO:
        cs, ss = 0.0, 1.0
    sin_st, cos_st = np.sin(strike), np.cos(strike)
    # Okada's frame: x along strike, y to the left of strike; origin at the bottom corner.
    de, dn = xe - xs, yn - ys
    xo = de * sin_st + dn * cos_st + length_m / 2.0
    yo = -de * cos_st + dn * sin_st + width_m / 2.0 * cs
    d = depth_m + width_m / 2.0 * ss

    u1 = slip_m * np.cos(np.deg2rad(rake_deg))
    u2 = slip_m * np.sin(np.deg2rad(rake_deg))
    p = yo * cs + d * ss
    q = yo * ss - d * cs
    ux = np.zeros_like(xo)
    uy = np.zeros_like(xo)
    uz = np.zeros_like(xo)
    # Chinnery's notation: f(x, p) - f(x, p - W) - f(x - L, p) + f(x - L, p - W)
    for xi, eta, sign in (
        (xo, p, 1.0),
        (xo, p - width_m, -1.0),
        (xo - length_m, p, -1.0),
        (xo - length_m, p - width_m, 1.0),
    ):
        fx, fy, fz = _corner(xi, eta, q, cs, ss, u1, u2, opening_m, nu)
        ux += sign * fx
        uy += sign * fy
        uz += sign * fz
    east = ux * sin_st - uy * cos_st
    north = ux * cos_st + uy * sin_st
    return east, north, uz


def _corner(
    xi: FloatArray,
    eta: FloatArray,
    q: FloatArray,
    cs: float,
    ss: float,
    u1: float,
    u2: float,
    u3: float,
    nu: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Okada's eqs. (25)-(30) at one corner of the Chinnery sum (already divided by 2 pi)."""
    ytil = eta * cs + q * ss
    dtil = eta * ss - q * cs
    r = np.sqrt(xi**2 + eta**2 + q**2)
    x_ = np.sqrt(xi**2 + q**2)
    mu_ratio = 1.0 - 2.0 * nu  # mu / (lambda + mu)

    with np.errstate(divide="ignore", invalid="ignore"):
        # Singular points (Okada 1985, p. 1148): R + eta = 0 -> drop 1/(R(R+eta)), use -ln(R - eta).
        r_eta = r + eta
        bad_eta = r_eta <= 1e-12 * np.maximum(r, 1.0)
        inv_r_reta = np.where(bad_eta, 0.0, 1.0 / (r * r_eta))
        inv_reta = np.where(bad_eta, 0.0, 1.0 / r_eta)
        ln_reta = np.where(bad_eta, -np.log(np.abs(r - eta)), np.log(np.abs(r_eta)))
        inv_r_rxi = np.where(r + xi <= 1e-12 * np.maximum(r, 1.0), 0.0, 1.0 / (r * (r + xi)))
        # q = 0: the arctan term is set to 0; its jumps cancel in the Chinnery sum of a buried fault.
        theta = np.where(q == 0.0, 0.0, np.arctan(xi * eta / (q * r)))
        r_dtil = r + dtil

        if cs != 0.0:
            i5 = np.where(
                xi == 0.0,
                0.0,
                mu_ratio
                * 2.0
                / cs
                * np.arctan((eta * (x_ + q * cs) + x_ * (r + x_) * ss) / (xi * (r + x_) * cs)),
            )
            i4 = mu_ratio / cs * (np.log(r_dtil) - ss * ln_reta)
            i3 = mu_ratio * (ytil / (cs * r_dtil) - ln_reta) + ss / cs * i4
            i1 = mu_ratio * (-xi / (cs * r_dtil)) - ss / cs * i5
        else:
            i1 = -mu_ratio / 2.0 * xi * q / r_dtil**2
            i3 = mu_ratio / 2.0 * (eta / r_dtil + ytil * q / r_dtil**2 - ln_reta)
            i4 = -mu_ratio * q / r_dtil
            i5 = -mu_ratio * xi * ss / r_dtil
        i2 = mu_ratio * (-ln_reta) - i3

        fx = np.zeros_like(xi)
        fy = np.zeros_like(xi)
        fz = np.zeros_like(xi)
        if u1 != 0.0:
            fx -= u1 * (xi * q * inv_r_reta + theta + i1 * ss)
            fy -= u1 * (ytil * q * inv_r_reta + q * cs * inv_reta + i2 * ss)
            fz -= u1 * (dtil * q * inv_r_reta + q * ss * inv_reta + i4 * ss)
        if u2 != 0.0:
            fx -= u2 * (q / r - i3 * ss * cs)
            fy -= u2 * (ytil * q * inv_r_rxi + cs * theta - i1 * ss * cs)
            fz -= u2 * (dtil * q * inv_r_rxi + ss * theta - i5 * ss * cs)
        if u3 != 0.0:
            fx += u3 * (q**2 * inv_r_reta - i3 * ss**2)
            fy += u3 * (-dtil * q * inv_r_rxi - ss * (xi * q * inv_r_reta - theta) - i1 * ss**2)
            fz += u3 * (ytil * q * inv_r_rxi + cs * (xi * q * inv_r_reta - theta) - i5 * ss**2)
    scale = 1.0 / (2.0 * np.pi)
    return fx * scale, fy * scale, fz * scale


def _check(depth_m: float, dip_deg: float, length_m: float, width_m: float, nu: float) -> None:
    where = "okada source"
    values = {"depth_m": depth_m, "dip_deg": dip_deg, "length_m": length_m, "width_m": width_m, "nu": nu}
    for name, value in values.items():
        if not np.isfinite(value):
            raise InputError(where, f"{name} must be finite (got {value!r})")
    if not 0.0 <= dip_deg <= 90.0:
        raise InputError(where, f"dip must lie in [0, 90] deg (got {dip_deg})")
    if length_m <= 0.0 or width_m <= 0.0:
        raise InputError(where, f"length and width must be > 0 m (got {length_m}, {width_m})")
    if not 0.0 <= nu < 0.5:
        raise InputError(where, f"Poisson ratio must lie in [0, 0.5) (got {nu})")
    top = depth_m - width_m / 2.0 * np.sin(np.deg2rad(dip_deg))
    if top < -1e-9 * max(1.0, width_m):
        raise InputError(
            where, f"fault top edge is above the surface (centroid depth {depth_m} m, top at {top:.3f} m)"
        )
