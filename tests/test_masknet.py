"""Mask Net: decorrelation datasets carry the simulator's true mask, a tiny model trains on them, and the
inference helper and the Otsu baseline return unusable-pixel masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)
from fringenet.data.config import DatasetConfig
from fringenet.data.store import PatchDataset, open_patch_dataset
from fringenet.errors import InputError
from fringenet.models.bundle import BundleInfo, load_bundle
from fringenet.models.masknet import otsu_unusable, predict_unusable
from fringenet.pipeline.dataset import sample_coherence
from fringenet.pipeline.evaluate import model_probabilities, read_split
from fringenet.simulate.config import SimulationConfig
from fringenet.simulate.scene import simulate_pair
from fringenet.train.config import TrainConfig
from fringenet.train.trainer import run_train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE, PATCH = 64, 32
CHANNELS = ["cos_phase", "sin_phase", "coherence"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> PatchDataset:
    """Two 64 px 'mixed' scenes (seeds 0, 1) labelled by decorrelation, in 32 px patches, 8 groups."""
    from fringenet.pipeline.dataset import run_build_dataset

    config = DatasetConfig.model_validate(
        {
            "channels": CHANNELS,
            "patch_size": PATCH,
            "block_px": PATCH,
            "min_valid_fraction": 0.0,
            "splits": {"train": 0.5, "val": 0.5, "test": 0.0},
            "simulate": {
                "n_scenes": 2, "height": SIZE, "width": SIZE, "hard_negative_fraction": 0.0,
                "label": "decorrelation", "coherence": "sample",
            },
        }
    )  # fmt: skip
    return open_patch_dataset(run_build_dataset(config, tmp_path_factory.mktemp("masknet") / "ds").path)


@pytest.fixture(scope="module")
def bundle(
    dataset: PatchDataset, tmp_path_factory: pytest.TempPathFactory
) -> tuple[torch.nn.Module, BundleInfo]:
    """One epoch (one step) of the Mask Net's U-Net on the tiny dataset."""
    config = TrainConfig.model_validate(
        {
            "dataset": dataset.path, "model": {"architecture": "unet", "encoder": "tu-ghostnet_050"},
            "channels": CHANNELS, "epochs": 1, "batch_size": 4, "device": "cpu",
            "sampling": {"samples_per_epoch": 4, "oversample_small": False},
        }
    )  # fmt: skip
    result = run_train(config, tmp_path_factory.mktemp("masknet-run") / "run", progress=False)
    return load_bundle(result.bundle)


def scene_mosaic(dataset: PatchDataset, scene: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A scene's image ``(C, H, W)``, label and valid mask reassembled from its patches."""
    image = np.full((len(dataset.channels), SIZE, SIZE), np.nan, dtype=np.float32)
    label = np.zeros((SIZE, SIZE), dtype=bool)
    valid = np.zeros((SIZE, SIZE), dtype=bool)
    for i in dataset.table.index[dataset.table["scene"] == scene]:
        patch, lab, ok = dataset.read(int(i))
        r, c = int(dataset.table.at[i, "row"]), int(dataset.table.at[i, "col"])
        image[:, r : r + PATCH, c : c + PATCH] = patch
        label[r : r + PATCH, c : c + PATCH] = lab > 0
        valid[r : r + PATCH, c : c + PATCH] = ok > 0
    return image, label, valid


@pytest.mark.parametrize("seed", [0, 1])
def test_dataset_labels_are_the_simulated_decorrelation_mask(dataset: PatchDataset, seed: int) -> None:
    truth = simulate_pair(SimulationConfig(height=SIZE, width=SIZE, scenario="mixed", seed=seed))
    image, label, valid = scene_mosaic(dataset, f"sim{seed:05d}")
    decorrelated = truth["decorrelation"].values > 0
    assert valid.all()  # every finite pixel counts, water and layover included
    assert 0.0 < decorrelated.mean() < 1.0
    np.testing.assert_array_equal(label, decorrelated)
    # the coherence channel is the biased sample estimate, not the true coherence the label is made from
    coherence = image[CHANNELS.index("coherence")]
    np.testing.assert_allclose(coherence, sample_coherence(truth), atol=1e-6)
    assert np.abs(coherence - truth["coherence"].values).mean() > 0.05


def test_predict_unusable_matches_the_evaluation_preprocessing(
    dataset: PatchDataset, bundle: tuple[torch.nn.Module, BundleInfo]
) -> None:
    model, info = bundle
    arrays = read_split(dataset, "val")
    expected = model_probabilities(model, info, dataset, arrays)[0]
    cos, sin, coherence = arrays.image[0]
    mask, probability = predict_unusable(model, info, np.arctan2(sin, cos), coherence)
    np.testing.assert_allclose(probability, expected, atol=1e-5)
    np.testing.assert_array_equal(mask, expected >= info.threshold)


def test_predict_unusable_masks_missing_pixels_and_notes_estimated_coherence(
    bundle: tuple[torch.nn.Module, BundleInfo],
) -> None:
    model, info = bundle
    rng = np.random.default_rng(0)
    phase = rng.uniform(-np.pi, np.pi, (40, 50))  # not a multiple of the encoder stride
    phase[5:15, 10:30] = np.nan
    notes: list[str] = []
    mask, probability = predict_unusable(model, info, phase, notes=notes)
    assert mask.shape == probability.shape == (40, 50)
    assert mask.dtype == np.bool_ and probability.dtype == np.float32
    missing = np.isnan(phase)
    assert mask[missing].all() and np.isnan(probability[missing]).all()
    assert np.isfinite(probability[~missing]).all()
    assert ((probability[~missing] >= 0) & (probability[~missing] <= 1)).all()
    assert any("coherence estimated from the wrapped phase" in n for n in notes)


def test_predict_unusable_rejects_bad_inputs(bundle: tuple[torch.nn.Module, BundleInfo]) -> None:
    model, info = bundle
    phase = np.zeros((32, 32))
    with pytest.raises(InputError, match="shape"):
        predict_unusable(model, info, phase, coherence=np.ones((32, 31)))
    with pytest.raises(InputError, match="2-D"):
        predict_unusable(model, info, np.zeros((2, 32, 32)))
    with_amplitude = info.model_copy(update={"channels": [*CHANNELS, "log_amplitude"]})
    with pytest.raises(InputError, match="amplitude"):
        predict_unusable(model, with_amplitude, phase, coherence=np.ones((32, 32)))


def test_otsu_unusable_gives_the_low_coherence_mode() -> None:
    rng = np.random.default_rng(1)
    low = rng.random((60, 80)) < 0.3
    coherence = np.where(low, rng.normal(0.15, 0.03, low.shape), rng.normal(0.8, 0.05, low.shape))
    coherence[0, :5] = np.nan
    mask = otsu_unusable(coherence)
    assert mask[0, :5].all()  # missing coherence is unusable
    np.testing.assert_array_equal(mask[1:], low[1:])
    with pytest.raises(InputError, match="constant"):
        otsu_unusable(np.full((4, 4), 0.5))
