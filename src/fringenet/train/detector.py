"""Train the detector (or the Mask Net) on interferograms generated on the fly (``task: detector|masknet``).

Every training sample is new: sample ``k`` of the run is :func:`fringenet.simulate.realistic.sample_interferogram`
with seed ``seed * 10**7 + k``, so a run is reproducible and a resumed run draws exactly the samples
the interrupted one would have. Validation uses a fixed set of other seeds. Inputs are derived from
the drawn wrapped phase with the same channel functions as a scan, so what the network sees in
training is what it sees in a product. The run folder is that of :func:`fringenet.train.trainer.run_train`
(``config.yaml``, ``history.csv``, ``checkpoints/``, ``model/``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch.utils.data import DataLoader, Dataset

from fringenet.data.channels import PHASE_ONLY_CHANNELS, PairLayers, check_channels, derive_channels
from fringenet.data.normalise import channel_statistics, normalise
from fringenet.models.bundle import BundleInfo, load_bundle, save_bundle
from fringenet.models.device import select_device
from fringenet.models.segmentation import ModelChoice, ModelSpec, build_segmentation_model, count_parameters
from fringenet.simulate.realistic import RealisticConfig, sample_interferogram, valid_phase
from fringenet.train.config import LossConfig
from fringenet.train.losses import segmentation_loss
from fringenet.train.trainer import (
    _pad_batch,
    epochs_differ,
    last_checkpoint,
    optimiser_step,
    restore_checkpoint,
    save_checkpoint,
    start_run,
    validate,
    warmup_cosine,
    write_history,
)

VALIDATION_SEED = 987_654
"""Seed block of the validation samples (training seeds are ``seed * 10**7 + k``)."""


class GeneratedTrainConfig(BaseModel):
    """A detector or Mask Net run on generated interferograms (``fringenet train --config``)."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["detector", "masknet"] = Field(
        "detector", description="'detector': deformation above half a fringe; 'masknet': unusable phase."
    )
    generator: RealisticConfig = Field(
        default_factory=RealisticConfig, description="What samples are drawn from."
    )
    channels: list[str] = Field(list(PHASE_ONLY_CHANNELS), description="Input channels.")
    model: ModelChoice = Field(
        default_factory=lambda: ModelChoice(architecture="segformer", encoder="mit_b0"),
        description="Network.",
    )
    loss: LossConfig = Field(
        default_factory=lambda: LossConfig(bce_weight=1.0, dice_weight=0.5), description="Loss."
    )
    epochs: int = Field(12, ge=1, le=10_000, description="Epochs.")
    steps_per_epoch: int = Field(250, ge=1, description="Batches per epoch.")
    batch_size: int = Field(16, ge=1, le=4096, description="Samples per batch.")
    val_samples: int = Field(192, ge=1, description="Fixed validation samples (other seeds than training).")
    stats_samples: int = Field(128, ge=1, description="Samples the normalisation statistics come from.")
    learning_rate: float = Field(1e-3, gt=0.0, le=1.0, description="Peak AdamW learning rate.")
    weight_decay: float = Field(1e-2, ge=0.0, le=1.0, description="AdamW weight decay.")
    warmup_fraction: float = Field(0.03, ge=0.0, lt=1.0, description="Linear warm-up share of all steps.")
    grad_clip: float | None = Field(1.0, gt=0.0, description="Clip the gradient norm (None = off).")
    mixed_precision: Literal["auto", "off"] = Field("auto", description="bf16/fp16 autocast on a GPU only.")
    device: str = Field("auto", description="'auto', 'cpu', 'cuda', ...")
    num_workers: int = Field(1, ge=0, le=64, description="Generator worker processes.")
    seed: int = Field(0, ge=0, le=10**11, description="Seed of weights and samples.")
    keep_epoch: Literal["best_validation", "last"] = Field(
        "best_validation",
        description="Which epoch's weights the bundle keeps: the best validation IoU (generated samples of this "
        "generator) or the last one, when independent scenes decide (benchmarks/select_detector.py).",
    )
    init_from: Path | None = Field(
        None,
        description="Bundle whose weights and normalisation start this run (a curriculum stage, e.g. larger "
        "windows after small ones); its network and channels must be those of this config.",
    )

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        return list(check_channels(value))


