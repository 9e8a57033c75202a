"""Segmentation training: checks first, then AdamW + cosine epochs with checkpoints, logs and a bundle.

A run folder holds ``config.yaml`` (the resolved config), ``history.csv`` (one row per epoch),
``checkpoints/last.pt`` (everything needed to resume), ``checkpoints/best.pt`` (weights of the best
validation epoch) and, at the end, ``model/`` (the bundle of the best epoch with the threshold
chosen on validation).
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import pickle
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel
from torch import nn
from torch.utils.data import DataLoader

from fringenet.data.samplers import BucketSampler, label_buckets, small_object_crops
from fringenet.data.samples import PatchSamples, channel_positions
from fringenet.data.store import PatchDataset, open_patch_dataset
from fringenet.errors import InputError
from fringenet.evaluate.metrics import best_threshold, threshold_sweep
from fringenet.io.atomic import atomic_path
from fringenet.models.bundle import BundleInfo, save_bundle
from fringenet.models.device import select_device
from fringenet.models.predict import pad_to_stride
from fringenet.models.segmentation import ModelSpec, build_segmentation_model, count_parameters
from fringenet.train.config import TrainConfig
from fringenet.train.losses import segmentation_loss

HISTORY_FIELDS = (
    "epoch", "train_loss", "val_loss", "val_iou_at_0.5", "val_best_iou", "val_threshold", "learning_rate",
    "seconds", "patches_per_second",
)  # fmt: skip


@dataclass(frozen=True)
class TrainOutput:
    """Where a run wrote its results and how it went."""

    run_dir: Path
    bundle: Path
    epochs: int
    best_epoch: int
    best_val_iou: float
    threshold: float
    history: list[dict[str, float]]


@dataclass
class Setup:
    """Everything checked and built before the first step."""

    dataset: PatchDataset
    channels: tuple[str, ...]
    train: PatchSamples
    val: PatchSamples
    sampler: BucketSampler
    model: nn.Module
    spec: ModelSpec
    device: torch.device


def prepare(config: TrainConfig) -> Setup:
    """Open the dataset and build samples, sampler and model, raising clear errors before any training."""
    dataset = open_patch_dataset(config.dataset)
    channels = tuple(config.channels or dataset.channels)
    channel_positions(dataset, channels, "training config")
    train_idx, val_idx = dataset.indices("train"), dataset.indices("val")
    crops = []
    if config.sampling.oversample_small and config.sampling.crop_px < dataset.patch_size:
        for i in train_idx[dataset.table["labelled_px"].to_numpy()[train_idx] > 0]:
            label = dataset.read(int(i))[1]
            crops += small_object_crops(
                int(i), label, config.sampling.small_object_max_px, config.sampling.crop_px
            )
    stats = dataset.statistics
    augment = config.augment
    train = PatchSamples(
        dataset, train_idx, channels, stats, crops=crops, augment=augment.dihedral or augment.phase_offset,
        dihedral=augment.dihedral, phase_offset=augment.phase_offset, label_sigma_px=config.loss.label_sigma_px, seed=config.seed,
    )  # fmt: skip
    val = PatchSamples(
        dataset, val_idx, channels, stats, label_sigma_px=config.loss.label_sigma_px, seed=config.seed
    )
    sampler = BucketSampler(
        label_buckets(train.labelled_pixels()),
        config.sampling.bucket_probabilities,
        config.sampling.samples_per_epoch or len(train),
        seed=config.seed,
    )
    spec = ModelSpec(**config.model.model_dump(), in_channels=len(channels))
    torch.manual_seed(config.seed)
    model = build_segmentation_model(spec)
    return Setup(dataset, channels, train, val, sampler, model, spec, select_device(config.device))


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def _pad_batch(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Move to the device and pad every map to the encoders' stride (padding is invalid)."""
    return {k: (pad_to_stride(v)[0] if v.ndim == 4 else v).to(device) for k, v in batch.items()}


