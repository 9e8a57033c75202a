"""Training: masked losses, a tiny end-to-end run, exact resumption, clear errors, evaluation and the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from fringenet.cli import app
from fringenet.data.config import DatasetConfig
from fringenet.data.store import open_patch_dataset
from fringenet.errors import InputError
from fringenet.evaluate.baselines import BASELINES
from fringenet.models.bundle import read_bundle_info
from fringenet.pipeline.dataset import run_build_dataset
from fringenet.pipeline.evaluate import run_evaluate
from fringenet.train import trainer
from fringenet.train.config import LossConfig, TrainConfig
from fringenet.train.losses import masked_bce, masked_dice, masked_focal, segmentation_loss
from fringenet.train.trainer import HISTORY_FIELDS, TrainOutput, run_train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

UNET = {"architecture": "unet", "encoder": "resnet18"}
SEGFORMER = {"architecture": "segformer", "encoder": "mit_b0"}


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 simulated 64 x 64 scenes in 32 px patches; every scene is its own group."""
    config = DatasetConfig(patch_size=32, simulate={"n_scenes": 4, "height": 64, "width": 64}, block_px=64)  # type: ignore[arg-type]
    return run_build_dataset(config, tmp_path_factory.mktemp("train") / "ds").path


def train_config(dataset: Path, model: dict[str, str] = UNET, epochs: int = 2, **extra: Any) -> TrainConfig:
    """A tiny run: batches of 4, two steps per epoch (the small-object crops would make it ten)."""
    values = {"dataset": dataset, "model": model, "epochs": epochs, "batch_size": 4}
    values["sampling"] = {"samples_per_epoch": 8}
    return TrainConfig.model_validate({**values, **extra})


