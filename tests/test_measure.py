"""Measuring one detected target: crop, reference ring, unwrap, SBAS inversion and output files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine
from scipy.ndimage import binary_dilation

from fringenet.conventions import SENTINEL1_WAVELENGTH_M, days_to_years, displacement_to_phase, wrap
from fringenet.errors import InputError
from fringenet.measure import (
    TargetMeasurement,
    choose_reference_area,
    margin_for,
    measure_target,
    target_window,
    write_target_series,
)

SIZE, RADIUS = 56, 14
N_DATES, STEP_DAYS = 9, 72


def stack(peak_m_per_yr: float = 0.05, noise_rad: float = 0.3, seed: int = 0) -> dict:
    """Synthetic crop: a cos^2 velocity bowl of radius 14 px (exactly 0 outside) in a 56x56 crop.

    9 dates every 72 days, pairs spanning 1-3 intervals (21 pairs; the longest carry > 2 pi of
    signal), plus a random constant offset per pair and Gaussian phase noise.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    r = np.hypot(yy - SIZE / 2, xx - SIZE / 2)
    velocity = np.where(r < RADIUS, peak_m_per_yr * np.cos(np.pi * r / (2 * RADIUS)) ** 2, 0.0)
    dates = np.datetime64("2021-01-01") + np.arange(N_DATES) * STEP_DAYS
    pairs = [(i, j) for i in range(N_DATES) for j in range(i + 1, min(i + 4, N_DATES))]
    truth = np.stack(
        [
            displacement_to_phase(
                velocity * days_to_years(float(STEP_DAYS * (j - i))), SENTINEL1_WAVELENGTH_M
            )
            for i, j in pairs
        ]
    )
    truth += rng.uniform(-3, 3, len(pairs))[:, None, None]
    noisy = truth + rng.normal(0, noise_rad, truth.shape)
    target = r < RADIUS
    return {
        "wrapped": wrap(noisy),
        "truth": truth,
        "coherence": np.full(truth.shape, 0.8),
        "ref": [dates[i] for i, _ in pairs],
        "sec": [dates[j] for _, j in pairs],
        "target": target,
        "velocity": velocity,
        # the target series is a per-date median over its pixels, so its rate is the median rate
        # (0.0099 m/yr for peak 0.05; the mean rate, 0.015, would weigh the centre more)
        "true_rate": float(np.median(velocity[target])),
    }


def run(s: dict, **kwargs: Any) -> TargetMeasurement:
    args = {"wavelength_m": SENTINEL1_WAVELENGTH_M, "unwrapper": "whirlwind", "target_id": "T000001"}
    coherence = kwargs.pop("coherence", s["coherence"])
    return measure_target(s["wrapped"], coherence, s["ref"], s["sec"], s["target"], **{**args, **kwargs})


def test_target_window_from_mask_and_bbox_is_clipped() -> None:
    mask = np.zeros((100, 80), dtype=bool)
    mask[10:20, 60:70] = True
    assert target_window(mask, mask.shape, 16) == (0, 36, 44, 80)
    assert target_window((40, 50, 30, 35), (100, 80), 5) == (35, 55, 25, 40)
    with pytest.raises(InputError):
        target_window(np.zeros((100, 80), dtype=bool), (100, 80), 5)
    assert margin_for(25) == 16 and margin_for(40 * 40) == 40 and margin_for(1e8) == 256


def test_reference_area_is_a_coherent_ring_outside_the_buffered_target() -> None:
    target = np.zeros((60, 60), dtype=bool)
    target[25:35, 25:35] = True
    other = np.zeros_like(target)
    other[25:35, 40:44] = True  # another detection right next to the target
    coherence = np.full((3, 60, 60), 0.9)
    coherence[:, :, :20] = 0.1  # decorrelated west part
    area, info = choose_reference_area(target, coherence, detections=other, buffer_px=3, max_pixels=100)
    assert info["fallback"] is None and info["n_pixels"] == area.sum() >= 100
    assert not (area & binary_dilation(target, iterations=3)).any()
    assert not (area & binary_dilation(other, iterations=3)).any()
    assert area[:, :20].sum() == 0 and info["mean_coherence"] == pytest.approx(0.9)
    # nearest first: the ring hugs the buffer rather than the scene corners
    assert 4 <= info["max_distance_px"] <= 8


def test_reference_falls_back_when_the_ring_is_poorly_coherent() -> None:
    target = np.zeros((40, 40), dtype=bool)
    target[15:25, 15:25] = True
    coherence = np.full((40, 40), 0.3)
    area, info = choose_reference_area(target, coherence, min_coherence=0.5)
    assert info["fallback"] == "lowered threshold" and info["threshold"] == pytest.approx(0.3)
    assert "lowered" in info["note"] and area.sum() >= 20
    coherence = np.random.default_rng(0).uniform(0.0, 0.15, (40, 40))
    area, info = choose_reference_area(target, coherence, min_coherence=0.5)
    assert info["fallback"] == "coherence quantile" and "most coherent" in info["note"]
    kept, rest = coherence[area], coherence[~area & ~binary_dilation(target, iterations=3)]
    assert kept.min() >= np.median(rest)


