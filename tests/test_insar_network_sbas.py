"""Small-baseline network helpers and the SBAS inversion."""

from __future__ import annotations

import numpy as np
import pytest

from fringenet.conventions import days_to_years, displacement_to_phase
from fringenet.errors import InputError, NetworkError
from fringenet.insar.network import check_connected, connected_components, design_matrix
from fringenet.insar.sbas import invert_sbas

WAVELENGTH = 0.0562356424  # m (ENVISAT)

DATES = np.array(
    ["2020-01-01", "2020-01-13", "2020-02-06", "2020-03-01", "2020-04-18", "2020-06-05", "2020-07-11"],
    dtype="datetime64[D]",
)
# a redundant small-baseline network: every date connects to its next two neighbours
PAIRS = [(i, j) for i in range(len(DATES)) for j in (i + 1, i + 2) if j < len(DATES)]
REF = DATES[[i for i, _ in PAIRS]]
SEC = DATES[[j for _, j in PAIRS]]


def linear_stack(shape: tuple[int, int] = (12, 15)) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free unwrapped stack ``(pair, y, x)`` of a linear motion with velocity field v (m/yr)."""
    y, x = np.mgrid[: shape[0], : shape[1]]
    velocity = -0.05 * np.exp(-((x - 7) ** 2 + (y - 6) ** 2) / 20.0) + 0.002 * x / shape[1]
    t = days_to_years((DATES - DATES[0]).astype(float))
    disp = t[:, None, None] * velocity[None]  # (date, y, x) m
    phase = np.stack([displacement_to_phase(disp[j] - disp[i], WAVELENGTH) for i, j in PAIRS])
    return phase, velocity


def test_design_matrix_increments_and_velocity() -> None:
    A, dates = design_matrix(
        ["2020-01-01", "2020-01-01", "2020-02-01"], ["2020-02-01", "2020-03-01", "2020-03-01"]
    )
    assert list(dates.astype(str)) == ["2020-01-01", "2020-02-01", "2020-03-01"]
    assert np.array_equal(A, [[1, 0], [1, 1], [0, 1]])
    Av, _ = design_matrix(["2020-01-01", "2020-02-01"], ["2020-03-01", "2020-03-01"], unknowns="velocity")
    assert np.allclose(Av, [[31 / 365.25, 29 / 365.25], [0, 29 / 365.25]])  # interval lengths, years
    with pytest.raises(InputError, match="precede"):
        design_matrix(["2020-03-01"], ["2020-01-01"])


def test_connectivity_names_the_groups() -> None:
    ref = ["2020-01-01", "2020-02-01", "2020-06-01", "2020-07-01"]
    sec = ["2020-02-01", "2020-03-01", "2020-07-01", "2020-08-01"]
    groups = connected_components(ref, sec)
    assert len(groups) == 2
    with pytest.raises(
        NetworkError, match=r"2 disconnected groups: 2020-01-01\.\.2020-03-01 and 2020-06-01\.\.2020-08-01"
    ):
        check_connected(ref, sec)
    assert check_connected(REF, SEC).size == len(DATES)


def test_sbas_recovers_linear_velocity() -> None:
    phase, velocity = linear_stack()
    res = invert_sbas(phase, REF, SEC, wavelength_m=WAVELENGTH)
    assert np.array_equal(res.dates, DATES)
    assert np.max(np.abs(res.velocity - velocity)) < 1e-6  # m/yr
    assert np.all(res.displacement[0] == 0)
    t = res.time_years
    assert np.allclose(res.displacement, t[:, None, None] * velocity[None], atol=1e-9)  # m
    assert np.nanmax(res.residual_rms) < 1e-9  # rad
    assert np.nanmax(res.velocity_std) < 1e-9
    assert np.all(res.n_pairs_used == len(PAIRS))
    # sign: the bowl moves away from the satellite (negative velocity) -> positive phase change
    assert phase[-1, 6, 7] > 0 and res.velocity[6, 7] < 0


def test_sbas_with_nans_and_disconnected_pixels() -> None:
    phase, velocity = linear_stack()
    phase[0, :4] = np.nan  # still connected through the redundant pairs
    phase[[3, 5], 5, 5] = np.nan  # pairs (1,3) and (2,4): (2,3) still bridges
    # pixel (10, 10): drop every pair touching date 3 -> date 3 unreachable, series undetermined
    touching = [k for k, (i, j) in enumerate(PAIRS) if 3 in (i, j)]
    phase[touching, 10, 10] = np.nan
    res = invert_sbas(phase, REF, SEC, wavelength_m=WAVELENGTH)
    ok = np.ones(velocity.shape, bool)
    ok[10, 10] = False
    assert np.max(np.abs(res.velocity[ok] - velocity[ok])) < 1e-6
    assert np.isnan(res.velocity[10, 10]) and np.isnan(res.displacement[1:, 10, 10]).all()
    assert res.n_pairs_used[10, 10] == 0
    assert res.n_pairs_used[0, 0] == len(PAIRS) - 1 and res.n_pairs_used[5, 5] == len(PAIRS) - 2
    strict = invert_sbas(phase, REF, SEC, wavelength_m=WAVELENGTH, min_pairs=len(PAIRS))
    assert np.isnan(strict.velocity[0, 0]) and np.isfinite(strict.velocity[8, 8])


def test_sbas_weights_downweight_a_corrupted_pair() -> None:
    phase, velocity = linear_stack()
    phase[2] += 3.0  # an unwrapping-error-like offset of ~ half a cycle in one pair
    plain = invert_sbas(phase, REF, SEC, wavelength_m=WAVELENGTH)
    w = np.ones(len(PAIRS))
    w[2] = 1e-6
    weighted = invert_sbas(phase, REF, SEC, wavelength_m=WAVELENGTH, weights=w)
    err_plain = np.max(np.abs(plain.velocity - velocity))
    err_weighted = np.max(np.abs(weighted.velocity - velocity))
    assert err_plain > 1e-3  # m/yr: the bad pair biases the unweighted answer
    assert err_weighted < 1e-7  # m/yr: a 1e-6 weight leaves only a trace of the bad pair
    # per-pixel weights give the same answer as the equivalent per-pair weights
    w_pix = np.broadcast_to(w[:, None, None], phase.shape)
    per_pixel = invert_sbas(phase, REF, SEC, wavelength_m=WAVELENGTH, weights=w_pix)
    assert np.allclose(per_pixel.velocity, weighted.velocity, atol=1e-9)
    # zero weight removes the pair entirely -> exact answer
    w[2] = 0.0
    dropped = invert_sbas(phase, REF, SEC, wavelength_m=WAVELENGTH, weights=w)
    assert np.max(np.abs(dropped.velocity - velocity)) < 1e-6
    assert np.all(dropped.n_pairs_used == len(PAIRS) - 1)


def test_sbas_disconnected_network_raises_before_computing() -> None:
    phase, _ = linear_stack()
    keep = [k for k, (i, j) in enumerate(PAIRS) if not (i <= 2 < j)]  # no pair crosses date 2 -> 3
    with pytest.raises(
        NetworkError, match=r"2 disconnected groups: 2020-01-01\.\.2020-02-06 and 2020-03-01\.\.2020-07-11"
    ):
        invert_sbas(phase[keep], REF[keep], SEC[keep], wavelength_m=WAVELENGTH)
    with pytest.raises(InputError, match="pairs"):
        invert_sbas(phase[:3], REF, SEC, wavelength_m=WAVELENGTH)
    with pytest.raises(InputError, match="wavelength"):
        invert_sbas(phase, REF, SEC, wavelength_m=56.0)
