"""The simulator against physics: noise statistics, atmosphere spectra, closure, labels, network."""

import json

import numpy as np
import pytest
from scipy.special import gammaln, hyp2f1

from fringenet.conventions import displacement_to_phase
from fringenet.errors import InputError
from fringenet.simulate.atmosphere import stratified_delay, turbulent_delay
from fringenet.simulate.config import SimulationConfig
from fringenet.simulate.decorrelation import multilook_noise
from fringenet.simulate.scene import (
    objects_geodataframe,
    simulate_pair,
    simulate_stack,
    simulate_stack_arrays,
)
from fringenet.simulate.terrain import layover_shadow
from shared_data import PYRATE, needs_pyrate


def multilook_phase_pdf(phi: np.ndarray, gamma: float, looks: int) -> np.ndarray:
    """Multilook interferometric phase PDF (Lee et al. 1994, eq. 12), zero mean phase."""
    beta = gamma * np.cos(phi)
    a = np.exp(gammaln(looks + 0.5) - gammaln(looks)) * (1 - gamma**2) ** looks * beta
    first = a / (2 * np.sqrt(np.pi) * (1 - beta**2) ** (looks + 0.5))
    second = (1 - gamma**2) ** looks / (2 * np.pi) * hyp2f1(looks, 1, 0.5, beta**2)
    return first + second


@pytest.mark.parametrize(("gamma", "looks"), [(0.3, 1), (0.6, 4), (0.9, 10), (0.5, 20)])
def test_phase_noise_circular_variance_matches_multilook_theory(gamma: float, looks: int) -> None:
    phi = np.linspace(-np.pi, np.pi, 20001)
    pdf = multilook_phase_pdf(phi, gamma, looks)
    assert np.trapezoid(pdf, phi) == pytest.approx(1.0, abs=1e-3)  # the theory itself is a PDF
    theory = 1.0 - np.trapezoid(np.cos(phi) * pdf, phi)
    noise, intensity = multilook_noise(np.random.default_rng(0), np.full(200_000, gamma), looks)
    sampled = 1.0 - np.abs(np.mean(np.exp(1j * noise)))
    assert sampled == pytest.approx(theory, abs=0.005)
    # and it is not a Gaussian of the same circular variance: compare the fourth circular moment
    gauss = np.random.default_rng(1).normal(0.0, np.sqrt(-2 * np.log(1 - theory)), 200_000)
    theory_m2 = np.trapezoid(np.cos(2 * phi) * pdf, phi)
    assert np.mean(np.cos(2 * noise)) == pytest.approx(theory_m2, abs=0.01)
    if looks == 1:
        assert abs(np.mean(np.cos(2 * gauss)) - theory_m2) > 0.02
    assert np.mean(intensity) == pytest.approx(1.0, abs=0.01)  # speckle has unit mean


def test_turbulence_has_the_requested_power_law() -> None:
    screen = turbulent_delay(np.random.default_rng(3), (256, 256), 4, 1.0, spectral_slope=-8 / 3)
    assert screen.shape == (4, 256, 256) and np.allclose(screen.std(axis=(1, 2)), 1.0)
    power = np.mean(np.abs(np.fft.fft2(screen)) ** 2, axis=0)
    ky, kx = np.meshgrid(np.fft.fftfreq(256), np.fft.fftfreq(256), indexing="ij")
    k = np.hypot(kx, ky)
    band = (k > 0.02) & (k < 0.2)  # away from the crop's edge effects and the grid scale
    slope = np.polyfit(np.log(k[band]), np.log(power[band]), 1)[0]
    assert slope == pytest.approx(-8 / 3, abs=0.35)


def test_stratified_delay_follows_the_dem() -> None:
    dem = np.add.outer(np.linspace(500, 2500, 64), np.zeros(64))
    delay = stratified_delay(dem, np.array([2.0, -1.0]), "linear")
    assert np.corrcoef(delay[0].ravel(), dem.ravel())[0, 1] == pytest.approx(1.0)
    assert np.corrcoef(delay[1].ravel(), dem.ravel())[0, 1] == pytest.approx(-1.0)
    assert np.ptp(delay[0]) == pytest.approx(4.0)  # 2 rad/km over 2 km of relief


def test_same_seed_same_bytes_other_seed_other_scene() -> None:
    a = simulate_pair(SimulationConfig(height=64, width=64, seed=9))
    b = simulate_pair(SimulationConfig(height=64, width=64, seed=9))
    c = simulate_pair(SimulationConfig(height=64, width=64, seed=10))
    for name in a.data_vars:
        assert a[name].values.tobytes() == b[name].values.tobytes(), name
    assert a.wrapped_phase.values.tobytes() != c.wrapped_phase.values.tobytes()


@pytest.fixture(scope="module")
def stack():
    return simulate_stack(SimulationConfig(height=64, width=64, n_dates=8, scenario="subsidence", seed=4))


def test_phase_bookkeeping(stack) -> None:
    wrapped, unwrapped = stack.wrapped_phase.values, stack.unwrapped_phase.values
    assert wrapped.min() >= -np.pi and wrapped.max() < np.pi
    np.testing.assert_allclose(unwrapped, wrapped + 2 * np.pi * stack.ambiguity.values, atol=1e-4)


def test_atmosphere_and_motion_close_around_triangles(stack) -> None:
    refs, secs = stack.reference_date.values, stack.secondary_date.values
    index = {(r, s): k for k, (r, s) in enumerate(zip(refs, secs, strict=True))}
    triangles = 0
    for (a, b), k_ab in index.items():
        for (b2, c), k_bc in index.items():
            if b2 == b and (a, c) in index:
                k_ac = index[(a, c)]
                for name in ("atmosphere", "los_displacement"):
                    v = stack[name].values
                    np.testing.assert_allclose(v[k_ab] + v[k_bc], v[k_ac], atol=1e-5)
                triangles += 1
    assert triangles > 0


