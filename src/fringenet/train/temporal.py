"""Training of the time-series models: supervised (mask + phase rate) or masked-autoencoder pre-training.

``fringenet train --config CFG.yaml`` runs this when the config says ``task: temporal``. The run
folder is laid out as the segmentation trainer's (``config.yaml``, ``history.csv``,
``checkpoints/last.pt`` to resume, ``checkpoints/best.pt``, ``model/`` bundle). A pre-training run
(``objective: mae``) saves its encoder in the same kind of bundle; ``init_from`` starts a
supervised run from it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.utils.data import DataLoader, Subset

from fringenet.data.sequence_store import SequenceDataset, SequenceSamples, open_sequence_dataset
from fringenet.errors import InputError
from fringenet.evaluate.metrics import best_threshold, threshold_sweep
from fringenet.models.bundle import BundleInfo, save_bundle
from fringenet.models.device import select_device
from fringenet.models.segmentation import count_parameters
from fringenet.models.temporal import (
    RATE_SCALE_RAD_PER_YR,
    TemporalModelSpec,
    TemporalNet,
    build_temporal_model,
    random_token_mask,
)
from fringenet.train.losses import masked_bce, masked_dice
from fringenet.train.trainer import (
    epochs_differ,
    last_checkpoint,
    optimiser_step,
    restore_checkpoint,
    save_checkpoint,
    start_run,
    warmup_cosine,
    write_history,
)

TASK = "temporal"
PRETRAIN_TASK = "temporal-mae"
HISTORY_FIELDS = (
    "epoch", "train_loss", "val_loss", "val_best_iou", "val_threshold", "val_velocity_rmse_m_per_yr",
    "learning_rate", "seconds", "samples_per_second",
)  # fmt: skip


class TemporalLoss(BaseModel):
    """Mask: BCE + Dice over valid pixels; rate: Huber over valid pixels, moving pixels weighted up."""

    model_config = ConfigDict(extra="forbid")

    bce_weight: float = Field(1.0, ge=0.0, description="Weight of the masked BCE.")
    dice_weight: float = Field(0.5, ge=0.0, description="Weight of the soft Dice loss.")
    rate_weight: float = Field(1.0, ge=0.0, description="Weight of the phase-rate (velocity) loss.")
    moving_weight: float = Field(
        4.0, ge=1.0, description="Rate-loss weight of moving pixels relative to stable ones."
    )


class TemporalTrainConfig(BaseModel):
    """A time-series model training run."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["temporal"] = Field("temporal", description="Marks a time-series training config.")
    dataset: Path = Field(
        description="Sequence dataset folder (`fringenet dataset build`, format: sequences)."
    )
    model: TemporalModelSpec = Field(default_factory=TemporalModelSpec, description="Network.")
    objective: Literal["supervised", "mae"] = Field(
        "supervised",
        description="'supervised': mask + velocity; 'mae': masked-tile reconstruction (no labels).",
    )
    mask_ratio: float = Field(0.6, gt=0.0, lt=1.0, description="MAE: share of tiles hidden per step.")
    init_from: Path | None = Field(
        None, description="Bundle or run folder whose weights start this run (e.g. an MAE pre-training)."
    )
    label_fraction: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description="Share of the training scenes whose labels are used (label efficiency).",
    )
    loss: TemporalLoss = Field(default_factory=TemporalLoss, description="Loss.")
    epochs: int = Field(10, ge=1, le=10_000, description="Epochs.")
    samples_per_epoch: int | None = Field(
        None, ge=1, description="Samples drawn per epoch (default: every training scene once)."
    )
    batch_size: int = Field(8, ge=1, le=1024, description="Stacks per batch.")
    learning_rate: float = Field(5e-4, gt=0.0, le=1.0, description="Peak AdamW learning rate.")
    weight_decay: float = Field(0.05, ge=0.0, le=1.0, description="AdamW weight decay.")
    warmup_fraction: float = Field(0.05, ge=0.0, lt=1.0, description="Linear warm-up share of all steps.")
    grad_clip: float | None = Field(1.0, gt=0.0, description="Gradient-norm clip (None = off).")
    device: str = Field("auto", description="'auto' (CUDA, MPS, else CPU), 'cpu', 'cuda', ...")
    num_workers: int = Field(0, ge=0, le=64, description="DataLoader worker processes.")
    seed: int = Field(0, ge=0, description="Seed of weights, sampling and augmentation.")