def test_no_usable_reference_raises() -> None:
    target = np.zeros((30, 30), dtype=bool)
    target[5:25, 5:25] = True
    unusable = ~binary_dilation(target, iterations=4)  # a thin ring of ~90 px beyond the 3-px buffer
    with pytest.raises(InputError, match="usable pixel"):
        choose_reference_area(target, np.full((30, 30), 0.9), unusable, buffer_px=3, min_pixels=100)
    s = stack(0.05)
    with pytest.raises(InputError, match="usable pixel"):
        run(s, unusable=~s["target"])


@pytest.mark.parametrize("peak", [0.05, -0.05])
def test_measured_velocity_matches_the_bowl_with_the_right_sign(peak: float) -> None:
    s = stack(peak)
    m = run(s)
    assert m.velocity_m_per_yr == pytest.approx(s["true_rate"], abs=5e-4)
    assert np.sign(m.velocity_m_per_yr) == np.sign(peak)  # towards the satellite = positive
    assert m.velocity_pixel_median_m_per_yr == pytest.approx(s["true_rate"], abs=5e-4)
    assert m.velocity_std_m_per_yr < 5e-4
    assert m.n_dates == N_DATES and m.dates.dtype == np.dtype("datetime64[D]")
    assert m.displacement_m[0] == 0 and m.n_pixels == s["target"].sum()
    assert np.nanmax(np.abs(m.velocity_map - s["velocity"])) < 0.005
    assert np.all(m.displacement_std_m[1:] > 0) and m.notes == ()


def test_snaphu_measurement() -> None:
    s = stack(0.05, seed=1)
    m = run(s, unwrapper="snaphu")
    assert m.unwrapper == "snaphu"
    assert m.velocity_m_per_yr == pytest.approx(s["true_rate"], abs=5e-4)


def test_callable_unwrapper_returning_the_truth_is_near_exact() -> None:
    s = stack(0.05, noise_rad=0.0)
    truth: Iterator[np.ndarray] = iter(s["truth"])

    def oracle(wrapped: np.ndarray, coherence: np.ndarray) -> np.ndarray:
        return next(truth)

    m = run(s, unwrapper=oracle)
    assert m.unwrapper == "oracle"
    assert m.velocity_m_per_yr == pytest.approx(s["true_rate"], abs=1e-9)
    assert m.velocity_std_m_per_yr < 1e-9


def test_missing_coherence_is_estimated_and_noted() -> None:
    s = stack(0.05, seed=2)
    m = run(s, coherence=None)
    assert any("estimated from the phase" in note for note in m.notes)
    assert m.velocity_m_per_yr == pytest.approx(s["true_rate"], abs=1e-3)


def test_poorly_coherent_ring_is_noted_in_the_measurement() -> None:
    s = stack(0.05, seed=4)
    s["coherence"] = np.where(s["target"], 0.8, 0.3)[None].repeat(len(s["ref"]), axis=0)
    m = run(s)
    assert m.reference_info["fallback"] == "lowered threshold"
    assert any("threshold lowered to 0.30" in note for note in m.notes)
    assert m.velocity_m_per_yr == pytest.approx(s["true_rate"], abs=5e-4)


def test_unusable_pixels_are_left_out() -> None:
    s = stack(0.05, seed=3)
    unusable = np.zeros((SIZE, SIZE), dtype=bool)
    unusable[20:26, 20:26] = True  # inside the target
    unusable[:, :4] = True
    s["wrapped"][:, 20:26, 20:26] = np.random.default_rng(5).uniform(-np.pi, np.pi, (21, 6, 6))
    m = run(s, unusable=unusable)
    assert m.n_pixels == (s["target"] & ~unusable).sum()
    assert np.isnan(m.velocity_map[unusable]).all() and not m.reference_area[unusable].any()
    assert m.velocity_m_per_yr == pytest.approx(np.median(s["velocity"][s["target"] & ~unusable]), abs=5e-4)


def test_write_target_series(tmp_path: Path) -> None:
    s = stack(0.05, noise_rad=0.1)
    m = run(s, window=(100, 156, 200, 256))
    scene = Affine(30.0, 0, 500_000.0, 0, -30.0, 4_000_000.0)
    csv_path, nc_path = write_target_series(m, tmp_path / "targets", crs="EPSG:32632", transform=scene)
    assert csv_path.name == "T000001.csv" and nc_path.name == "T000001.nc"
    table = pd.read_csv(csv_path, parse_dates=["date"])
    assert list(table.columns) == ["date", "displacement_m", "displacement_std_m"] and len(table) == N_DATES
    assert table["date"].iloc[1] == pd.Timestamp("2021-03-14")
    np.testing.assert_allclose(table["displacement_m"], m.displacement_m, rtol=1e-5, atol=1e-9)
    with xr.open_dataset(nc_path, decode_coords="all") as ds:
        assert ds.attrs["target_id"] == "T000001"
        assert ds.attrs["velocity_m_per_yr"] == pytest.approx(m.velocity_m_per_yr)
        assert ds.attrs["unwrapper"] == "whirlwind" and ds.attrs["reference_px"] == m.reference_px
        assert ds.attrs["sign_convention"] == "positive towards the satellite"
        assert ds["los_velocity"].shape == (SIZE, SIZE) and ds.sizes["date"] == N_DATES
        assert float(ds.x[0]) == 500_000.0 + 200.5 * 30 and float(ds.y[0]) == 4_000_000.0 - 100.5 * 30
        assert ds.rio.crs.to_epsg() == 32632