@pytest.fixture(scope="module")
def straight_run(dataset_path: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainOutput:
    """Two uninterrupted U-Net epochs."""
    return run_train(train_config(dataset_path), tmp_path_factory.mktemp("straight") / "run", progress=False)


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    """The weights after the last epoch (the checkpoint to resume from)."""
    return torch.load(run / "checkpoints" / "last.pt", weights_only=False)["model"]


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        try:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
        except AssertionError as err:
            raise AssertionError(f"{key}: {err}") from None


class Interrupted(Exception):
    """Stands in for a crash or Ctrl-C in the middle of a run."""


def interrupt_after_first_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the second validation (end of epoch 2, before its checkpoint) raise :class:`Interrupted`."""
    calls = []
    validate = trainer.validate

    def flaky(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 2:
            raise Interrupted
        return validate(*args, **kwargs)

    monkeypatch.setattr(trainer, "validate", flaky)


# --- losses -------------------------------------------------------------------------------------


def loss_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 1, 8, 8, generator=generator) * 3
    target = (torch.rand(2, 1, 8, 8, generator=generator) > 0.7).float()
    valid = (torch.rand(2, 1, 8, 8, generator=generator) > 0.3).float()
    return logits, target, valid


def test_masked_bce_is_the_mean_over_valid_pixels_only() -> None:
    logits, target, valid = loss_inputs()
    ok = valid > 0
    torch.testing.assert_close(
        masked_bce(logits, target, valid), F.binary_cross_entropy_with_logits(logits[ok], target[ok])
    )
    assert masked_bce(logits, target, torch.zeros_like(valid)) == 0.0


@pytest.mark.parametrize(
    "loss_fn",
    [masked_bce, masked_dice, lambda lg, t, v: masked_focal(lg, t, v, 2.0)],
    ids=["bce", "dice", "focal"],
)
def test_logits_of_invalid_pixels_do_not_count(loss_fn: Any) -> None:
    logits, target, valid = loss_inputs()
    changed = torch.where(valid > 0, logits, torch.full_like(logits, -50.0))
    assert float(loss_fn(changed, target, valid)) == float(loss_fn(logits, target, valid))
    flipped = torch.where(valid > 0, -logits, logits)  # but those of valid pixels do
    assert float(loss_fn(flipped, target, valid)) != float(loss_fn(logits, target, valid))


def test_dice_of_a_perfect_prediction_is_zero() -> None:
    _, target, valid = loss_inputs()
    perfect = (target * 2 - 1) * 40.0
    assert masked_dice(perfect, target, valid) == pytest.approx(0.0, abs=1e-6)
    assert masked_dice(-perfect, target, valid) > 0.95


def test_focal_with_gamma_zero_is_bce_and_down_weights_easy_pixels() -> None:
    logits, target, valid = loss_inputs()
    bce = masked_bce(logits, target, valid)
    torch.testing.assert_close(masked_focal(logits, target, valid, 0.0), bce)
    assert masked_focal(logits, target, valid, 2.0) < bce


def test_segmentation_loss_is_the_weighted_sum() -> None:
    logits, target, valid = loss_inputs()
    config = LossConfig(bce_weight=0.5, dice_weight=2.0, focal_weight=3.0, focal_gamma=1.0)
    expected = (
        0.5 * masked_bce(logits, target, valid)
        + 2.0 * masked_dice(logits, target, valid)
        + 3.0 * masked_focal(logits, target, valid, 1.0)
    )
    torch.testing.assert_close(segmentation_loss(logits, target, valid, config), expected)


# --- a training run -----------------------------------------------------------------------------


def test_run_writes_history_checkpoints_and_bundle(straight_run: TrainOutput, dataset_path: Path) -> None:
    run = straight_run.run_dir
    with open(run / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert tuple(rows[0]) == HISTORY_FIELDS
    assert all(np.isfinite(float(r["train_loss"])) and float(r["train_loss"]) > 0 for r in rows)
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "checkpoints" / "best.pt").is_file()
    assert (run / "config.yaml").is_file()
    info = read_bundle_info(straight_run.bundle)
    assert straight_run.bundle == run / "model"
    assert 0.0 <= info.threshold <= 1.0 and info.threshold == straight_run.threshold
    dataset = open_patch_dataset(dataset_path)
    assert tuple(info.channels) == dataset.channels and info.model.in_channels == len(dataset.channels)
    assert info.normalisation == dataset.statistics and info.patch_size == 32
    assert straight_run.best_epoch in (1, 2) and len(straight_run.history) == 2
    # the bundle holds the best epoch's weights
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    assert_same_tensors(load_file(str(straight_run.bundle / "model.safetensors")), best)


def test_resuming_an_interrupted_run_gives_the_straight_run(
    straight_run: TrainOutput, dataset_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        interrupt_after_first_epoch(patch)
        with pytest.raises(Interrupted):
            run_train(train_config(dataset_path), run, progress=False)
    assert not (run / "model").exists()
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=False)["epoch"] == 1
    resumed = run_train(train_config(dataset_path), run, resume=True, progress=False)
    assert_same_tensors(final_weights(run), final_weights(straight_run.run_dir))
    assert_same_tensors(
        load_file(str(resumed.bundle / "model.safetensors")),
        load_file(str(straight_run.bundle / "model.safetensors")),
    )
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in straight_run.history]


def test_resuming_is_exact_for_models_with_stochastic_layers(
    dataset_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = train_config(dataset_path, SEGFORMER)
    straight = run_train(config, tmp_path / "straight", progress=False)
    with monkeypatch.context() as patch:
        interrupt_after_first_epoch(patch)
        with pytest.raises(Interrupted):
            run_train(config, tmp_path / "resumed", progress=False)
    run_train(config, tmp_path / "resumed", resume=True, progress=False)
    assert_same_tensors(final_weights(tmp_path / "resumed"), final_weights(straight.run_dir))


def test_resuming_with_other_epochs_is_refused(dataset_path: Path, tmp_path: Path) -> None:
    """The warm-up/cosine schedule spans config.epochs, so a resume may not change them."""
    run_train(train_config(dataset_path, epochs=1), tmp_path / "run", progress=False)
    with pytest.raises(InputError, match="1-epoch run; resuming with 2 epochs"):
        run_train(train_config(dataset_path, epochs=2), tmp_path / "run", resume=True, progress=False)


# --- errors before training ---------------------------------------------------------------------


def test_existing_checkpoint_without_resume_is_refused(straight_run: TrainOutput, dataset_path: Path) -> None:
    before = (straight_run.run_dir / "history.csv").read_bytes()
    with pytest.raises(InputError, match="checkpoint already; use --resume"):
        run_train(train_config(dataset_path), straight_run.run_dir, progress=False)
    assert (straight_run.run_dir / "history.csv").read_bytes() == before


def test_resume_without_checkpoint_is_refused(dataset_path: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothing to resume"):
        run_train(train_config(dataset_path), tmp_path / "run", resume=True, progress=False)


def test_channel_missing_from_the_dataset_fails_before_training(dataset_path: Path, tmp_path: Path) -> None:
    config = train_config(dataset_path, channels=["cos_phase", "sin_phase", "unwrapped_phase"])
    with pytest.raises(InputError, match=r"needs channel\(s\) \['unwrapped_phase'\]"):
        run_train(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_empty_validation_split_is_named(tmp_path: Path) -> None:
    config = DatasetConfig(
        patch_size=32,
        simulate={"n_scenes": 3, "height": 64, "width": 64},  # type: ignore[arg-type]
        block_px=64,
        splits={"train": 0.8, "val": 0.0, "test": 0.2},  # type: ignore[arg-type]
    )
    path = run_build_dataset(config, tmp_path / "ds").path
    with pytest.raises(InputError, match="split 'val' has no patches"):
        run_train(train_config(path), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


# --- evaluation ---------------------------------------------------------------------------------


def test_evaluate_scores_the_model_and_the_baselines(
    straight_run: TrainOutput, dataset_path: Path, tmp_path: Path
) -> None:
    result = run_evaluate(straight_run.run_dir, dataset_path, tmp_path / "eval")
    for name in ("metrics.json", "metrics.md", "pr_curve.png", "examples.png"):
        assert (tmp_path / "eval" / name).stat().st_size > 0
    summary = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(summary["results"]) == {"model", *BASELINES} and len(BASELINES) == 3
    assert summary["split"] == "test" and summary["channels"] == list(
        open_patch_dataset(dataset_path).channels
    )
    test_patches = open_patch_dataset(dataset_path).indices("test").size
    assert summary["n_patches"]["test"] == test_patches
    for scores in summary["results"].values():
        assert 0.0 <= scores["pixel"]["iou"] <= 1.0
    assert set(result.results) == set(summary["results"])


def test_evaluating_on_the_validation_split_is_refused(
    straight_run: TrainOutput, dataset_path: Path, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="'val' chooses the thresholds"):
        run_evaluate(straight_run.bundle, dataset_path, tmp_path / "eval", split="val")
    assert not (tmp_path / "eval").exists()


# --- command line -------------------------------------------------------------------------------


def test_cli_builds_trains_and_evaluates(tmp_path: Path) -> None:
    runner = CliRunner()

    def invoke(*args: object) -> str:
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        return result.output

    data = tmp_path / "ds"
    built = invoke(
        "dataset", "build", "--out", data, "--simulate", 3, "--scene-size", 64, 64, "--patch-size", 32
    )
    assert "12 patches of 32 px" in built and f"wrote {data}" in built
    config = yaml.safe_load(invoke("config", "train"))
    config |= {"dataset": str(data), "epochs": 1, "model": SEGFORMER}
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    trained = invoke("train", "--config", tmp_path / "train.yaml", "--out", tmp_path / "run")
    assert "best epoch 1/1" in trained and (tmp_path / "run" / "model" / "bundle.json").is_file()
    evaluated = invoke("evaluate", "--model", tmp_path / "run", "--data", data)
    assert (tmp_path / "run" / "eval-test" / "metrics.json").is_file() and "model" in evaluated

    config["model"] = {"architecture": "segformer", "encoder": "mit_nope"}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    bad = runner.invoke(
        app, ["train", "--config", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "bad")]
    )
    assert bad.exit_code == 2
    lines = bad.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), bad.output
    assert "mit_nope" in lines[0] and not (tmp_path / "bad").exists()