@dataclass(frozen=True)
class TemporalTrainOutput:
    """Where a run wrote its results and how it went."""

    run_dir: Path
    bundle: Path
    best_epoch: int
    best_score: float
    threshold: float
    history: list[dict[str, float]]


def _inputs(batch: dict[str, torch.Tensor], device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(batch[k].to(device) for k in ("steps", "time", "step_mask", "terrain"))


def temporal_loss(
    out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], loss: TemporalLoss
) -> torch.Tensor:
    """The configured mask + rate loss of one batch (targets on ``out``'s device)."""
    logits, valid, label = out["logits"].float(), batch["valid"], batch["label"]
    total = loss.bce_weight * masked_bce(logits, label, valid)
    if loss.dice_weight:
        total = total + loss.dice_weight * masked_dice(logits, label, valid)
    if loss.rate_weight:
        weight = valid * (1.0 + (loss.moving_weight - 1.0) * label)
        err = F.huber_loss(
            out["rate"].float() / RATE_SCALE_RAD_PER_YR,
            batch["rate"] / RATE_SCALE_RAD_PER_YR,
            reduction="none",
        )
        total = total + loss.rate_weight * (err * weight).sum() / weight.sum().clamp_min(1.0)
    return total


def reconstruction_loss(
    model: TemporalNet, batch: dict[str, torch.Tensor], ratio: float, generator: torch.Generator
) -> torch.Tensor:
    """MAE loss: mean squared error of the hidden tiles of the real steps, channel by channel in units of
    each channel's spread over the batch's real steps (the phase-rate channel spans +-10, cos/sin +-1:
    without this it would be nearly all the loss)."""
    steps, time_, step_mask, terrain = (batch[k] for k in ("steps", "time", "step_mask", "terrain"))
    b, s, _, h, w = steps.shape
    p = model.spec.patch
    hidden = random_token_mask(generator, (b, s, h // p, w // p), ratio).to(steps.device)
    rebuilt = model.reconstruct(steps, time_, step_mask, terrain, hidden)
    pixel_hidden = hidden.repeat_interleave(p, dim=2).repeat_interleave(p, dim=3)[:, :, None]
    weight = pixel_hidden * step_mask[:, :, None, None, None]
    real = step_mask[:, :, None, None, None].expand_as(steps)
    spread = torch.stack([steps[:, :, c][real[:, :, c]].std() for c in range(steps.shape[2])])
    scale = spread.clamp_min(1e-3).reshape(1, 1, -1, 1, 1)
    err = ((rebuilt.float() - steps) / scale) ** 2 * weight
    return err.sum() / (weight.sum() * steps.shape[2]).clamp_min(1.0)


@torch.no_grad()
def predict_samples(
    model: TemporalNet, samples: SequenceSamples, batch_size: int, device: torch.device
) -> dict[str, np.ndarray]:
    """Probability, phase rate (rad/yr), label, true rate and valid of every sample, ``(N, H, W)`` each."""
    model.eval()
    loader = DataLoader(samples, batch_size=batch_size, shuffle=False)
    keys = ("probability", "rate", "label", "true_rate", "valid")
    out: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for batch in loader:
        pred = model(*_inputs(batch, device))
        out["probability"].append(torch.sigmoid(pred["logits"].float())[:, 0].cpu().numpy())
        out["rate"].append(pred["rate"].float()[:, 0].cpu().numpy())
        out["label"].append(batch["label"][:, 0].numpy() > 0)
        out["true_rate"].append(batch["rate"][:, 0].numpy())
        out["valid"].append(batch["valid"][:, 0].numpy() > 0)
    return {k: np.concatenate(v) for k, v in out.items()}


def rate_rmse_m_per_yr(pred: dict[str, np.ndarray], wavelength_m: float) -> float:
    """RMSE (m/yr) of the velocity on truly moving valid pixels (NaN if there are none)."""
    from fringenet.conventions import phase_to_displacement

    moving = pred["label"] & pred["valid"]
    if not moving.any():
        return float("nan")
    diff = phase_to_displacement(pred["rate"][moving] - pred["true_rate"][moving], wavelength_m)
    return float(np.sqrt(np.mean(np.square(diff))))


@torch.no_grad()
def validate(
    model: TemporalNet, samples: SequenceSamples, config: TemporalTrainConfig, device: torch.device
) -> dict[str, float]:
    """Loss, best IoU and its threshold, and velocity RMSE on a split (or the MAE loss)."""
    model.eval()
    if config.objective == "mae":
        generator = torch.Generator().manual_seed(config.seed)
        losses = [
            float(
                reconstruction_loss(
                    model, {k: v.to(device) for k, v in b.items()}, config.mask_ratio, generator
                )
            )
            for b in DataLoader(samples, batch_size=config.batch_size)
        ]
        loss = float(np.mean(losses))
        return {"loss": loss, "best_iou": -loss, "threshold": 0.5, "rmse": float("nan")}
    pred = predict_samples(model, samples, config.batch_size, device)
    sweep = threshold_sweep(pred["probability"], pred["label"], pred["valid"])
    threshold = best_threshold(sweep)
    best = int(np.flatnonzero(sweep.thresholds == threshold)[0])
    eps = 1e-6
    p = np.clip(pred["probability"], eps, 1 - eps)
    bce = -(pred["label"] * np.log(p) + (~pred["label"]) * np.log(1 - p))
    return {
        "loss": float(bce[pred["valid"]].mean()) if pred["valid"].any() else float("nan"),
        "best_iou": float(sweep.iou[best]),
        "threshold": float(threshold),
        "rmse": rate_rmse_m_per_yr(pred, samples.dataset.wavelength_m),
    }


def initial_weights(model: nn.Module, source: Path) -> list[str]:
    """Load matching weights from a bundle or run folder (shape-compatible tensors only); returns what was skipped."""
    from safetensors.torch import load_file

    from fringenet.models.bundle import WEIGHTS

    folder = source / "model" if (source / "model" / WEIGHTS).exists() else source
    if not (folder / WEIGHTS).exists():
        raise InputError(source, f"init_from: no {WEIGHTS} here or in its model/ folder")
    state = load_file(str(folder / WEIGHTS))
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    return sorted(set(own) - set(usable))


def _training_indices(dataset: SequenceDataset, config: TemporalTrainConfig) -> np.ndarray:
    train = dataset.indices("train")
    if config.label_fraction >= 1.0:
        return train
    rng = np.random.default_rng([config.seed, 0x1ABE1])
    n = max(1, round(config.label_fraction * train.size))
    return np.sort(rng.choice(train, size=n, replace=False))


def run_train_temporal(
    config: TemporalTrainConfig, out: str | Path, *, resume: bool = False, progress: bool = True
) -> TemporalTrainOutput:
    """Train a time-series model; with ``resume`` continue from ``out/checkpoints/last.pt``."""
    from tqdm import tqdm

    from fringenet import __version__

    out = Path(out)
    last = last_checkpoint(out, resume)
    dataset = open_sequence_dataset(config.dataset)
    size = int(dataset.arrays["slc"].shape[-1])
    if size % config.model.patch:
        raise InputError(
            config.dataset, f"sample size {size} is not a multiple of the tile {config.model.patch}"
        )
    if config.model.steps_are_dates and dataset.arrays["slc"].shape[1] < config.model.min_steps:
        raise InputError(config.dataset, "stacks have fewer dates than the model's min_steps")
    device = select_device(config.device)
    torch.manual_seed(config.seed)
    model = build_temporal_model(config.model)
    notes: list[str] = []
    if config.init_from is not None and not resume:
        skipped = initial_weights(model, config.init_from)
        notes.append(f"initialised from {config.init_from} ({len(skipped)} tensors left random)")
    model = model.to(device)
    train = SequenceSamples(
        dataset, _training_indices(dataset, config), config.model, augment=True, seed=config.seed
    )
    val = SequenceSamples(dataset, dataset.indices("val"), config.model, seed=config.seed)
    per_epoch = config.samples_per_epoch or len(train)
    generator = torch.Generator().manual_seed(config.seed)

    def loader(epoch: int) -> DataLoader[dict[str, torch.Tensor]]:
        rng = np.random.default_rng([config.seed, epoch])
        order = rng.choice(len(train), size=per_epoch, replace=per_epoch > len(train))
        return DataLoader(
            Subset(train, order.tolist()), batch_size=config.batch_size, num_workers=config.num_workers,
            drop_last=per_epoch > config.batch_size,
        )  # fmt: skip

    steps_per_epoch = max(1, per_epoch // config.batch_size)
    total = steps_per_epoch * config.epochs
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, warmup_cosine(total, int(config.warmup_fraction * total))
    )
    history: list[dict[str, float]] = []
    start, best = 1, {"epoch": 0, "score": -np.inf, "threshold": 0.5}
    if resume:
        state = restore_checkpoint(
            last, device, lambda state: epochs_differ(state, config.epochs),
            model=model, optimiser=optimiser, scheduler=scheduler,
        )  # fmt: skip
        generator.set_state(state["generator"])
        history, best, start = state["history"], state["best"], state["epoch"] + 1
    else:
        start_run(config, out)
    for epoch in range(start, config.epochs + 1):
        torch.manual_seed(config.seed * 100_003 + epoch)
        train.set_epoch(epoch)
        model.train()
        tic, seen, running = time.perf_counter(), 0, 0.0
        bar = tqdm(loader(epoch), desc=f"epoch {epoch}/{config.epochs}", disable=not progress, leave=False)
        for raw in bar:
            batch = {k: v.to(device) for k, v in raw.items()}
            if config.objective == "mae":
                loss = reconstruction_loss(model, batch, config.mask_ratio, generator)
            else:
                loss = temporal_loss(model(*_inputs(batch, device)), batch, config.loss)
            optimiser_step(loss, model, optimiser, scheduler, config.grad_clip)
            n = raw["steps"].shape[0]
            seen, running = seen + n, running + loss.item() * n
            bar.set_postfix(loss=f"{loss.item():.4f}")
        seconds = time.perf_counter() - tic
        metrics = validate(model, val, config, device)
        row: dict[str, float] = {
            "epoch": epoch, "train_loss": running / max(seen, 1), "val_loss": metrics["loss"],
            "val_best_iou": metrics["best_iou"], "val_threshold": metrics["threshold"],
            "val_velocity_rmse_m_per_yr": metrics["rmse"], "learning_rate": float(scheduler.get_last_lr()[0]),
            "seconds": seconds, "samples_per_second": seen / max(seconds, 1e-9),
        }  # fmt: skip
        history.append(row)
        if progress:
            tqdm.write(
                f"epoch {epoch}/{config.epochs}: loss {row['train_loss']:.4f}, val loss {row['val_loss']:.4f}, "
                f"val IoU {row['val_best_iou']:.3f} at {row['val_threshold']:.2f}, "
                f"velocity RMSE {row['val_velocity_rmse_m_per_yr']:.4f} m/yr"
            )
        if metrics["best_iou"] > best["score"]:
            best = {"epoch": epoch, "score": metrics["best_iou"], "threshold": metrics["threshold"]}
            save_checkpoint(model.state_dict(), out / "checkpoints" / "best.pt")
        write_history(history, out / "history.csv", HISTORY_FIELDS)
        save_checkpoint(
            {
                "model": model.state_dict(), "optimiser": optimiser.state_dict(),
                "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                "epoch": epoch, "epochs": config.epochs, "history": history, "best": best,
            },
            last,
        )  # fmt: skip
    model.load_state_dict(torch.load(out / "checkpoints" / "best.pt", map_location=device, weights_only=True))
    info = BundleInfo(
        task=PRETRAIN_TASK if config.objective == "mae" else TASK,
        model=config.model,
        channels=["coherence_matrix"]
        if config.model.steps_are_dates
        else ["cos_phase", "sin_phase", "coherence", "phase_rate"],
        normalisation={},
        threshold=float(best["threshold"]),
        patch_size=size,
        provenance={
            "dataset": str(dataset.path.resolve()),
            "dataset_splits": dataset.info.get("splits", {}),
            "train_config": config.model_dump(mode="json"),
            "best_epoch": int(best["epoch"]),
            "val_iou" if config.objective == "supervised" else "val_reconstruction_loss": float(
                best["score"] if config.objective == "supervised" else -best["score"]
            ),
            "parameters": count_parameters(model),
            "notes": notes,
            "fringenet": __version__,
            "torch": torch.__version__,
        },
    )
    bundle = save_bundle(out / "model", model.cpu(), info)
    return TemporalTrainOutput(
        out, bundle, int(best["epoch"]), float(best["score"]), float(best["threshold"]), history
    )
