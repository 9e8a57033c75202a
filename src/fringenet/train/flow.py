"""Training the optical-flow model on optical pairs generated on the fly (``task: displacement``, issue 12).

Pair ``i`` of epoch ``e`` is :func:`fringenet.simulate.optical.sample_optical_pair` with the seed sequence
``(seed, split, e, i)``, so a run is reproducible, a resumed epoch draws exactly the pairs it would have
drawn, validation pairs are never training pairs, and none of them is a pair of the benchmark
(``benchmarks/displacement.py`` uses single-int seeds). The loss is the mean end-point error (px) over
pixels whose surface did not change; the best epoch is the one with the lowest validation error.

A run folder holds ``config.yaml``, ``history.csv``, ``checkpoints/last.pt`` (resume),
``checkpoints/best.pt`` and at the end ``model/``, the bundle of the best epoch (task ``displacement``).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch.utils.data import DataLoader, Dataset

from fringenet.models.bundle import save_bundle
from fringenet.models.device import select_device
from fringenet.models.flow import CHANNELS, flow_bundle_info, pair_channels
from fringenet.models.segmentation import ModelChoice, ModelSpec, build_segmentation_model
from fringenet.simulate.optical import OpticalPairConfig, sample_optical_pair
from fringenet.train.trainer import (
    begin_run,
    end_epoch,
    last_checkpoint,
    optimiser_step,
    run_provenance,
    save_checkpoint,
    warmup_cosine,
)

HISTORY_FIELDS = ("epoch", "train_epe_px", "val_epe_px", "learning_rate", "seconds", "pairs_per_second")
_TRAIN, _VAL = 0, 1


class FlowTrainConfig(BaseModel):
    """A flow-model run on generated optical pairs (``fringenet train --config``, ``task: displacement``)."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["displacement"] = Field(
        "displacement", description="Learned east/north offsets of image pairs."
    )
    generator: OpticalPairConfig = Field(
        default_factory=lambda: OpticalPairConfig(size=128), description="What pairs are drawn from."
    )
    model: ModelChoice = Field(
        default_factory=lambda: ModelChoice(architecture="unet", encoder="resnet18", decoder_width=16),
        description="Network (inputs: fringenet.models.flow.CHANNELS; outputs: east and north px).",
    )
    epochs: int = Field(10, ge=1, le=10_000, description="Epochs.")
    steps_per_epoch: int = Field(100, ge=1, description="Batches per epoch.")
    batch_size: int = Field(8, ge=1, le=4096, description="Pairs per batch.")
    val_pairs: int = Field(32, ge=1, description="Fixed validation pairs.")
    learning_rate: float = Field(1e-3, gt=0.0, le=1.0, description="Peak AdamW learning rate.")
    weight_decay: float = Field(1e-4, ge=0.0, le=1.0, description="AdamW weight decay.")
    warmup_fraction: float = Field(0.03, ge=0.0, lt=1.0, description="Linear warm-up share of all steps.")
    grad_clip: float | None = Field(1.0, gt=0.0, description="Clip the gradient norm (None = off).")
    num_workers: int = Field(1, ge=0, le=64, description="Generator worker processes.")
    device: str = Field("auto", description="'auto' (CUDA, MPS, else CPU), 'cpu', 'cuda', ...")
    seed: int = Field(0, ge=0, description="Seed of weights and pairs.")


class GeneratedPairs(Dataset[dict[str, torch.Tensor]]):
    """``n`` pairs of one split; pair ``i`` of epoch ``e`` is drawn from ``(seed, split, e, i)``."""

    def __init__(self, n: int, config: OpticalPairConfig, seed: int, split: int) -> None:
        self.n, self.config, self.seed, self.split = n, config, seed, split
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        epoch = 0 if self.split == _VAL else self.epoch
        pair = sample_optical_pair((self.seed, self.split, epoch, index), self.config)
        return {
            "image": torch.from_numpy(pair_channels(pair.pre, pair.post)),
            "target": torch.from_numpy(np.stack([pair.east_px, pair.north_px])),
            "valid": torch.from_numpy((~pair.changed).astype(np.float32)[None]),
        }


