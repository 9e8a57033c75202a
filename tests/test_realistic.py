"""On-the-fly training interferograms, the phase-only channels, in-memory scans and the generated-data trainer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)
from fringenet.cli import app
from fringenet.data.channels import PHASE_ONLY_CHANNELS, PairLayers, derive_channels, local_fringes
from fringenet.errors import InputError
from fringenet.simulate.decorrelation import multilook_noise, wishart_phase_noise
from fringenet.simulate.realistic import RealisticConfig, sample_interferogram, valid_phase

SMALL = RealisticConfig(size=64)


def test_same_seed_same_bytes_other_seed_other_scene() -> None:
    a, b, c = sample_interferogram(3, SMALL), sample_interferogram(3, SMALL), sample_interferogram(4, SMALL)
    assert a.wrapped_phase.tobytes() == b.wrapped_phase.tobytes()
    assert a.label.tobytes() == b.label.tobytes()
    assert a.wrapped_phase.tobytes() != c.wrapped_phase.tobytes()


def test_labels_follow_the_deformation_and_negatives_have_none() -> None:
    negatives = [sample_interferogram(k, RealisticConfig(size=64, negative_fraction=1.0)) for k in range(6)]
    assert all(not s.label.any() and not s.sources for s in negatives)
    positives = [sample_interferogram(k, RealisticConfig(size=64, negative_fraction=0.0)) for k in range(12)]
    for s in positives:
        half_fringe = np.abs(s.deformation_phase) > np.pi
        np.testing.assert_array_equal(s.label, half_fringe)
        assert s.sources
    assert any(s.label.any() for s in positives)


def test_samples_are_wrapped_and_mark_their_no_data() -> None:
    samples = [sample_interferogram(k, SMALL) for k in range(30)]
    styles = {s.nodata_style for s in samples}
    assert styles <= {"nan", "zero", "noise"} and len(styles) >= 2
    for s in samples:
        finite = s.wrapped_phase[np.isfinite(s.wrapped_phase)]
        assert np.all(np.abs(finite) <= np.pi + 1e-6)
        missing = ~valid_phase(s)
        assert not (missing & ~s.unusable).any()  # no-data is always unusable
        assert 15.0 <= s.pixel_size_m <= 100.0


def test_wishart_noise_has_the_multilook_phase_distribution() -> None:
    rng = np.random.default_rng(0)
    for gamma, looks in ((0.3, 1), (0.7, 4), (0.9, 16)):
        c = np.full((150, 150), gamma)
        fast = wishart_phase_noise(rng, c, looks)
        exact, _ = multilook_noise(rng, c, looks)
        # circular mean resultant length of the two samples agrees within sampling error
        assert abs(np.abs(np.exp(1j * fast).mean()) - np.abs(np.exp(1j * exact).mean())) < 0.02


def test_local_fringes_of_a_clean_ramp() -> None:
    y, x = np.mgrid[:48, :48]
    phase = np.angle(np.exp(1j * (0.8 * x + 0.3 * y)))
    local = local_fringes(phase)
    inner = (slice(4, -4), slice(4, -4))
    np.testing.assert_allclose(local.rate[inner], np.hypot(0.8, 0.3), atol=1e-6)
    assert np.all(local.coherence[inner] > 0.99)  # dense but clean fringes are not decorrelated
    np.testing.assert_allclose(np.arctan2(local.sin, local.cos)[inner], phase[inner], atol=0.05)


def test_phase_only_channels_ignore_a_coherence_layer() -> None:
    phase = sample_interferogram(1, SMALL).wrapped_phase
    without = derive_channels(PairLayers("a", phase.copy(), 30.0, 0.0555), PHASE_ONLY_CHANNELS)
    layer = PairLayers("b", phase.copy(), 30.0, 0.0555, coherence=np.full(phase.shape, 0.3))
    with_layer = derive_channels(layer, PHASE_ONLY_CHANNELS)
    np.testing.assert_array_equal(without, with_layer)


@pytest.fixture(scope="module")
def tiny_detector(tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> Path:
    """A detector trained for two steps through `fringenet train` (task: detector)."""
    out = tmp_path_factory.mktemp("gen") / "run"
    config = out.parent / "detector.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "task": "detector", "generator": {"size": 64}, "epochs": 1, "steps_per_epoch": 2,
                "batch_size": 2, "val_samples": 2, "stats_samples": 2, "num_workers": 0,
            }
        )
    )  # fmt: skip
    result = CliRunner().invoke(app, ["train", "--config", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "generated samples" in result.output
    return out / "model"


def test_generated_training_writes_a_scannable_bundle(tiny_detector: Path) -> None:
    from fringenet.detect import ArraySource, predict_scene
    from fringenet.models.bundle import read_bundle_info

    info = read_bundle_info(tiny_detector)
    assert info.channels == list(PHASE_ONLY_CHANNELS) and info.patch_size == 64
    sample = sample_interferogram(9, RealisticConfig(size=100))
    probability = predict_scene(tiny_detector, ArraySource(sample.wrapped_phase, pixel_size_m=50.0))
    assert probability.shape == (100, 100)
    ok = np.isfinite(probability)
    assert ok.mean() > 0.5 and np.all((probability[ok] >= 0) & (probability[ok] <= 1))


def test_a_scene_smaller_than_the_window_is_padded(tiny_detector: Path) -> None:
    from fringenet.detect import ArraySource, predict_scene

    phase = sample_interferogram(2, SMALL).wrapped_phase[:40, :50]
    probability = predict_scene(tiny_detector, ArraySource(phase, pixel_size_m=90.0))
    assert probability.shape == (40, 50)
    assert np.isfinite(probability).mean() > 0.5


def test_array_source_zero_is_nodata_and_checks_shapes() -> None:
    from fringenet.detect import ArraySource

    phase = np.zeros((8, 8), dtype=np.float32)
    phase[:4] = 1.0
    layers = ArraySource(phase, pixel_size_m=10.0, zero_is_nodata=True).read(0, 0, 8, 8)[0]
    assert np.isnan(layers.wrapped_phase[4:]).all() and np.isfinite(layers.wrapped_phase[:4]).all()
    with pytest.raises(InputError, match="differ in shape"):
        ArraySource(phase, pixel_size_m=10.0, coherence=np.ones((4, 4)))


def test_generated_training_resumes_and_refuses_a_used_folder(tiny_detector: Path, tmp_path: Path) -> None:
    from fringenet.train.detector import GeneratedTrainConfig, run_train_generated

    run = tiny_detector.parent
    config = GeneratedTrainConfig.model_validate(yaml.safe_load((run / "config.yaml").read_text()))
    with pytest.raises(InputError, match="checkpoint already"):
        run_train_generated(config, run, progress=False)
    resumed = run_train_generated(config, run, resume=True, progress=False)  # all epochs done: re-bundles
    assert resumed.bundle.exists() and len(resumed.history) == 1


def test_a_curriculum_stage_starts_from_a_bundle(tiny_detector: Path, tmp_path: Path) -> None:
    from fringenet.models.bundle import load_bundle, read_bundle_info
    from fringenet.train.detector import GeneratedTrainConfig, run_train_generated

    first = read_bundle_info(tiny_detector)
    stage = {
        "task": "detector", "generator": {"size": 96, "looks": [50, 60], "goldstein_fraction": 1.0},
        "epochs": 1, "steps_per_epoch": 1, "batch_size": 2, "val_samples": 2, "num_workers": 0,
        "learning_rate": 1e-9, "init_from": str(tiny_detector),
    }  # fmt: skip
    out = run_train_generated(GeneratedTrainConfig.model_validate(stage), tmp_path / "stage", progress=False)
    info = read_bundle_info(out.bundle)
    assert info.patch_size == 96 and info.normalisation == first.normalisation
    assert info.provenance["initialised_from"] == str(tiny_detector)
    before, after = load_bundle(tiny_detector)[0].state_dict(), load_bundle(out.bundle)[0].state_dict()
    key = next(k for k in before if before[k].is_floating_point() and before[k].numel() > 100)
    assert torch.allclose(before[key], after[key], atol=1e-4)  # started from the bundle: a 1e-9 step
    other = dict(stage, model={"architecture": "unet", "encoder": "tu-ghostnet_050"})
    with pytest.raises(ValueError, match="not this config's"):
        run_train_generated(GeneratedTrainConfig.model_validate(other), tmp_path / "other", progress=False)


def test_looks_and_goldstein_share_are_drawn_from_the_config() -> None:
    clean = sample_interferogram(4, RealisticConfig(size=64, looks=(200, 200), goldstein_fraction=0.0))
    noisy = sample_interferogram(4, RealisticConfig(size=64, looks=(2, 2), goldstein_fraction=0.0))
    assert clean.params["looks"] == 200 and noisy.params["looks"] == 2
    default = sample_interferogram(4, SMALL)
    assert 2 <= default.params["looks"] <= 40
    rough = [
        np.nanmean(np.abs(np.angle(np.exp(1j * np.diff(s.wrapped_phase, axis=1))))) for s in (clean, noisy)
    ]
    assert rough[0] < rough[1]  # more looks, smoother phase


def test_keep_last_epoch_bundles_the_final_weights(tmp_path: Path, one_torch_thread: None) -> None:
    from safetensors.torch import load_file

    from fringenet.models.bundle import read_bundle_info
    from fringenet.train.detector import GeneratedTrainConfig, run_train_generated

    config = GeneratedTrainConfig.model_validate(
        {
            "task": "detector", "generator": {"size": 64}, "epochs": 2, "steps_per_epoch": 1, "batch_size": 2,
            "val_samples": 2, "stats_samples": 2, "num_workers": 0, "keep_epoch": "last",
        }
    )  # fmt: skip
    out = run_train_generated(config, tmp_path / "run", progress=False)
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    kept = load_file(str(out.bundle / "model.safetensors"))
    assert all(torch.equal(kept[k], v.cpu()) for k, v in last["model"].items())
    info = read_bundle_info(out.bundle)
    assert info.provenance["kept_epoch"] == "last" and out.best_epoch == 2
    assert info.threshold == pytest.approx(out.history[-1]["val_threshold"])
