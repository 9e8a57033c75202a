"""DnCNN-family networks: full-resolution shapes, sizes, the gradient integration, factory and bundles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)
from fringenet.models.bundle import BundleInfo, load_bundle, save_bundle
from fringenet.models.dncnn import (
    DDNet,
    PUNet,
    fill_gaps,
    integrate_gradients,
    step_mask,
    wrapped_gradients,
)
from fringenet.models.segmentation import ModelChoice, ModelSpec, build_segmentation_model, count_parameters

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def bowl(h: int, w: int) -> torch.Tensor:
    """A smooth (1, 1, h, w) float64 phase: a 3-fringe bowl on a ramp, gradients below 1 rad/px."""
    yy, xx = np.mgrid[:h, :w]
    phase = 6 * np.pi * np.exp(-((yy - h / 2) ** 2 + (xx - w / 3) ** 2) / (2 * 10.0**2)) + 0.2 * xx
    return torch.from_numpy(phase)[None, None]


def test_ddnet_keeps_odd_sizes_and_has_a_small_parameter_count() -> None:
    model = DDNet(in_channels=5, classes=2).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 5, 37, 53))
    assert out.shape == (2, 2, 37, 53) and torch.isfinite(out).all()
    assert 300_000 <= count_parameters(model) <= 1_000_000
    # blocks cycle through the dilations when depth exceeds them
    assert [b.dilation for b in DDNet(3, depth=9).blocks] == [1, 2, 4, 8, 4, 2, 1, 1, 2]


def test_punet_keeps_odd_sizes_and_has_a_small_parameter_count() -> None:
    model = PUNet(in_channels=3).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 37, 53))
    assert out.shape == (2, 1, 37, 53) and torch.isfinite(out).all()
    assert abs(float(out.mean())) < 1e-4  # the level of unwrapped phase is arbitrary: mean zero
    assert 400_000 <= count_parameters(model) <= 700_000  # DnCNN-17 at width 64
    assert count_parameters(PUNet(width=32, depth=12)) < 120_000
    with pytest.raises(ValueError, match=r"2 .* or 3"):
        PUNet(in_channels=4)


def test_least_squares_integration_recovers_a_curl_free_phase_exactly() -> None:
    phase = bowl(37, 53)
    gx = torch.nn.functional.pad(phase[..., :, 1:] - phase[..., :, :-1], (0, 1))
    gy = torch.nn.functional.pad(phase[..., 1:, :] - phase[..., :-1, :], (0, 0, 0, 1))
    out = integrate_gradients(torch.cat([gx, gy], dim=1))
    torch.testing.assert_close(out, phase - phase.mean(), atol=1e-10, rtol=0)


def test_wrapped_gradients_equal_the_true_ones_below_pi_and_zero_outside() -> None:
    phase = bowl(20, 30)
    grads = wrapped_gradients(torch.cos(phase[:, 0]), torch.sin(phase[:, 0]))
    torch.testing.assert_close(grads[:, 0, :, :-1], phase[0, :, :, 1:] - phase[0, :, :, :-1])
    assert grads[:, 0, :, -1].abs().max() == 0 and grads[:, 1, -1, :].abs().max() == 0
    # a 5 rad step wraps to 5 - 2 pi
    step = torch.zeros(1, 4, 4, dtype=torch.float64)
    step[..., 2:] = 5.0
    assert float(wrapped_gradients(torch.cos(step), torch.sin(step))[0, 0, 0, 1]) == pytest.approx(
        5 - 2 * np.pi
    )


def test_untrained_punet_is_least_squares_unwrapping() -> None:
    """Zero-initialised last layer: on a clean, low-gradient phase the output is the truth (mean-free)."""
    phase = bowl(37, 53)
    image = torch.cat([torch.cos(phase), torch.sin(phase)], dim=1).float()
    with torch.no_grad():
        out = PUNet(width=16, depth=5).eval()(image)
    np.testing.assert_allclose(out[0, 0].numpy(), (phase - phase.mean())[0, 0].numpy(), atol=1e-3)


def test_gaps_are_filled_from_around_them_so_a_hole_does_not_bend_the_phase() -> None:
    """A steep ramp (1.5 rad/px, 20 fringes) with a no-data hole: without filling, the zero gradient
    in the hole would pull the least-squares phase around it; filled, the untrained PUNet is exact."""
    h, w = 30, 80
    phase = torch.from_numpy(1.5 * np.mgrid[:h, :w][1] + 0.4 * np.mgrid[:h, :w][0])[None, None]
    valid = torch.ones(1, 1, h, w, dtype=torch.float64)
    valid[..., 8:20, 30:45] = 0.0
    image = torch.cat([torch.cos(phase), torch.sin(phase)], dim=1) * valid
    grads = wrapped_gradients(image[:, 0], image[:, 1])
    filled = fill_gaps(grads, step_mask(valid))
    torch.testing.assert_close(filled[:, 0, :, :-1], torch.full((1, h, w - 1), 1.5, dtype=torch.float64))
    torch.testing.assert_close(filled[:, 1, :-1], torch.full((1, h - 1, w), 0.4, dtype=torch.float64))
    with torch.no_grad():
        out = PUNet(width=8, depth=3).double().eval()(image)
    ok = valid[0, 0] > 0
    np.testing.assert_allclose((out - phase)[0, 0][ok].numpy(), float((out - phase)[0, 0][0, 0]), atol=1e-9)


def test_ddnet_through_the_factory_ignores_the_encoder() -> None:
    assert ModelChoice(architecture="ddnet").encoder == "none"
    spec = ModelSpec(architecture="ddnet", encoder="resnet34", in_channels=4, width=16, depth=3)
    assert spec.encoder == "none"
    model = build_segmentation_model(spec)
    assert isinstance(model, DDNet) and len(model.blocks) == 3 and model.head[0].out_channels == 16
    with pytest.raises(ValidationError, match="width and depth apply to"):
        ModelSpec(architecture="unet", encoder="resnet18", width=16)
    with pytest.raises(ValidationError, match="unknown encoder 'none'"):
        ModelSpec(architecture="unet", encoder="none")
    with pytest.raises(ValidationError, match="unknown architecture 'punet'"):
        ModelChoice(architecture="punet")  # a regression network, not a segmentation choice
    with pytest.raises(ValidationError, match="classes must be 1"):
        ModelSpec(architecture="punet", in_channels=2, classes=2)


def test_ddnet_bundle_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    spec = ModelSpec(architecture="ddnet", in_channels=3, width=16)
    model = build_segmentation_model(spec).eval()
    channels = ["cos_phase", "sin_phase", "coherence"]
    info = BundleInfo(
        model=spec, channels=channels, normalisation={c: {"mean": 0.0, "std": 1.0} for c in channels}
    )
    loaded, loaded_info = load_bundle(save_bundle(tmp_path / "ddnet", model, info))
    assert loaded_info == info and isinstance(loaded, DDNet)
    images = torch.randn(1, 3, 21, 19)
    with torch.no_grad():
        torch.testing.assert_close(loaded(images), model(images), rtol=0, atol=0)
