"""The learned optical-flow model (issue 12): training on generated pairs, its bundle, whole-scene prediction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from fringenet.errors import InputError
from fringenet.models.flow import load_flow_model, pair_channels, predict_flow
from fringenet.simulate.optical import OpticalPairConfig, sample_optical_pair
from fringenet.train.flow import FlowTrainConfig, run_train_flow

TINY = FlowTrainConfig(
    generator=OpticalPairConfig(size=64),
    model={"architecture": "unet", "encoder": "resnet18", "decoder_width": 4},
    epochs=2, steps_per_epoch=2, batch_size=2, val_pairs=2, num_workers=0, device="cpu", seed=3,
)  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_train_flow(TINY, tmp_path_factory.mktemp("flow") / "run")


def test_training_writes_a_displacement_bundle_and_history(trained: Path) -> None:
    _model, info = load_flow_model(trained)
    assert info.task == "displacement" and info.model.in_channels == 5 and info.model.classes == 2
    assert info.provenance["best_epoch"] in (1, 2) and np.isfinite(info.provenance["val_epe_px"])
    rows = (trained.parent / "history.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("epoch,train_epe_px,val_epe_px")


def test_same_seed_same_weights(trained: Path, tmp_path: Path) -> None:
    again = run_train_flow(TINY, tmp_path / "again")
    first, second = load_file(str(trained / "model.safetensors")), load_file(str(again / "model.safetensors"))
    assert first.keys() == second.keys()
    assert all(np.array_equal(first[k], second[k]) for k in first)


def test_resume_of_a_finished_run_keeps_its_bundle(trained: Path) -> None:
    before = (trained / "model.safetensors").read_bytes()
    run_train_flow(TINY, trained.parent, resume=True)
    assert (trained / "model.safetensors").read_bytes() == before


def test_whole_scene_prediction_blends_windows_on_any_size(trained: Path) -> None:
    model, _ = load_flow_model(trained)
    pair = sample_optical_pair(7, OpticalPairConfig(size=96))
    pre, post = pair.pre[:90, :75], pair.post[:90, :75]
    east, north = predict_flow(model, pre, post, window=64, overlap=16)
    assert east.shape == north.shape == (90, 75) and east.dtype == np.float32
    assert np.isfinite(east).all() and np.isfinite(north).all()
    # one window over the whole scene: the blend is the network's own answer on the padded scene
    whole_e, whole_n = predict_flow(model, pre, post, window=128)
    import torch

    from fringenet.models.predict import pad_to_stride

    padded, _ = pad_to_stride(torch.from_numpy(pair_channels(pre, post))[None])
    with torch.no_grad():
        direct = model(padded)[0, :, :90, :75].numpy()
    assert np.allclose(whole_e, direct[0], atol=1e-5) and np.allclose(whole_n, direct[1], atol=1e-5)


def test_pair_channels_and_errors(tmp_path: Path) -> None:
    pre = np.full((8, 8), 2.0)
    pre[0, 0] = np.nan
    channels = pair_channels(pre, pre + 1.0)
    assert channels.shape == (5, 8, 8) and np.isfinite(channels).all()
    assert np.allclose(channels[2][1:, 1:], channels[1][1:, 1:] - channels[0][1:, 1:])
    with pytest.raises(InputError, match="NaN everywhere"):
        pair_channels(np.full((4, 4), np.nan), np.full((4, 4), np.nan))
    from fringenet.models.shipped import shipped_bundle

    with pytest.raises(InputError, match="not a displacement"):
        load_flow_model(shipped_bundle("detector"))