def epe_loss(predicted: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean end-point error (px) over valid pixels; ``predicted``/``target`` ``(B, 2, H, W)``."""
    epe = torch.sqrt(((predicted - target) ** 2).sum(dim=1, keepdim=True) + 1e-6)
    return (epe * valid).sum() / valid.sum().clamp_min(1.0)


@torch.no_grad()
def validate_flow(
    model: torch.nn.Module, pairs: GeneratedPairs, batch_size: int, device: torch.device
) -> float:
    model.eval()
    total, weight = 0.0, 0.0
    for batch in DataLoader(pairs, batch_size=batch_size, shuffle=False):
        valid = batch["valid"].to(device)
        loss = epe_loss(model(batch["image"].to(device)), batch["target"].to(device), valid)
        total, weight = total + float(loss) * float(valid.sum()), weight + float(valid.sum())
    return total / max(weight, 1.0)


def run_train_flow(
    config: FlowTrainConfig, out_dir: str | Path, *, resume: bool = False, progress: bool = False
) -> Path:
    """Train the flow model; returns the bundle folder ``out_dir/model``. With ``resume`` the run continues
    from ``out_dir/checkpoints/last.pt`` (same config required)."""
    from tqdm import tqdm

    out = Path(out_dir)
    last, best_path = last_checkpoint(out, resume), out / "checkpoints" / "best.pt"
    device = select_device(config.device)
    size = config.generator.size
    spec = ModelSpec(**config.model.model_dump(), in_channels=len(CHANNELS), classes=2)
    torch.manual_seed(config.seed)
    model = build_segmentation_model(spec).to(device)
    train = GeneratedPairs(config.steps_per_epoch * config.batch_size, config.generator, config.seed, _TRAIN)
    val = GeneratedPairs(config.val_pairs, config.generator, config.seed, _VAL)
    loader = DataLoader(
        train, batch_size=config.batch_size, shuffle=False, drop_last=True, num_workers=config.num_workers,
        persistent_workers=False,
    )  # fmt: skip
    total = len(loader) * config.epochs
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, warmup_cosine(total, int(config.warmup_fraction * total))
    )
    history, best, start = begin_run(
        config,
        out,
        last,
        resume,
        device,
        {"epoch": 0, "val_epe_px": math.inf},
        model=model,
        optimiser=optimiser,
        scheduler=scheduler,
    )
    for epoch in range(start, config.epochs + 1):
        torch.manual_seed(config.seed * 100_003 + epoch)
        train.set_epoch(epoch)
        model.train()
        tic, seen, running = time.perf_counter(), 0, 0.0
        bar = tqdm(loader, desc=f"epoch {epoch}/{config.epochs}", disable=not progress, leave=False)
        for batch in bar:
            loss = epe_loss(
                model(batch["image"].to(device)), batch["target"].to(device), batch["valid"].to(device)
            )
            optimiser_step(loss, model, optimiser, scheduler, config.grad_clip)
            n = batch["image"].shape[0]
            seen, running = seen + n, running + loss.item() * n
            bar.set_postfix(epe=f"{loss.item():.3f}")
        seconds = time.perf_counter() - tic
        val_epe = validate_flow(model, val, config.batch_size, device)
        row = {
            "epoch": epoch, "train_epe_px": running / max(seen, 1), "val_epe_px": val_epe,
            "learning_rate": float(scheduler.get_last_lr()[0]), "seconds": seconds,
            "pairs_per_second": seen / max(seconds, 1e-9),
        }  # fmt: skip
        history.append(row)
        if progress:
            tqdm.write(
                f"epoch {epoch}/{config.epochs}: EPE {row['train_epe_px']:.3f} px, val EPE {val_epe:.3f} px, {seconds:.0f} s"
            )
        if val_epe < best["val_epe_px"]:
            best = {"epoch": epoch, "val_epe_px": val_epe}
            save_checkpoint(model.state_dict(), best_path)
        end_epoch(
            out, last, config, history, HISTORY_FIELDS, epoch, best, model=model, optimiser=optimiser,
            scheduler=scheduler,
        )  # fmt: skip
    model.load_state_dict(torch.load(best_path, map_location=device, weights_only=True))
    info = flow_bundle_info(
        spec,
        patch_size=size,
        provenance=run_provenance(
            config,
            model,
            "optical pairs generated on the fly (fringenet.simulate.optical.sample_optical_pair)",
            best["epoch"],
            val_epe_px=best["val_epe_px"],
        ),
    )
    return save_bundle(out / "model", model.cpu(), info)
