"""PUNet unwrapping: snapping onto the data, NaN handling, tiling, bundles and the training run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)
from fringenet.conventions import wrap
from fringenet.errors import InputError
from fringenet.models.dncnn import PUNet
from fringenet.models.punet import load_punet, predict_phase, snap_to_wrapped, unwrap_with_punet
from fringenet.train import punet as punet_training
from fringenet.train.punet import (
    PUNetTrainConfig,
    UnwrapSimulation,
    correct_ambiguity_fraction,
    observed_unwrapped,
    run_train_punet,
    simulate_unwrapping_patch,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TWO_PI = 2 * np.pi


def steep_bowl(h: int = 40, w: int = 50) -> np.ndarray:
    """A 9-fringe bowl plus a ramp: many wraps, gradients up to ~2.4 rad/px."""
    yy, xx = np.mgrid[:h, :w]
    return 18 * np.pi * np.exp(-((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / (2 * 9.0**2)) + 0.3 * xx


class Oracle(nn.Module):
    """A fake network that 'predicts' a fixed phase (e.g. the truth plus an error)."""

    in_channels = 2

    def __init__(self, phase: np.ndarray) -> None:
        super().__init__()
        self.phase = torch.from_numpy(phase)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1:] == (2, *self.phase.shape)
        return self.phase[None, None]


def assert_congruent(out: np.ndarray, wrapped: np.ndarray) -> None:
    ok = np.isfinite(wrapped)
    assert np.array_equal(np.isfinite(out), ok)
    np.testing.assert_allclose(np.angle(np.exp(1j * (out[ok] - wrapped[ok]))), 0.0, atol=1e-6)


def test_snapping_recovers_the_truth_from_a_prediction_off_by_less_than_half_a_cycle() -> None:
    truth = steep_bowl()
    wrapped = wrap(truth)
    error = 0.9 * np.sin(np.arange(truth.size).reshape(truth.shape))  # |error| < pi/2 ...
    result = unwrap_with_punet(wrapped, Oracle(truth + error + 123.4))  # ... plus any level
    offset = result.unwrapped - truth
    assert result.method == "punet" and result.coherence_source == "phase"
    np.testing.assert_allclose(offset, offset[0, 0], atol=1e-9)  # right everywhere up to one level
    assert offset[0, 0] / TWO_PI == pytest.approx(round(offset[0, 0] / TWO_PI), abs=1e-9)
    assert correct_ambiguity_fraction(result.unwrapped, truth) == 1.0


def test_snapping_aligns_the_level_before_rounding() -> None:
    """Without the circular-mean alignment a level of ~pi would send half the pixels the wrong way."""
    truth = steep_bowl()
    wrapped = wrap(truth)
    rng = np.random.default_rng(0)
    out = snap_to_wrapped(truth + np.pi + rng.uniform(-0.5, 0.5, truth.shape), wrapped)
    assert correct_ambiguity_fraction(out, truth) == 1.0


def test_output_is_congruent_with_the_input_and_keeps_its_nans() -> None:
    torch.manual_seed(0)
    model = PUNet(width=8, depth=4).eval()
    with torch.no_grad():  # a random, untrained correction: the output must still match the data
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    wrapped = wrap(steep_bowl(37, 53))
    wrapped[5:9, 10:30] = np.nan
    coherence = np.full(wrapped.shape, 0.8)
    result = unwrap_with_punet(wrapped, model, coherence=coherence)
    assert result.unwrapped.shape == (37, 53) and result.coherence_source == "input"
    assert_congruent(result.unwrapped, wrapped)
    assert np.array_equal(result.components, np.isfinite(wrapped).astype(np.int64))


def test_no_data_pixels_reach_the_network_as_zero_cos_and_sin() -> None:
    seen: list[torch.Tensor] = []

    class Spy(Oracle):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x)
            return super().forward(x)

    wrapped = np.full((6, 7), 0.5)
    wrapped[2, 3] = np.nan
    unwrap_with_punet(wrapped, Spy(np.zeros((6, 7))))
    assert seen[0][0, :, 2, 3].abs().sum() == 0 and torch.isfinite(seen[0]).all()
    assert float(seen[0][0, 0, 0, 0]) == pytest.approx(np.cos(0.5))


def test_low_coherence_pixels_are_hidden_from_the_network_but_still_unwrapped() -> None:
    seen: list[torch.Tensor] = []

    class Spy(Oracle):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x)
            return super().forward(x)

    truth = steep_bowl(12, 14)
    coherence = np.full(truth.shape, 0.9)
    coherence[3:6, 4:8] = 0.1
    result = unwrap_with_punet(wrap(truth), Spy(truth), coherence=coherence, min_coherence=0.3)
    assert seen[0][0, :, 3:6, 4:8].abs().sum() == 0 and seen[0][0, :, 0, 0].abs().sum() > 0
    np.testing.assert_allclose(result.unwrapped, truth, atol=1e-9)


def test_tiled_prediction_equals_one_pass() -> None:
    torch.manual_seed(1)
    model = PUNet(in_channels=3, width=8, depth=5).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    image = np.random.default_rng(2).uniform(-1, 1, (3, 45, 70)).astype(np.float32)
    image[:2, 10:20, 30:42] = 0.0  # a no-data hole: its gradients are filled from around it
    whole = predict_phase(model, image, tile_px=1024)
    tiled = predict_phase(model, image, tile_px=16)
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


def test_bad_inputs_raise_input_errors() -> None:
    with pytest.raises(InputError, match="2-D"):
        unwrap_with_punet(np.zeros(5), Oracle(np.zeros((5, 5))))
    with pytest.raises(InputError, match="no valid pixel"):
        unwrap_with_punet(np.full((4, 4), np.nan), Oracle(np.zeros((4, 4))))
    with pytest.raises(InputError, match="coherence"):
        unwrap_with_punet(np.zeros((4, 4)), Oracle(np.zeros((4, 4))), coherence=np.ones((3, 4)))


def test_simulated_patches_are_seeded_and_stay_below_the_gradient_limit() -> None:
    sim = UnwrapSimulation(max_gradient_rad_per_px=2.0, hole_probability=1.0)
    a = simulate_unwrapping_patch(np.random.default_rng(3), (48, 40), sim)
    b = simulate_unwrapping_patch(np.random.default_rng(3), (48, 40), sim)
    assert np.array_equal(a.wrapped, b.wrapped, equal_nan=True) and np.array_equal(a.truth, b.truth)
    assert max(np.abs(np.diff(a.truth, axis=0)).max(), np.abs(np.diff(a.truth, axis=1)).max()) <= 2.0 + 1e-9
    valid = np.isfinite(a.wrapped)
    assert 0.85 < valid.mean() < 1.0  # a no-data hole
    assert np.all((a.wrapped[valid] >= -np.pi) & (a.wrapped[valid] < np.pi))
    # the truth is on the data's level: the wrapped phase is wrap(truth + zero-mean noise)
    assert abs(np.angle(np.mean(np.exp(1j * (a.wrapped[valid] - a.truth[valid]))))) < 0.1
    # the training target: the data's own phase, unwrapped (congruent, within half a cycle of the truth)
    target = observed_unwrapped(a)
    assert_congruent(target, a.wrapped)
    assert np.all(np.abs(target[valid] - a.truth[valid]) <= np.pi + 1e-9)


def test_correct_ambiguity_fraction_ignores_one_global_offset() -> None:
    truth = steep_bowl(10, 10)
    out = truth + 2 * TWO_PI
    out[0, :5] += TWO_PI  # 5 of 100 pixels one cycle off
    out[1, 0] = np.nan  # not unwrapped: wrong
    assert correct_ambiguity_fraction(out, truth) == pytest.approx(0.94)


def tiny_config(**extra: object) -> PUNetTrainConfig:
    values = {
        "n_train": 8,
        "n_val": 4,
        "patch_size": 24,
        "epochs": 2,
        "batch_size": 4,
        "width": 8,
        "depth": 4,
    }
    return PUNetTrainConfig.model_validate({**values, **extra})


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_train_punet(tiny_config(), tmp_path_factory.mktemp("punet") / "run")


def test_training_writes_a_loadable_unwrapping_bundle(straight_run: Path) -> None:
    model, info = load_punet(straight_run)
    assert info.task == "unwrapping" and info.model.architecture == "punet"
    assert (info.model.width, info.model.depth, model.width, model.depth) == (8, 4, 8, 4)
    assert info.channels == ["cos_phase", "sin_phase"] and info.patch_size == 24
    assert (straight_run.parent / "checkpoints" / "last.pt").is_file()
    history = (straight_run.parent / "history.csv").read_text().splitlines()
    assert len(history) == 3 and history[0].startswith("epoch,train_loss,val_loss,val_right_ambiguity")
    result = unwrap_with_punet(wrap(steep_bowl(20, 20)), model)
    assert_congruent(result.unwrapped, wrap(steep_bowl(20, 20)))


def test_same_seed_gives_the_same_weights_and_resuming_changes_nothing(
    straight_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = (straight_run / "model.safetensors").read_bytes()
    assert (run_train_punet(tiny_config(), tmp_path / "again") / "model.safetensors").read_bytes() == weights
    assert (
        run_train_punet(tiny_config(seed=1), tmp_path / "seed1") / "model.safetensors"
    ).read_bytes() != weights

    # interrupt during epoch 2's validation (epoch 1 is checkpointed), then resume
    validate, calls = punet_training.validate_punet, []

    def interrupted(*args: object, **kwargs: object) -> dict[str, float]:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return validate(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(punet_training, "validate_punet", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_train_punet(tiny_config(), tmp_path / "resumed")
    monkeypatch.setattr(punet_training, "validate_punet", validate)
    with pytest.raises(InputError, match="holds a checkpoint"):
        run_train_punet(tiny_config(), tmp_path / "resumed")
    with pytest.raises(InputError, match="another config"):
        run_train_punet(tiny_config(epochs=3), tmp_path / "resumed", resume=True)
    resumed = run_train_punet(tiny_config(), tmp_path / "resumed", resume=True)
    assert (resumed / "model.safetensors").read_bytes() == weights
    assert len((tmp_path / "resumed" / "history.csv").read_text().splitlines()) == 3


def test_a_non_unwrapping_bundle_is_refused(tmp_path: Path) -> None:
    from fringenet.models.bundle import BundleInfo, save_bundle
    from fringenet.models.segmentation import ModelSpec, build_segmentation_model

    spec = ModelSpec(architecture="ddnet", in_channels=2, width=8, depth=1)
    info = BundleInfo(model=spec, channels=["cos_phase", "sin_phase"], normalisation={})
    path = save_bundle(tmp_path / "seg", build_segmentation_model(spec), info)
    with pytest.raises(InputError, match="not a phase-unwrapping bundle"):
        load_punet(path)
