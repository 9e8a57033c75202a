"""Deformation sources: Okada check list, Mogi closed form, bowls, slope-parallel bodies, time models."""

from __future__ import annotations

import numpy as np
import pytest

from fringenet.errors import InputError
from fringenet.simulate import sources
from fringenet.simulate.okada import okada85
from fringenet.simulate.targets import SCENARIOS, TARGET_KINDS, Target, draw_targets
from fringenet.simulate.temporal import TemporalModel, random_temporal_model

# Okada (1985) Table 2 "check list": (x, y, d, dip, L, W), Okada's fault frame with the origin at
# the bottom corner, U = 1, lambda = mu. Case 4's dip of -90 is modelled as dip 90 with rake 180.
OKADA_TABLE2 = [
    # case, mode, rake, (ux, uy, uz)
    ((2, 3, 4, 70, 3, 2), "strike", 0, (-8.689e-3, -4.298e-3, -2.747e-3)),
    ((2, 3, 4, 70, 3, 2), "dip", 90, (-4.682e-3, -3.527e-2, -3.564e-2)),
    ((2, 3, 4, 70, 3, 2), "tensile", 0, (-2.660e-4, +1.056e-2, +3.214e-3)),
    ((0, 0, 4, 90, 3, 2), "strike", 0, (0.0, +5.253e-3, 0.0)),
    ((0, 0, 4, 90, 3, 2), "dip", 90, (0.0, 0.0, 0.0)),
    ((0, 0, 4, 90, 3, 2), "tensile", 0, (+1.223e-2, 0.0, -1.606e-2)),
    ((0, 0, 6, 90, 3, 2), "strike", 180, (0.0, -1.303e-3, 0.0)),
    ((0, 0, 6, 90, 3, 2), "dip", 90, (0.0, 0.0, 0.0)),
    ((0, 0, 6, 90, 3, 2), "tensile", 0, (+3.507e-3, 0.0, -7.740e-3)),
]


def _okada_table_frame(x, y, d, dip, length, width, rake, slip, opening):
    # Strike 90 makes east = Okada's x and north = Okada's y; shift the bottom-corner origin to the centroid.
    cd, sd = np.cos(np.deg2rad(dip)), np.sin(np.deg2rad(dip))
    return okada85(
        x - length / 2,
        y - cd * width / 2,
        0.0,
        0.0,
        d - sd * width / 2,
        90.0,
        dip,
        length,
        width,
        rake,
        slip,
        opening,
    )


@pytest.mark.parametrize(("case", "mode", "rake", "expected"), OKADA_TABLE2)
def test_okada_matches_table2_check_list(case, mode, rake, expected):
    slip, opening = (0.0, 1.0) if mode == "tensile" else (1.0, 0.0)
    got = np.array([float(c) for c in _okada_table_frame(*case, rake, slip, opening)])
    # The table gives 4 significant figures.
    np.testing.assert_allclose(got, expected, rtol=6e-4, atol=1e-12)


@pytest.fixture
def grid():
    return sources.grid_coordinates((101, 101), 200.0)  # 20 km square, centred


def test_vertical_strike_slip_is_antisymmetric_and_left_lateral(grid):
    x, y = grid
    e, n, u = okada85(x, y, 0.0, 0.0, 3000.0, 0.0, 90.0, 6000.0, 4000.0, rake_deg=0.0, slip_m=1.0)
    # Mirror across the fault plane (x -> -x): fault-parallel motion and uplift flip sign.
    np.testing.assert_allclose(n, -n[:, ::-1], atol=1e-12)
    np.testing.assert_allclose(u, -u[:, ::-1], atol=1e-12)
    np.testing.assert_allclose(e, e[:, ::-1], atol=1e-12)
    # Left-lateral on a north-striking fault: the east block moves north.
    assert n[50, 55] > 0.01 and n[50, 45] < -0.01


def test_thrust_uplifts_hanging_wall(grid):
    x, y = grid
    # Strike north, dip 30 deg to the east: the hanging wall lies east of the fault's up-dip edge,
    # whose surface projection is W/2 cos(dip) west of the centroid.
    _e, _n, u = okada85(x, y, 0.0, 0.0, 3000.0, 0.0, 30.0, 8000.0, 6000.0, rake_deg=90.0, slip_m=1.0)
    updip_edge_x = -0.5 * 6000.0 * np.cos(np.deg2rad(30.0))
    row, col = np.unravel_index(np.argmax(u), u.shape)
    assert updip_edge_x < x[row, col] < 0 and u.max() > 0.1
    assert u.max() > -u.min()


