"""Dataset sources beyond single pairs: stack scenes, the decorrelation label, sample coherence."""

from __future__ import annotations

import numpy as np
import pytest

from fringenet.data.channels import PairLayers, derive_channels
from fringenet.data.config import SimulatedSource
from fringenet.insar.gradients import phase_gradient_stack
from fringenet.pipeline.dataset import sample_coherence, simulated_layers
from fringenet.simulate.config import SimulationConfig
from fringenet.simulate.scene import simulate_pair, simulate_stack


@pytest.fixture(scope="module")
def stack():
    return simulate_stack(SimulationConfig(height=64, width=64, n_dates=6, seed=3, scenario="subsidence"))


def test_stack_scene_keeps_every_pair_and_the_longest_pair(stack) -> None:
    layers, label, valid = simulated_layers(stack, SimulatedSource(mode="stack"), "s")
    assert layers.wrapped_stack is not None and layers.wrapped_stack.shape == stack["wrapped_phase"].shape
    spans = stack["secondary_date"].values - stack["reference_date"].values
    k = int(np.argmax(spans))
    np.testing.assert_array_equal(layers.wrapped_phase, stack["wrapped_phase"].values[k])
    np.testing.assert_allclose(layers.coherence, stack["coherence"].values.mean(axis=0), rtol=1e-6)
    # a target visible in any pair is labelled in the stack scene (unless decorrelated in most pairs)
    any_pair = np.any(stack["label"].values > 0, axis=0) & (stack["decorrelation"].values.mean(axis=0) < 0.5)
    assert np.all(label[any_pair & valid] == 1)
    assert label.dtype == np.uint8 and valid.shape == label.shape


def test_gradient_channels_equal_the_gradient_stack(stack) -> None:
    layers, _, _ = simulated_layers(stack, SimulatedSource(mode="stack"), "s")
    image = derive_channels(layers, ["gradient_magnitude", "gradient_consistency"])
    expected = phase_gradient_stack(stack["wrapped_phase"].values, weights=stack["coherence"].values)
    np.testing.assert_allclose(image[0], expected.magnitude, rtol=1e-4, atol=1e-5, equal_nan=True)
    np.testing.assert_allclose(image[1], expected.consistency, rtol=1e-4, atol=1e-5, equal_nan=True)


def test_single_pair_gradient_channels_say_so() -> None:
    phase = np.tile(np.linspace(0, 6, 32), (32, 1))
    layers = PairLayers("p", phase, pixel_size_m=30.0, wavelength_m=0.0555)
    image = derive_channels(layers, ["gradient_magnitude", "gradient_consistency"])
    assert np.nanmedian(image[0]) == pytest.approx(6 / 31, rel=1e-3)
    assert np.nanmin(image[1]) == pytest.approx(1.0)  # one pair agrees with itself
    assert any("single interferogram" in n for n in layers.notes)


def test_decorrelation_label_is_the_simulators_mask() -> None:
    ds = simulate_pair(SimulationConfig(height=48, width=48, seed=4, scenario="decorrelated"))
    source = SimulatedSource(label="decorrelation", coherence="sample")
    layers, label, valid = simulated_layers(ds, source, "d")
    np.testing.assert_array_equal(label, ds["decorrelation"].values)
    assert valid.all()  # unusable pixels are what this label is about, so none is left out
    np.testing.assert_allclose(layers.coherence, sample_coherence(ds))


def test_sample_coherence_follows_the_true_coherence() -> None:
    ds = simulate_pair(SimulationConfig(height=96, width=96, seed=2))
    true = ds["coherence"].values
    sample = sample_coherence(ds)
    assert sample.shape == true.shape and np.all((sample >= 0) & (sample <= 1))
    assert np.corrcoef(true.ravel(), sample.ravel())[0, 1] > 0.5
    low = true < 0.15
    if low.any():  # boxcar estimates are biased upwards where the coherence is low
        assert sample[low].mean() > true[low].mean()
