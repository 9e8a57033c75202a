"""The time-series stage on the simulator's truth: SBAS recovers the simulated motion."""

import itertools

import numpy as np
import pytest

from fringenet.errors import InputError
from fringenet.pipeline.timeseries import TimeseriesConfig, invert_stack
from fringenet.simulate.config import SimulationConfig
from fringenet.simulate.scene import simulate_stack, simulate_stack_arrays

NOISE_FREE = {
    "turbulence_rms_cm": (0.0, 0.0),
    "stratified_cm_per_km": (0.0, 0.0),
    "gamma0": (1.0, 1.0),
    "gamma_inf": (1.0, 1.0),
    "vegetation_fraction": (0.0, 0.0),
    "coherence_randomness": (0.0, 0.0),
    "lake_probability": 0.0,
    "relief_m": (50.0, 100.0),
    "gap_probability": 0.0,
    "revisit_days": (12,),
    "max_baseline_days": 36.0,
}


CONFIG = SimulationConfig(height=64, width=64, n_dates=10, scenario="subsidence", seed=5, **NOISE_FREE)


@pytest.fixture(scope="module")
def noise_free_stack():
    """The simulated stack with the simulator's own phase-noise realisation removed."""
    scene = simulate_stack_arrays(CONFIG)
    stack = simulate_stack(CONFIG)
    clean = scene.per_pair["unwrapped_phase"] - scene.phase_noise
    return stack.assign(unwrapped_phase=(stack.unwrapped_phase.dims, clean))


def true_series(stack, ref=(0, 0)):
    """Per-date true LOS displacement (m) from the chain of consecutive pairs, referenced like the inversion."""
    dates = np.unique(np.concatenate([stack.reference_date.values, stack.secondary_date.values]))
    series = [np.zeros(stack.los_displacement.shape[1:])]
    for a, b in itertools.pairwise(dates):
        k = np.flatnonzero((stack.reference_date.values == a) & (stack.secondary_date.values == b))[0]
        series.append(series[-1] + stack.los_displacement.values[k])
    series = np.stack(series)
    return dates, series - series[:, ref[0], ref[1]][:, None, None]


def test_sbas_recovers_simulated_motion_exactly_without_noise(noise_free_stack) -> None:
    stack = noise_free_stack
    assert float(np.abs(stack.los_velocity).max()) > 0.01  # there is motion to recover (m/yr)
    series, _notes = invert_stack(
        stack[["unwrapped_phase", "coherence"]], TimeseriesConfig(reference_yx=(0, 0), reference_radius=0)
    )
    dates, truth = true_series(stack)
    np.testing.assert_array_equal(series.date.values, dates)
    usable = np.all(stack.valid.values > 0, axis=0)  # water/layover carry pure noise
    assert usable.mean() > 0.8
    error = series.los_displacement.values - truth
    assert np.abs(error[:, usable]).max() < 1e-5  # m
    # velocity: least-squares line through the true series (m/yr)
    t = (dates - dates[0]) / np.timedelta64(1, "D") / 365.25
    slope = np.polyfit(t, truth.reshape(len(t), -1), 1)[0].reshape(truth.shape[1:])
    assert np.abs(series.los_velocity.values - slope)[usable].max() < 1e-5


def test_wrapped_only_stack_is_unwrapped_first(noise_free_stack) -> None:
    series, notes = invert_stack(
        noise_free_stack[["wrapped_phase", "coherence"]],
        TimeseriesConfig(unwrap_method="whirlwind", reference_yx=(0, 0), reference_radius=0),
    )
    assert "unwrapped with whirlwind" in notes
    _, truth = true_series(noise_free_stack)
    usable = np.all(noise_free_stack.valid.values > 0, axis=0)
    error = np.abs(series.los_displacement.values - truth)[:, usable]
    # coherence 0.99 leaves ~0.05 rad of phase noise (~0.2 mm); unwrapping errors, if any, stay local
    assert np.median(error) < 1e-3  # m


def test_single_pair_is_not_a_time_series(noise_free_stack) -> None:
    with pytest.raises(InputError, match="stack of interferograms"):
        invert_stack(noise_free_stack.isel(pair=0))