def test_okada_far_field_decays_as_inverse_square():
    # The point-source limit is reached only far from the source: -2.19 at 50 km, -2.01 at 1000 km.
    r = np.array([500e3, 1000e3])
    e, n, u = okada85(r, np.zeros(2), 0.0, 0.0, 5000.0, 30.0, 60.0, 1000.0, 1000.0, 45.0, 1.0, 0.3)
    mag = np.sqrt(e**2 + n**2 + u**2)
    exponent = np.log(mag[1] / mag[0]) / np.log(2.0)
    assert exponent == pytest.approx(-2.0, abs=0.03)
    _, _, near = okada85(
        np.array([100e3]), np.zeros(1), 0.0, 0.0, 5000.0, 30.0, 60.0, 1000.0, 1000.0, 45.0, 1.0
    )
    assert abs(near[0]) < 1e-5  # a 1 km^2 patch slipping 1 m moves the ground < 10 um 100 km away


def test_small_okada_sill_uplift_volume_is_opened_volume():
    # A small horizontal crack acts as a point sill: uz = 3 dV d^3 / (2 pi R^5), whose integral over a
    # disk of radius a is dV (1 - d^3 / (a^2 + d^2)^1.5), independent of Poisson's ratio.
    x, y = sources.grid_coordinates((201, 201), 250.0)
    sill = sources.okada_source(x, y, 0.0, 0.0, 2000.0, 0.0, 0.0, 200.0, 200.0, opening_m=1.0)
    disk = np.hypot(x, y) <= 25000.0
    volume = sill[2][disk].sum() * 250.0**2
    expected = 200.0 * 200.0 * (1.0 - (2000.0 / np.hypot(25000.0, 2000.0)) ** 3)
    assert volume == pytest.approx(expected, rel=0.02)


def test_okada_rejects_fault_above_surface():
    with pytest.raises(InputError, match="above the surface"):
        okada85(np.zeros(1), np.zeros(1), 0.0, 0.0, 500.0, 0.0, 90.0, 1000.0, 2000.0, slip_m=1.0)


def test_mogi_closed_form():
    d, dv, nu = 2000.0, 1.0e6, 0.25
    x = np.array([[0.0, d]])
    u = sources.mogi(x, np.zeros_like(x), 0.0, 0.0, d, dv, nu)
    peak = (1 - nu) * dv / (np.pi * d**2)
    assert u.shape == (3, 1, 2)
    assert u[2, 0, 0] == pytest.approx(peak, rel=1e-12)  # ~0.06 m
    assert u[0, 0, 0] == 0.0 and u[1, 0, 0] == 0.0
    # At r = d: uz = ur = peak / 2^1.5, radial outward for inflation.
    assert u[2, 0, 1] == pytest.approx(peak / 2**1.5, rel=1e-12)
    assert u[0, 0, 1] == pytest.approx(peak / 2**1.5, rel=1e-12)


def test_mogi_uplift_volume():
    x, y = sources.grid_coordinates((201, 201), 100.0)
    d, dv, nu = 1000.0, 1.0e6, 0.25
    u = sources.mogi(x, y, 0.0, 0.0, d, dv, nu)
    disk = np.hypot(x, y) <= 10000.0
    volume = u[2][disk].sum() * 100.0**2
    expected = 2 * (1 - nu) * dv * (1 - d / np.hypot(10000.0, d))
    assert volume == pytest.approx(expected, rel=0.01)


@pytest.fixture
def bowl_grid():
    return sources.grid_coordinates((161, 161), 10.0)  # 1.6 km square


def _inward(u, x, y, xs, ys):
    return u[0] * (x - xs) + u[1] * (y - ys)


def test_gaussian_bowl_volume_sign_and_inward_motion(bowl_grid):
    x, y = bowl_grid
    u = sources.gaussian_bowl(x, y, 50.0, -30.0, 100.0, 0.2)
    assert u[2].min() == pytest.approx(-0.2, abs=1e-3) and u[2].max() <= 0.0
    assert u[2].sum() * 100.0 == pytest.approx(-2 * np.pi * 100.0**2 * 0.2, rel=1e-3)
    assert np.all(_inward(u, x, y, 50.0, -30.0) <= 1e-15)
    horizontal = np.hypot(u[0], u[1]).max()
    assert 0.1 * 0.2 < horizontal < 0.5 * 0.2  # mining: peak horizontal ~ 0.2-0.4 of peak subsidence