@torch.no_grad()
def validate(
    model: nn.Module, samples: PatchSamples, config: TrainConfig, device: torch.device
) -> dict[str, Any]:
    """Loss, probabilities and IoU on a split (no augmentation, hard labels for the metrics)."""
    model.eval()
    loader = DataLoader(samples, batch_size=config.batch_size, shuffle=False, num_workers=config.num_workers)
    probs, labels, valids, losses, weights = [], [], [], [], []
    for raw in loader:
        size = raw["image"].shape[-2:]
        batch = _pad_batch(raw, device)
        with _autocast(device, config.mixed_precision == "auto"):
            logits = model(batch["image"])
        loss = segmentation_loss(logits, batch["target"], batch["valid"], config.loss)
        losses.append(float(loss))
        weights.append(float(batch["valid"].sum()))
        probs.append(torch.sigmoid(logits.float())[:, 0, : size[0], : size[1]].cpu().numpy())
        labels.append(raw["label"][:, 0].numpy() > 0)
        valids.append(raw["valid"][:, 0].numpy() > 0)
    p, lab, val = np.concatenate(probs), np.concatenate(labels), np.concatenate(valids)
    sweep = threshold_sweep(p, lab, val)
    at_half = int(np.argmin(np.abs(sweep.thresholds - 0.5)))
    threshold = best_threshold(sweep)
    best = int(np.flatnonzero(sweep.thresholds == threshold)[0])
    return {
        "loss": float(np.average(losses, weights=np.maximum(weights, 1e-9))),
        "iou_at_0.5": float(sweep.iou[at_half]),
        "best_iou": float(sweep.iou[best]),
        "threshold": float(threshold),
    }


def warmup_cosine(total: int, warmup: int) -> Any:
    """Learning-rate factor per step: linear warm-up over ``warmup`` steps, then cosine decay to 0."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def save_checkpoint(obj: Any, path: Path) -> None:
    """``torch.save`` to ``path`` atomically (a crash never leaves a truncated checkpoint)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def last_checkpoint(out: Path, resume: bool) -> Path:
    """``out/checkpoints/last.pt`` after checking that a new run overwrites none and a resumed one has one."""
    last = out / "checkpoints" / "last.pt"
    if not resume and last.exists():
        raise InputError(out, "run folder holds a checkpoint already; use --resume or another --out")
    if resume and not last.exists():
        raise InputError(last, "nothing to resume: no checkpoint")
    return last


