"""SLC stack simulation and phase linking (EVD, EMI, SHP) against known answers."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest

from fringenet.conventions import displacement_to_phase, wrap
from fringenet.errors import InputError
from fringenet.insar.phase_linking import (
    check_slc_stack,
    emi,
    evd,
    phase_link,
    sample_coherence_matrix,
    shp_neighbourhood,
    temporal_coherence,
)
from fringenet.simulate.config import SimulationConfig
from fringenet.simulate.slc import (
    correlated_slc,
    simulate_slc_stack,
    slc_dataset,
    temporal_coherence_matrix,
)

DAYS = np.arange(8) * 12.0


def circular_rms(estimate: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.nanmean(wrap(estimate - truth) ** 2)))


def coherent_config(**overrides: object) -> SimulationConfig:
    """A flat, smooth, highly coherent scene, so a 5 x 5 window sees one phase."""
    base: dict[str, object] = dict(
        height=32, width=32, n_dates=8, seed=5, scenario="atmosphere_only", relief_m=(50.0, 50.0),
        gamma0=(0.95, 0.95), gamma_inf=(0.8, 0.8), tau_days=(60.0, 60.0), vegetation_fraction=(0.0, 0.0),
        coherence_randomness=(0.0, 0.0), lake_probability=0.0, turbulence_rms_cm=(0.1, 0.2),
        stratified_cm_per_km=(0.0, 0.2), revisit_days=(12,), gap_probability=0.0,
    )  # fmt: skip
    base.update(overrides)
    return SimulationConfig.model_validate(base)


def test_temporal_coherence_matrix_model() -> None:
    c = temporal_coherence_matrix(DAYS, np.array([0.9, 0.5]), 0.2, 24.0)
    assert c.shape == (2, 8, 8)
    np.testing.assert_array_equal(np.diagonal(c, axis1=-2, axis2=-1), 1.0)
    np.testing.assert_array_equal(c, np.swapaxes(c, -1, -2))
    # dt = 24 d = tau: (0.9 - 0.2) / e + 0.2; dt = 12 d for the second pixel
    assert c[0, 0, 2] == pytest.approx(0.7 * np.exp(-1.0) + 0.2)
    assert c[1, 3, 4] == pytest.approx(0.3 * np.exp(-0.5) + 0.2)
    assert c[0, 0, 7] == pytest.approx(0.7 * np.exp(-84.0 / 24.0) + 0.2)


def test_correlated_slc_recovers_its_coherence_and_phase() -> None:
    c = temporal_coherence_matrix(DAYS, 0.8, 0.3, 30.0)
    phase = np.linspace(0.0, 2.0, 8)
    n = 20_000
    slc = correlated_slc(
        np.random.default_rng(1),
        np.broadcast_to(c, (n, 8, 8)),
        np.broadcast_to(phase[:, None], (8, n)),
        np.full(n, 2.0),
    )
    assert slc.dtype == np.complex64 and slc.shape == (8, n)
    cov = (slc @ slc.conj().T) / n
    assert np.real(np.diag(cov)) == pytest.approx(np.full(8, 4.0), rel=0.05)
    coh = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)).real)
    np.testing.assert_allclose(np.abs(coh), c, atol=0.03)
    # <s_i s_j*> carries phase_i - phase_j
    expected = phase[:, None] - phase[None, :]
    assert np.max(np.abs(wrap(np.angle(coh) - expected))) < 0.05


def test_correlated_slc_handles_decorrelated_and_fully_coherent_pixels() -> None:
    c = np.stack([np.eye(4), np.ones((4, 4))])  # water (C = I) and a singular gamma = 1 matrix
    slc = correlated_slc(np.random.default_rng(0), c, np.zeros((4, 2)))
    assert np.all(np.isfinite(slc))
    assert np.ptp(np.angle(slc[:, 1])) < 1e-3  # gamma = 1: the same speckle on every date


def test_simulate_slc_stack_is_deterministic_and_labels_fast_motion() -> None:
    cfg = SimulationConfig(height=24, width=24, n_dates=8, seed=17, scenario="subsidence")
    a, b = simulate_slc_stack(cfg), simulate_slc_stack(cfg)
    assert a.slc.tobytes() == b.slc.tobytes()
    assert a.slc.shape == (8, 24, 24) and a.slc.dtype == np.complex64
    assert a.signal_phase.shape == (8, 24, 24) and a.signal_phase.dtype == np.float32
    np.testing.assert_array_equal(a.signal_phase[0], 0.0)
    assert a.dates.size == a.days.size == 8 and a.days[0] == 0.0
    other = simulate_slc_stack(cfg.model_copy(update={"seed": 18}))
    assert other.slc.tobytes() != a.slc.tobytes()

    # the label is exactly "visible motion over the span" on the usable pixels here
    span = (a.days[-1] - a.days[0]) / 365.25
    moved = (
        np.abs(displacement_to_phase(a.los_velocity * span, a.wavelength_m)) >= cfg.visibility_threshold_rad
    )
    assert a.label.dtype == np.uint8
    assert not np.any(a.label.astype(bool) & ~a.valid)
    usable = a.valid & (a.coherence_params.gamma_inf >= 0.1)
    fast = moved & usable & (a.coherence_params.gamma0 > 0.5)
    assert fast.any() and np.all(a.label[fast] == 1)
    assert np.all(a.label[~moved & (a.deformation_phase == 0).all(axis=0)] == 0)

    ds = slc_dataset(a, "EPSG:32632")
    assert ds["slc"].dims == ("date", "y", "x") and ds["slc"].dtype == np.complex64
    assert ds.sizes["date"] == 8 and str(ds.rio.crs) == "EPSG:32632"


def test_phase_link_recovers_signal_phase_on_coherent_stack() -> None:
    stack = simulate_slc_stack(coherent_config())
    for method in ("evd", "emi"):
        result = phase_link(stack.slc, window=(5, 5), method=method)
        assert result.phase.shape == stack.slc.shape and result.phase.dtype == np.float32
        np.testing.assert_array_equal(result.phase[0], 0.0)
        assert circular_rms(result.phase[1:], stack.signal_phase[1:]) < 0.3
        assert np.median(result.temporal_coherence) > 0.9
        assert result.method == method and result.seconds > 0
    assert np.all(result.looks[8:-8, 8:-8] == 25)


def test_emi_beats_evd_when_coherence_decays_fast() -> None:
    rng = np.random.default_rng(0)
    c = temporal_coherence_matrix(DAYS, np.full((48, 48), 0.7), 0.1, 12.0)
    truth = np.broadcast_to(np.linspace(0.0, 4.0, 8)[:, None, None], (8, 48, 48))
    slc = correlated_slc(rng, c, -truth)  # SLCs carry minus the interferometric phase
    rms = {m: circular_rms(phase_link(slc, (9, 9), m).phase, truth) for m in ("evd", "emi")}
    assert rms["emi"] <= rms["evd"]
    assert rms["emi"] < 0.6


def test_temporal_coherence_separates_coherent_from_noise() -> None:
    rng = np.random.default_rng(2)
    noise = correlated_slc(rng, np.broadcast_to(np.eye(8), (24, 24, 8, 8)), np.zeros((8, 24, 24)))
    coherent = correlated_slc(rng, temporal_coherence_matrix(DAYS, np.full((24, 24), 0.9), 0.7, 60.0),
                              np.zeros((8, 24, 24)))  # fmt: skip
    assert np.median(phase_link(noise, (5, 5)).temporal_coherence) < 0.55
    assert np.median(phase_link(coherent, (5, 5)).temporal_coherence) > 0.95


def test_estimators_on_an_exact_matrix() -> None:
    phi = np.array([0.0, 0.5, -1.0, 2.5])
    gamma = temporal_coherence_matrix(np.arange(4) * 12.0, 0.8, 0.2, 24.0)
    c = gamma * np.exp(1j * (phi[None, :] - phi[:, None]))  # C_ij has phase phi_j - phi_i
    for link in (evd, emi):
        x = link(c)
        np.testing.assert_allclose(np.angle(x), phi, atol=1e-5)
        assert temporal_coherence(c, x) == pytest.approx(1.0)
        assert temporal_coherence(c, np.angle(x)) == pytest.approx(1.0)
    assert temporal_coherence(c, -phi) < 0.9


def test_sample_coherence_matrix_is_nan_safe_and_hermitian() -> None:
    rng = np.random.default_rng(3)
    slc = correlated_slc(rng, temporal_coherence_matrix(DAYS[:4], np.full((16, 16), 0.9), 0.5, 30.0),
                         np.zeros((4, 16, 16))).astype(np.complex64)  # fmt: skip
    slc[:, 5, 5] = np.nan
    c = sample_coherence_matrix(slc, 5)
    assert c.shape == (16, 16, 4, 4) and np.all(np.isfinite(c))
    np.testing.assert_allclose(c, np.conj(np.swapaxes(c, -1, -2)), atol=1e-6)
    np.testing.assert_allclose(np.diagonal(c, axis1=-2, axis2=-1), 1.0, atol=1e-5)
    assert np.all(np.abs(c) <= 1.0 + 1e-5)
    # an all-True neighbourhood is the boxcar
    np.testing.assert_allclose(
        sample_coherence_matrix(slc, neighbours=np.ones((16, 16, 5, 5), bool)), c, atol=1e-5
    )
    result = phase_link(slc, 5)
    assert np.all(np.isnan(result.phase[:, 5, 5])) and np.isnan(result.temporal_coherence[5, 5])
    assert np.isfinite(result.phase[:, 5, 6]).all()


@pytest.mark.parametrize("method", ["glrt", "ks"])
def test_shp_excludes_pixels_of_another_amplitude_level(method: Literal["glrt", "ks"]) -> None:
    rng = np.random.default_rng(4)
    t, h, w = 20, 16, 16
    level = np.where(np.arange(w) < 8, 1.0, 6.0)[None, None, :]
    amplitude = np.abs(rng.standard_normal((t, h, w)) + 1j * rng.standard_normal((t, h, w))) * level
    shp = shp_neighbourhood(amplitude, (7, 7), alpha=0.05, method=method)
    assert shp.shape == (h, w, 7, 7) and shp[8, 6, 3, 3]
    # pixel (8, 6) sees columns 3..9: columns 8 and 9 (window 5, 6) are the other level
    assert not shp[8, 6, :, 5:].any()
    assert shp[8, 6, :, :5].mean() > 0.8
    assert not shp[0, 0, :3].any()  # outside the raster
    linked = phase_link(amplitude.astype(np.complex64), 5, "emi", shp=method, shp_window=(7, 7))
    assert linked.shp == method and linked.looks[8, 6] == shp[8, 6].sum()


def test_bad_stacks_raise_input_errors() -> None:
    good = np.ones((3, 4, 4), dtype=np.complex64)
    dates = np.array(["2020-01-01", "2020-01-13", "2020-01-25"], dtype="datetime64[D]")
    check_slc_stack(good, dates)
    cases: list[tuple[np.ndarray, np.ndarray | None, str]] = [
        (np.ones((4, 4), np.complex64), None, "3-D"),
        (np.ones((3, 4, 4)), None, "complex"),
        (np.ones((1, 4, 4), np.complex64), None, "at least 2 dates"),
        (good, dates[:2], "mismatched shapes"),
        (good, dates[[0, 2, 1]], "sorted"),
        (good, dates[[0, 1, 1]], "duplicated"),
        (np.full((3, 4, 4), np.nan, np.complex64), None, "NaN or zero"),
        (np.concatenate([good[:2], np.zeros((1, 4, 4), np.complex64)]), None, "date index [2]"),
    ]
    for slc, d, message in cases:
        with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
            check_slc_stack(slc, d, "stack")
    with pytest.raises(InputError, match="odd"):
        phase_link(good, window=(4, 4))
    with pytest.raises(InputError, match="method"):
        phase_link(good, method="mle")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="SHP method"):
        phase_link(good, shp="anderson")  # type: ignore[arg-type]


def test_coherence_of_chosen_pairs_equals_those_matrix_entries() -> None:
    from fringenet.insar.phase_linking import sample_coherence_pairs

    rng = np.random.default_rng(4)
    slc = (rng.standard_normal((6, 14, 12)) + 1j * rng.standard_normal((6, 14, 12))).astype(np.complex64)
    slc[2, 3, 4] = np.nan
    ref, sec = np.array([0, 1, 2, 0]), np.array([1, 3, 5, 5])
    pairs = sample_coherence_pairs(slc, ref, sec, window=3)
    assert pairs.shape == (4, 14, 12)
    assert np.array_equal(pairs, np.moveaxis(sample_coherence_matrix(slc, window=3)[:, :, ref, sec], -1, 0))
    with pytest.raises(InputError, match="pair indices"):
        sample_coherence_pairs(slc, np.array([0]), np.array([6]))