def test_distorted_bowl_keeps_depth_and_volume(bowl_grid):
    x, y = bowl_grid
    u = sources.distorted_gaussian_bowl(x, y, 0.0, 0.0, 120.0, 50.0, 30.0, 0.4, 0.1)
    assert u[2][80, 80] == pytest.approx(-0.1, abs=1e-12)
    # A split Gaussian keeps the volume of the symmetric one: -2 pi sigma_major sigma_minor s.
    assert u[2].sum() * 100.0 == pytest.approx(-2 * np.pi * 120.0 * 50.0 * 0.1, rel=1e-3)
    assert np.all(_inward(u, x, y, 0.0, 0.0) <= 1e-15)
    # The skew makes the bowl longer on one side along its 30 deg axis than on the other.
    a = np.deg2rad(30.0)
    along = x * np.sin(a) + y * np.cos(a)
    deep = u[2] < -0.01
    assert along[deep].max() > 1.5 * -along[deep].min()


def test_reservoir_bowl_flat_bottom_and_volume(bowl_grid):
    x, y = bowl_grid
    radius, edge = 400.0, 40.0
    u = sources.reservoir_bowl(x, y, 0.0, 0.0, radius, edge, 0.05)
    r = np.hypot(x, y)
    assert np.all(np.abs(u[2][r < 200.0] + 0.05) < 1e-4)  # flat bottom
    # Logistic edge: volume = -pi R^2 s (1 + pi^2 w^2 / (12 R^2)) to second order in w / R.
    expected = -np.pi * radius**2 * 0.05 * (1 + np.pi**2 * edge**2 / (12 * radius**2))
    assert u[2].sum() * 100.0 == pytest.approx(expected, rel=2e-3)
    assert np.all(_inward(u, x, y, 0.0, 0.0) <= 1e-15)


def _terrain(dem, pixel):
    d_row, d_col = np.gradient(dem, pixel)
    dz_e, dz_n = d_col, -d_row
    slope = np.degrees(np.arctan(np.hypot(dz_e, dz_n)))
    aspect = np.degrees(np.arctan2(-dz_e, -dz_n)) % 360.0
    return slope, aspect


@pytest.fixture
def plane():
    # Tilted plane rising to the north-east: slope atan(0.5) = 26.6 deg, downslope to the south-west.
    x, y = sources.grid_coordinates((128, 128), 10.0)
    dem = 1000.0 + 0.3 * x + 0.4 * y
    slope, aspect = _terrain(dem, 10.0)
    return x, y, dem, slope, aspect


@pytest.mark.parametrize("body", [sources.landslide_lobe, sources.rock_glacier])
def test_bodies_move_downslope(plane, body):
    x, y, dem, slope, aspect = plane
    disp, mask = body(x, y, dem, slope, aspect, (0.0, 0.0), 600.0, 250.0, np.random.default_rng(3))
    assert disp.shape == (3, 128, 128) and mask.dtype == bool and 100 < mask.sum() < 0.5 * mask.size
    assert np.linalg.norm(disp, axis=0).max() == pytest.approx(1.0)
    assert np.all(disp[:, ~mask] == 0.0)
    down_e, down_n = np.sin(np.deg2rad(aspect)), np.cos(np.deg2rad(aspect))
    moving = mask & (np.linalg.norm(disp, axis=0) > 1e-3)
    h = np.hypot(disp[0], disp[1])
    cos_angle = (disp[0] * down_e + disp[1] * down_n)[moving] / h[moving]
    assert cos_angle.min() > 0.999  # horizontal motion straight down the plane
    # Elongated down the aspect (south-west here).
    along = (x * down_e + y * down_n)[mask]
    across = (x * down_n - y * down_e)[mask]
    assert np.ptp(along) > 1.5 * np.ptp(across)


def test_landslide_is_slope_parallel(plane):
    x, y, dem, slope, aspect = plane
    disp, mask = sources.landslide_lobe(
        x, y, dem, slope, aspect, (50.0, -20.0), 500.0, 200.0, np.random.default_rng(0)
    )
    moving = mask & (np.linalg.norm(disp, axis=0) > 1e-3)
    h = np.hypot(disp[0], disp[1])
    assert np.all(disp[2][moving] < 0)
    np.testing.assert_allclose(disp[2][moving], -0.5 * h[moving], atol=1e-9)  # up = -tan(slope) * horizontal