def restore_checkpoint(
    last: Path, device: torch.device, check: Callable[[dict[str, Any]], str | None], **parts: Any
) -> dict[str, Any]:
    """Load ``last`` and put its saved state into each of ``parts`` (model, optimiser, scheduler, ...) by name.

    ``check`` sees the checkpoint first and returns why it does not belong to this run (or None);
    that becomes an :class:`InputError` before anything is loaded. Returns the whole checkpoint
    (history, best, epoch, ...). Only tensors and plain Python values are unpickled, so a
    crafted checkpoint cannot run code: anything else is an :class:`InputError`.
    """
    try:
        state = torch.load(last, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        what = f"it refers to code ({found.group(1)})" if found else "it is not a readable checkpoint"
        raise InputError(
            last, f"cannot be loaded safely: {what}; delete it to start a new run, or use another --out"
        ) from err
    if not isinstance(state, dict):
        raise InputError(last, f"not a training checkpoint (holds a {type(state).__name__}, not a dict)")
    problem = check(state)
    if problem:
        raise InputError(last, problem)
    for name, part in parts.items():
        part.load_state_dict(state[name])
    return dict(state)


def optimiser_step(
    loss: torch.Tensor, model: nn.Module, optimiser: Any, scheduler: Any, grad_clip: float | None
) -> None:
    """Backpropagate ``loss``, clip the gradient norm (if set), step the optimiser and the schedule."""
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimiser.step()
    scheduler.step()


def epochs_differ(state: dict[str, Any], epochs: int) -> str | None:
    """Why a checkpoint cannot be resumed with ``epochs`` (its learning-rate schedule depends on them)."""
    if state.get("epochs", epochs) != epochs:
        return (
            f"checkpoint belongs to a {state['epochs']}-epoch run; resuming with {epochs} epochs "
            "would change its learning-rate schedule (start a new run instead)"
        )
    return None


def start_run(config: Any, out: Path) -> None:
    """Create a new run folder and write its resolved config."""
    from fringenet.config import write_yaml_config

    out.mkdir(parents=True, exist_ok=True)
    write_yaml_config(config, out / "config.yaml")


def same_config(config: BaseModel) -> Callable[[dict[str, Any]], str | None]:
    """A :func:`restore_checkpoint` check: the checkpoint was written by a run of exactly ``config``."""
    expected = config.model_dump(mode="json")
    return lambda state: (
        None
        if state["config"] == expected
        else "checkpoint belongs to a run with another config; start a new run instead"
    )


def begin_run(
    config: BaseModel, out: Path, last: Path, resume: bool, device: torch.device, best: dict[str, Any],
    **parts: Any,
) -> tuple[list[dict[str, float]], dict[str, Any], int]:  # fmt: skip
    """A new run folder (history empty, ``best`` as given, first epoch 1), or the state of the run it resumes
    (:func:`restore_checkpoint` into ``parts``, checked with :func:`same_config`)."""
    if not resume:
        start_run(config, out)
        return [], best, 1
    state = restore_checkpoint(last, device, same_config(config), **parts)
    return state["history"], state["best"], state["epoch"] + 1


def end_epoch(
    out: Path, last: Path, config: BaseModel, history: list[dict[str, float]], fields: tuple[str, ...],
    epoch: int, best: dict[str, Any], *, model: nn.Module, optimiser: Any, scheduler: Any,
) -> None:  # fmt: skip
    """Write ``history.csv`` and the resumable checkpoint ``last`` of an epoch that just ended."""
    write_history(history, out / "history.csv", fields)
    save_checkpoint(
        {
            "model": model.state_dict(), "optimiser": optimiser.state_dict(), "scheduler": scheduler.state_dict(),
            "epoch": epoch, "history": history, "best": best, "config": config.model_dump(mode="json"),
        },
        last,
    )  # fmt: skip


def run_provenance(
    config: BaseModel, model: nn.Module, training_data: str, best_epoch: int, **scores: float
) -> dict[str, Any]:
    """A bundle's provenance: the run's config, its data, the best epoch and its scores, size and versions."""
    from fringenet import __version__

    return {
        "train_config": config.model_dump(mode="json"), "training_data": training_data,
        "best_epoch": int(best_epoch), **{k: float(v) for k, v in scores.items()},
        "parameters": count_parameters(model), "fringenet": __version__, "torch": torch.__version__,
    }  # fmt: skip


def write_history(
    history: list[dict[str, float]], path: Path, fields: tuple[str, ...] = HISTORY_FIELDS
) -> None:
    """The per-epoch history as CSV with columns ``fields``, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)


def run_train(
    config: TrainConfig, out: str | Path, *, resume: bool = False, progress: bool = True
) -> TrainOutput:
    """Train a segmentation model; with ``resume`` continue from ``out/checkpoints/last.pt``."""
    from tqdm import tqdm

    from fringenet import __version__

    out = Path(out)
    last = last_checkpoint(out, resume)
    setup = prepare(config)
    model, device = setup.model.to(setup.device), setup.device
    loader = DataLoader(
        setup.train, batch_size=config.batch_size, sampler=setup.sampler, num_workers=config.num_workers,
        drop_last=len(setup.sampler) > config.batch_size,
    )  # fmt: skip
    steps_per_epoch = len(loader)
    total = steps_per_epoch * config.epochs
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, warmup_cosine(total, int(config.warmup_fraction * total))
    )
    use_scaler = (
        device.type == "cuda" and config.mixed_precision == "auto" and not torch.cuda.is_bf16_supported()
    )
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
    history: list[dict[str, float]] = []
    start, best = 1, {"epoch": 0, "iou": -1.0, "threshold": 0.5}
    if resume:
        state = restore_checkpoint(
            last, device, lambda state: epochs_differ(state, config.epochs),
            model=model, optimiser=optimiser, scheduler=scheduler, scaler=scaler,
        )  # fmt: skip
        history, best, start = state["history"], state["best"], state["epoch"] + 1
    else:
        start_run(config, out)
    board = _tensorboard(out, config.tensorboard)
    for epoch in range(start, config.epochs + 1):
        torch.manual_seed(config.seed * 100_003 + epoch)  # dropout/DropPath: a resumed epoch repeats exactly
        setup.sampler.set_epoch(epoch)
        setup.train.set_epoch(epoch)
        model.train()
        tic, seen, running = time.perf_counter(), 0, 0.0
        bar = tqdm(loader, desc=f"epoch {epoch}/{config.epochs}", disable=not progress, leave=False)
        for raw in bar:
            batch = _pad_batch(raw, device)
            with _autocast(device, config.mixed_precision == "auto"):
                logits = model(batch["image"])
            loss = segmentation_loss(logits, batch["target"], batch["valid"], config.loss)
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if config.grad_clip:
                scaler.unscale_(optimiser)
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            scaler.step(optimiser)
            scaler.update()
            scheduler.step()
            n = raw["image"].shape[0]
            seen, running = seen + n, running + loss.item() * n
            bar.set_postfix(loss=f"{loss.item():.4f}")
        seconds = time.perf_counter() - tic
        metrics = validate(model, setup.val, config, device)
        row = {
            "epoch": epoch, "train_loss": running / max(seen, 1), "val_loss": metrics["loss"],
            "val_iou_at_0.5": metrics["iou_at_0.5"], "val_best_iou": metrics["best_iou"],
            "val_threshold": metrics["threshold"], "learning_rate": scheduler.get_last_lr()[0],
            "seconds": seconds, "patches_per_second": seen / max(seconds, 1e-9),
        }  # fmt: skip
        history.append(row)
        if progress:
            tqdm.write(
                f"epoch {epoch}/{config.epochs}: loss {row['train_loss']:.4f}, val loss {row['val_loss']:.4f}, "
                f"val IoU {row['val_best_iou']:.3f} at threshold {row['val_threshold']:.2f}"
            )
        if board is not None:
            for key, value in row.items():
                if key != "epoch":
                    board.add_scalar(key, value, epoch)
        if metrics["best_iou"] > best["iou"]:
            best = {"epoch": epoch, "iou": metrics["best_iou"], "threshold": metrics["threshold"]}
            save_checkpoint(model.state_dict(), out / "checkpoints" / "best.pt")
        write_history(history, out / "history.csv")
        save_checkpoint(
            {
                "model": model.state_dict(), "optimiser": optimiser.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                "epoch": epoch, "epochs": config.epochs, "history": history, "best": best,
            },
            last,
        )  # fmt: skip
    if board is not None:
        board.close()
    model.load_state_dict(torch.load(out / "checkpoints" / "best.pt", map_location=device, weights_only=True))
    info = BundleInfo(
        model=setup.spec,
        channels=list(setup.channels),
        normalisation={c: setup.dataset.statistics[c] for c in setup.channels},
        threshold=float(best["threshold"]),
        patch_size=setup.dataset.patch_size,
        provenance={
            "dataset": str(setup.dataset.path.resolve()),
            "dataset_regions": setup.dataset.info.get("regions", []),
            "dataset_splits": setup.dataset.info.get("splits", []),
            "train_config": config.model_dump(mode="json"),
            "best_epoch": int(best["epoch"]),
            "val_iou": float(best["iou"]),
            "parameters": count_parameters(model),
            "fringenet": __version__,
            "torch": torch.__version__,
        },
    )
    bundle = save_bundle(out / "model", model.cpu(), info)
    return TrainOutput(
        out, bundle, config.epochs, int(best["epoch"]), float(best["iou"]), float(best["threshold"]), history
    )


def _tensorboard(out: Path, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise InputError(
            "tensorboard", "TensorBoard logging needs the tensorboard package (pip install tensorboard)"
        ) from err
    return SummaryWriter(log_dir=str(out / "tensorboard"))