def test_network_respects_the_maximum_baseline(stack) -> None:
    config = SimulationConfig.model_validate(json.loads(stack.attrs["simulation_config"]))
    baselines = (stack.secondary_date.values - stack.reference_date.values) / np.timedelta64(1, "D")
    assert np.all(baselines > 0) and np.all(baselines <= config.max_baseline_days)


def test_labels_only_where_the_signal_is_visible(stack) -> None:
    config = SimulationConfig.model_validate(json.loads(stack.attrs["simulation_config"]))
    label = stack.label.values.astype(bool)
    assert label.any()
    phase = displacement_to_phase(stack.los_displacement.values, stack.attrs["wavelength_m"])
    assert np.all(np.abs(phase[label]) >= config.visibility_threshold_rad)
    assert not np.any(label & stack.decorrelation.values.astype(bool))


def test_objects_lie_on_the_grid(stack) -> None:
    objects = objects_geodataframe(stack)
    assert len(objects) >= 1 and set(objects["kind"]) == {"subsidence"}
    xmin, ymin, xmax, ymax = stack.rio.bounds()
    assert objects.total_bounds[0] >= xmin and objects.total_bounds[2] <= xmax
    assert objects.total_bounds[1] >= ymin and objects.total_bounds[3] <= ymax
    assert objects.crs.to_epsg() == stack.rio.crs.to_epsg()


@pytest.mark.parametrize("scenario", ["atmosphere_only", "decorrelated", "stratified"])
def test_hard_negatives_have_no_targets(scenario: str) -> None:
    ds = simulate_pair(SimulationConfig(height=64, width=64, scenario=scenario, seed=2))
    assert not ds.label.values.any() and json.loads(ds.attrs["objects"]) == []
    assert np.all(ds.los_velocity.values == 0)
    if scenario == "decorrelated":
        assert float(np.median(ds.coherence.values)) < 0.3


def test_layover_where_the_slope_faces_the_radar_steeply() -> None:
    # Ascending (heading -12): the radar looks east from the west, so terrain rising towards the west faces it.
    x = np.arange(64) * 30.0
    facing = np.tile(2000 - 1.5 * x, (64, 1))  # 56 deg slope rising towards the radar
    away = np.tile(2000 + 0.3 * x, (64, 1))  # gentle slope facing away
    layover, _ = layover_shadow(facing, 30.0, 35.0, -12.0)
    assert layover[5:-5, 5:-5].all()
    layover, shadow = layover_shadow(away, 30.0, 35.0, -12.0)
    assert not layover.any() and not shadow.any()


@pytest.mark.parametrize(
    "values",
    [{"height": 4}, {"gamma0": (0.9, 0.5)}, {"scenario": "meteor"}, {"unknown_field": 1}, {"looks": (0, 3)}],
)
def test_bad_configs_are_rejected(values: dict) -> None:
    from fringenet.config import validate_config

    with pytest.raises(InputError):
        validate_config(SimulationConfig, values)


def test_unwrapped_is_wrapped_plus_ambiguity_bit_for_bit(stack) -> None:
    wrapped, ambiguity = stack.wrapped_phase.values, stack.ambiguity.values
    rebuilt = (wrapped.astype(np.float64) + 2 * np.pi * ambiguity.astype(np.float64)).astype(np.float32)
    assert np.array_equal(rebuilt, stack.unwrapped_phase.values)


def test_noise_free_unwrapped_phase_closes_around_triangles() -> None:
    scene = simulate_stack_arrays(SimulationConfig(height=64, width=64, n_dates=6, scenario="mixed", seed=5))
    signal = scene.per_pair["unwrapped_phase"].astype(np.float64) - scene.phase_noise
    index = {(int(r), int(s)): k for k, (r, s) in enumerate(scene.pairs)}
    checked = 0
    for (a, b), k_ab in index.items():
        for c in range(b + 1, scene.dates.size):
            if (b, c) in index and (a, c) in index:
                closure = signal[k_ab] + signal[index[(b, c)]] - signal[index[(a, c)]]
                assert np.abs(closure).max() < 1e-3  # float32 rounding of phases of tens of rad
                checked += 1
    assert checked > 0


@pytest.mark.shared_data
@needs_pyrate
def test_a_real_dem_can_be_passed_in() -> None:
    path = PYRATE / "dem" / "roipac_test_trimmed.tif"
    import rasterio

    with rasterio.open(path) as src:
        dem = src.read(1).astype(np.float64)
    config = SimulationConfig(height=dem.shape[0], width=dem.shape[1], pixel_size_m=90.0, seed=1)
    ds = simulate_pair(config, dem=dem)
    water = ds.water.values.astype(bool)
    np.testing.assert_allclose(ds.dem.values[~water], dem[~water], atol=1e-3)  # float32 of the input
    with pytest.raises(InputError, match="does not match"):
        simulate_pair(config, dem=dem[:-1])


def test_gallery_writes_one_png_per_scenario(tmp_path) -> None:
    from fringenet.report.gallery import GALLERY_SCENARIOS, write_gallery

    paths = write_gallery(tmp_path, size=48, dpi=40)
    assert [p.stem for p in paths] == list(GALLERY_SCENARIOS)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
    assert sorted(tmp_path.iterdir()) == sorted(paths)  # no temporary files left behind
