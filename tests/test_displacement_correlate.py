"""Optical pairs with known displacement (issue 12) and the classical correlators that measure it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from fringenet.displacement.correlate import (
    METHODS,
    estimate_offsets,
    ncc_offsets,
    phase_correlation_offsets,
)
from fringenet.errors import InputError
from fringenet.simulate.optical import OpticalPairConfig, hillshade, sample_optical_pair

SMALL = OpticalPairConfig(size=96)


def _textured(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random(shape), 1.2)


def _moved(image: np.ndarray, east_px: float, north_px: float) -> np.ndarray:
    """``image``'s content moved east and north (rows run southwards)."""
    return ndimage.shift(image, (-north_px, east_px), order=3, mode="reflect")


def test_same_seed_same_bytes_and_another_seed_differs() -> None:
    a, b = sample_optical_pair(5, SMALL), sample_optical_pair(5, SMALL)
    assert a.pre.tobytes() == b.pre.tobytes() and a.post.tobytes() == b.post.tobytes()
    assert a.east_m.tobytes() == b.east_m.tobytes() and a.params == b.params
    assert sample_optical_pair(6, SMALL).pre.tobytes() != a.pre.tobytes()


def test_fault_offset_is_scaled_and_the_rupture_trace_follows_the_discontinuity() -> None:
    for seed in range(40):
        pair = sample_optical_pair(
            seed, OpticalPairConfig(size=128, kind_weights=(1, 0, 0, 0, 0), surface_rupture=1.0)
        )
        assert pair.kind == "strike_slip" and pair.params["surface_rupture"]
        largest = float(np.hypot(pair.east_px, pair.north_px).max())
        assert largest == pytest.approx(pair.params["max_offset_px"], rel=1e-3)
        if pair.near_fault.sum() > 200:
            break
    else:
        pytest.fail("no rupture crossed the scene")
    # the offset jumps across the trace: the largest neighbour differences sit near it
    jump = np.hypot(np.diff(pair.east_px, axis=1), np.diff(pair.north_px, axis=1))
    worst = np.unravel_index(np.argmax(jump), jump.shape)
    assert pair.fault_distance_px[worst] <= 2.0


def test_no_motion_scene_and_ranges() -> None:
    pair = sample_optical_pair(0, OpticalPairConfig(size=64, kind_weights=(0, 0, 0, 1, 0)))
    assert pair.kind == "none" and not np.any(pair.east_m) and not np.any(pair.north_m)
    assert np.isinf(pair.fault_distance_px).all() and not pair.near_fault.any()
    assert pair.pre.dtype == np.float32 and pair.pre.shape == (64, 64)
    assert 0.0 < float(pair.pre.mean()) < 1.0


def test_hillshade_lights_slopes_facing_the_sun() -> None:
    x = np.tile(np.arange(32.0), (32, 1)) * 10.0  # elevation rises eastwards: the slope faces west
    west_sun, east_sun = hillshade(x, 10.0, 270.0, 40.0), hillshade(x, 10.0, 90.0, 40.0)
    assert float(west_sun.mean()) > float(east_sun.mean())
    assert hillshade(np.zeros((8, 8)), 10.0, 180.0, 30.0) == pytest.approx(np.sin(np.radians(30.0)), abs=1e-6)


@pytest.mark.parametrize("method", ["phase_correlation", "ncc"])
def test_a_uniform_shift_is_recovered_to_a_few_hundredths(method: str) -> None:
    image = _textured((128, 128))
    east, north = estimate_offsets(image, _moved(image, 0.37, -1.21), method)
    inner = (slice(24, -24), slice(24, -24))
    assert float(np.median(east[inner])) == pytest.approx(0.37, abs=0.04)
    assert float(np.median(north[inner])) == pytest.approx(-1.21, abs=0.04)


def test_opencv_flow_has_the_same_sign_convention() -> None:
    pytest.importorskip("cv2")
    image = _textured((128, 128), seed=3) * 200.0
    east, north = estimate_offsets(image, _moved(image, 1.5, 0.8), "dis")
    inner = (slice(24, -24), slice(24, -24))
    assert float(np.median(east[inner])) == pytest.approx(1.5, abs=0.15)
    assert float(np.median(north[inner])) == pytest.approx(0.8, abs=0.15)


def test_correlators_follow_the_simulated_field() -> None:
    pair = sample_optical_pair(
        3, OpticalPairConfig(size=128, kind_weights=(0, 0, 0, 0, 1), max_offset_px=(2.0, 2.0))
    )
    east, north = phase_correlation_offsets(pair.pre, pair.post, window=32, step=8)
    usable = ~pair.changed
    error = np.hypot(east - pair.east_px, north - pair.north_px)[usable]
    assert float(np.median(error)) < 0.5 < float(np.median(np.hypot(pair.east_px, pair.north_px)[usable]))


def test_bad_pairs_get_clear_errors() -> None:
    image = _textured((64, 64))
    with pytest.raises(InputError, match="one shape"):
        ncc_offsets(image, image[:32])
    with pytest.raises(InputError, match="smaller than"):
        phase_correlation_offsets(image[:16, :16], image[:16, :16], window=32)
    with pytest.raises(InputError, match="NaN everywhere"):
        ncc_offsets(np.full((64, 64), np.nan), image)
    with pytest.raises(InputError, match="unknown correlator"):
        estimate_offsets(image, image, "sift")
    assert set(METHODS) >= {"phase_correlation", "ncc"}


def test_correlators_leave_the_callers_images_untouched() -> None:
    image = _textured((64, 64))
    image[:8] = np.nan
    before = image.copy()
    ncc_offsets(image, _moved(np.nan_to_num(image), 0.5, 0.0))
    np.testing.assert_array_equal(image, before)