@dataclass(frozen=True)
class GeneratedTrainOutput:
    run_dir: Path
    bundle: Path
    best_epoch: int
    best_val_iou: float
    threshold: float
    history: list[dict[str, float]]


def sample_arrays(seed: int, config: GeneratedTrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw channels ``(C, H, W)`` float32 (NaN = missing), target ``(H, W)`` and loss mask ``(H, W)`` of one seed."""
    sample = sample_interferogram(seed, config.generator)
    layers = PairLayers("generated", sample.wrapped_phase, sample.pixel_size_m, sample.wavelength_m)
    image = derive_channels(layers, config.channels)
    has_input = np.all(np.isfinite(image), axis=0)
    if config.task == "masknet":
        target = sample.unusable | ~valid_phase(sample)
        valid = np.ones(target.shape, dtype=bool)  # every pixel, no-data included, has a mask answer
    else:
        target = sample.label
        valid = has_input & ~sample.ignore
    return image, target, valid & (has_input | (config.task == "masknet"))


class GeneratedSamples(Dataset[dict[str, torch.Tensor]]):
    """Samples ``first .. first + length - 1`` of the seed stream, normalised, as the trainer's batches."""

    def __init__(self, config: GeneratedTrainConfig, first: int, length: int, stats: dict) -> None:
        self.config, self.first, self.length, self.stats = config, first, length, stats

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        image, target, valid = sample_arrays(self.first + item, self.config)
        finite = np.all(np.isfinite(image), axis=0)
        x = normalise(np.nan_to_num(image), finite, self.stats, self.config.channels)
        t = target.astype(np.float32)[None]
        return {
            "image": torch.from_numpy(x),
            "target": torch.from_numpy(t),
            "label": torch.from_numpy(t.copy()),
            "valid": torch.from_numpy(valid.astype(np.float32)[None]),
        }


def generated_statistics(config: GeneratedTrainConfig) -> dict[str, dict[str, float]]:
    """Normalisation statistics from ``stats_samples`` drawn samples (seeds of their own)."""
    base = VALIDATION_SEED * 10**7 + 5 * 10**6
    items = []
    for k in range(config.stats_samples):
        image = sample_arrays(base + k, config)[0]
        items.append((image, np.all(np.isfinite(image), axis=0)))
    return channel_statistics(items, config.channels)


def initial_weights(model: torch.nn.Module, spec: ModelSpec, config: GeneratedTrainConfig) -> dict:
    """Load the weights of ``config.init_from`` into ``model``; returns the bundle's normalisation."""
    assert config.init_from is not None
    start, info = load_bundle(config.init_from)
    if info.model != spec or list(info.channels) != list(config.channels):
        raise ValueError(
            f"{config.init_from}: its network ({info.model.architecture}/{getattr(info.model, 'encoder', '')}, "
            f"{info.channels}) is not this config's ({spec.architecture}/{spec.encoder}, {config.channels})"
        )
    model.load_state_dict(start.state_dict())
    return dict(info.normalisation)


def run_train_generated(
    config: GeneratedTrainConfig, out: str | Path, *, resume: bool = False, progress: bool = True
) -> GeneratedTrainOutput:
    """Train on generated samples; with ``resume`` continue from ``out/checkpoints/last.pt``."""
    from tqdm import tqdm

    from fringenet import __version__

    out = Path(out)
    last = last_checkpoint(out, resume)
    device = select_device(config.device)
    spec = ModelSpec(**config.model.model_dump(), in_channels=len(config.channels))
    torch.manual_seed(config.seed)
    model = build_segmentation_model(spec).to(device)
    stats = initial_weights(model, spec, config) if config.init_from else generated_statistics(config)
    per_epoch = config.steps_per_epoch * config.batch_size
    val = GeneratedSamples(config, VALIDATION_SEED * 10**7, config.val_samples, stats)
    total = config.steps_per_epoch * config.epochs
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, warmup_cosine(total, int(config.warmup_fraction * total))
    )
    history: list[dict[str, float]] = []
    start, best = 1, {"epoch": 0, "iou": -1.0, "threshold": 0.5}
    if resume:
        state = restore_checkpoint(
            last, device, lambda s: epochs_differ(s, config.epochs),
            model=model, optimiser=optimiser, scheduler=scheduler,
        )  # fmt: skip
        history, best, start = state["history"], state["best"], state["epoch"] + 1
    else:
        start_run(config, out)
    for epoch in range(start, config.epochs + 1):
        torch.manual_seed(config.seed * 100_003 + epoch)
        train = GeneratedSamples(config, config.seed * 10**7 + (epoch - 1) * per_epoch, per_epoch, stats)
        loader = DataLoader(
            train, batch_size=config.batch_size, shuffle=False, num_workers=config.num_workers
        )
        model.train()
        tic, seen, running = time.perf_counter(), 0, 0.0
        bar = tqdm(loader, desc=f"epoch {epoch}/{config.epochs}", disable=not progress, leave=False)
        for raw in bar:
            batch = _pad_batch(raw, device)
            loss = segmentation_loss(model(batch["image"]), batch["target"], batch["valid"], config.loss)
            optimiser_step(loss, model, optimiser, scheduler, config.grad_clip)
            n = raw["image"].shape[0]
            seen, running = seen + n, running + loss.item() * n
            bar.set_postfix(loss=f"{loss.item():.4f}")
        seconds = time.perf_counter() - tic
        metrics = validate(model, val, config, device)  # type: ignore[arg-type]
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
                f"val IoU {row['val_best_iou']:.3f} at threshold {row['val_threshold']:.2f} ({seconds:.0f} s)"
            )
        if metrics["best_iou"] > best["iou"]:
            best = {"epoch": epoch, "iou": metrics["best_iou"], "threshold": metrics["threshold"]}
            save_checkpoint(model.state_dict(), out / "checkpoints" / "best.pt")
        write_history(history, out / "history.csv")
        save_checkpoint(
            {
                "model": model.state_dict(), "optimiser": optimiser.state_dict(),
                "scheduler": scheduler.state_dict(), "epoch": epoch, "epochs": config.epochs,
                "history": history, "best": best,
            },
            last,
        )  # fmt: skip
    if config.keep_epoch == "last":  # the model holds the last epoch's weights
        final = history[-1]
        best = {
            "epoch": int(final["epoch"]),
            "iou": final["val_best_iou"],
            "threshold": final["val_threshold"],
        }
    else:
        model.load_state_dict(
            torch.load(out / "checkpoints" / "best.pt", map_location=device, weights_only=True)
        )
    info = BundleInfo(
        model=spec,
        channels=list(config.channels),
        normalisation=stats,
        threshold=float(best["threshold"]),
        patch_size=config.generator.size,
        provenance={
            "training_data": "generated on the fly (fringenet.simulate.realistic)",
            "train_config": config.model_dump(mode="json"),
            "initialised_from": str(config.init_from) if config.init_from else None,
            "best_epoch": int(best["epoch"]),
            "kept_epoch": config.keep_epoch,
            "val_iou": float(best["iou"]),
            "parameters": count_parameters(model),
            "fringenet": __version__,
            "torch": torch.__version__,
        },
    )
    bundle = save_bundle(out / "model", model.cpu(), info)
    return GeneratedTrainOutput(
        out, bundle, int(best["epoch"]), float(best["iou"]), float(best["threshold"]), history
    )