def test_rock_glacier_front_bulges_up(plane):
    x, y, dem, slope, aspect = plane
    disp, _mask = sources.rock_glacier(
        x, y, dem, slope, aspect, (0.0, 0.0), 700.0, 300.0, np.random.default_rng(1)
    )
    # Residual vertical motion beyond slope-parallel flow is uplift and sits in the front (downslope) half.
    residual = disp[2] + 0.5 * np.hypot(disp[0], disp[1])
    assert residual.min() > -1e-9 and residual.max() > 0.02
    a = np.deg2rad(aspect[64, 64])
    along = x * np.sin(a) + y * np.cos(a)
    row, col = np.unravel_index(np.argmax(residual), residual.shape)
    assert along[row, col] > 0


def test_landslide_on_cone_follows_local_aspect():
    x, y = sources.grid_coordinates((128, 128), 10.0)
    dem = 2000.0 - 0.6 * np.hypot(x, y)
    slope, aspect = _terrain(dem, 10.0)
    disp, mask = sources.landslide_lobe(
        x, y, dem, slope, aspect, (200.0, 150.0), 500.0, 300.0, np.random.default_rng(5)
    )
    down_e, down_n = np.sin(np.deg2rad(aspect)), np.cos(np.deg2rad(aspect))
    moving = mask & (np.linalg.norm(disp, axis=0) > 1e-3)
    assert moving.sum() > 100
    assert np.all((disp[0] * down_e + disp[1] * down_n)[moving] > 0)
    assert np.all(disp[2][moving] < 0)


def test_temporal_models():
    t = np.array([0.0, 0.5, 1.0, 2.0])
    np.testing.assert_allclose(TemporalModel("linear", 0.03).displacement(t), 0.03 * t)
    step = TemporalModel("step", 0.0, step_m=0.2, t_step_yr=0.7)
    np.testing.assert_allclose(step.displacement(t), [0.0, 0.0, 0.2, 0.2])
    assert step.mean_velocity(0.0, 2.0) == pytest.approx(0.1)
    acc = TemporalModel("accelerating", 0.01, acceleration_m_per_yr2=0.02)
    assert acc.mean_velocity(0.0, 2.0) == pytest.approx(0.01 + 0.02 * 2.0 / 2)
    seasonal = TemporalModel("seasonal", 0.05, seasonal_amplitude_m=0.02, phase_yr=0.3)
    assert float(seasonal.displacement(0.0)) == 0.0
    # Over whole periods the seasonal term averages out: the mean velocity is the linear part.
    assert seasonal.mean_velocity(0.17, 3.17) == pytest.approx(0.05, abs=1e-12)
    assert abs(seasonal.mean_velocity(0.0, 0.25) - 0.05) > 0.01
    with pytest.raises(InputError, match="unknown kind"):
        TemporalModel("exponential", 0.01)
    with pytest.raises(InputError):
        seasonal.mean_velocity(1.0, 1.0)


@pytest.mark.parametrize("kind", ["linear", "seasonal", "accelerating", "step"])
def test_random_temporal_model_is_deterministic_and_starts_at_zero(kind):
    a = random_temporal_model(np.random.default_rng(7), kind, 0.1, time_span_yr=2.0)
    b = random_temporal_model(np.random.default_rng(7), kind, 0.1, time_span_yr=2.0)
    assert a == b and a.kind == kind
    assert float(a.displacement(0.0)) == 0.0
    assert a.displacement(2.0) > 0


@pytest.fixture(scope="module")
def mountain():
    # A cone with a 26.6 deg flank and a flat plain around it: steep high ground and flat low ground.
    x, y = sources.grid_coordinates((128, 128), 20.0)
    dem = 1500.0 + np.clip(1000.0 - 0.5 * np.hypot(x, y), 0.0, None)
    slope, aspect = _terrain(dem, 20.0)
    return dem, slope, aspect


def _same(a: list[Target], b: list[Target]) -> bool:
    return len(a) == len(b) and all(
        s.kind == t.kind
        and s.source == t.source
        and s.pattern_enu.tobytes() == t.pattern_enu.tobytes()
        and s.footprint.tobytes() == t.footprint.tobytes()
        and s.temporal == t.temporal
        and s.params == t.params
        for s, t in zip(a, b, strict=True)
    )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_draw_targets_deterministic_and_well_formed(mountain, scenario):
    dem, slope, aspect = mountain
    first = draw_targets(np.random.default_rng(11), scenario, dem, slope, aspect, 20.0)
    again = draw_targets(np.random.default_rng(11), scenario, dem, slope, aspect, 20.0)
    assert first and _same(first, again)
    assert not _same(first, draw_targets(np.random.default_rng(12), scenario, dem, slope, aspect, 20.0))
    for target in first:
        assert target.kind in TARGET_KINDS and (scenario == "mixed" or target.kind == scenario)
        assert target.pattern_enu.dtype == np.float32 and target.pattern_enu.shape == (3, 128, 128)
        assert np.linalg.norm(target.pattern_enu, axis=0).max() == pytest.approx(1.0, abs=1e-6)
        assert target.footprint.shape == (128, 128) and target.footprint.any()
        d = target.displacement_enu(1.0)
        expected = target.pattern_enu * target.temporal.displacement(1.0)
        np.testing.assert_allclose(d, expected, rtol=1e-6, atol=1e-12)  # atol: float32 denormals in the tails
        assert target.displacement_enu(np.array([0.0, 1.0])).shape == (2, 3, 128, 128)
        assert np.all(target.displacement_enu(0.0) == 0.0)


def test_draw_targets_physical_ranges(mountain):
    dem, slope, aspect = mountain
    high = np.quantile(dem, 0.7)
    for seed in range(8):
        rng = np.random.default_rng(seed)
        for t in draw_targets(rng, "landslide", dem, slope, aspect, 20.0):
            assert 0.005 <= t.params["velocity_m_per_yr"] <= 1.0
            assert 15.0 <= t.params["slope_deg"] <= 45.0
            assert np.all(t.pattern_enu[2][t.footprint] <= 0.0)
        for t in draw_targets(rng, "rockglacier", dem, slope, aspect, 20.0):
            assert 0.1 <= t.params["velocity_m_per_yr"] <= 2.0
            assert np.median(dem[t.footprint]) >= high - 100.0
        for t in draw_targets(rng, "subsidence", dem, slope, aspect, 20.0):
            assert 0.02 <= t.params["velocity_m_per_yr"] <= 0.5
            assert t.pattern_enu[2].min() == pytest.approx(-1.0, abs=0.05)  # vertical dominates
        (volcano,) = draw_targets(rng, "volcano", dem, slope, aspect, 20.0)
        assert 1000.0 <= volcano.params["depth_m"] <= 6000.0
        if volcano.temporal.kind != "step":
            assert 0.01 <= abs(volcano.params["velocity_m_per_yr"]) <= 0.2
        (quake,) = draw_targets(rng, "earthquake", dem, slope, aspect, 20.0, time_span_yr=3.0)
        assert 5.0 <= quake.params["magnitude_mw"] <= 6.5 and quake.temporal.kind == "step"
        assert 0.0 < quake.temporal.t_step_yr < 3.0
        assert quake.params["peak_displacement_m"] == pytest.approx(quake.temporal.step_m)


def test_no_slopes_no_landslides():
    flat = np.full((64, 64), 200.0)
    zeros = np.zeros((64, 64))
    rng = np.random.default_rng(0)
    assert draw_targets(rng, "landslide", flat, zeros, zeros, 30.0, n_targets=3) == []
    assert draw_targets(rng, "rockglacier", flat, zeros, zeros, 30.0, n_targets=2) == []
    assert len(draw_targets(rng, "subsidence", flat, zeros, zeros, 30.0, n_targets=2)) == 2


def test_draw_targets_validates_input(mountain):
    dem, slope, aspect = mountain
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="landslide, rockglacier, subsidence, volcano, earthquake, mixed"):
        draw_targets(rng, "tsunami", dem, slope, aspect, 20.0)
    with pytest.raises(InputError, match="same shape"):
        draw_targets(rng, "landslide", dem, slope[:-1], aspect, 20.0)
    with pytest.raises(InputError, match="pixel size"):
        draw_targets(rng, "landslide", dem, slope, aspect, 0.0)
    assert draw_targets(rng, "volcano", dem, slope, aspect, 20.0, n_targets=0) == []
