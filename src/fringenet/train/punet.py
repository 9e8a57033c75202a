"""Training PUNet (phase unwrapping) on simulated high-gradient patches generated on the fly.

Every patch is drawn from its own seed ``(seed, split, epoch, index)``, so a run is deterministic,
a resumed epoch sees exactly the patches it would have seen, and validation patches never overlap
training ones. A patch's true phase is a few deformation sources (Mogi, Okada, Gaussian bowls)
seen in a random line of sight, plus a ramp and turbulent atmosphere, scaled so its steepest
gradient is a random fraction of ``max_gradient_rad_per_px`` (several to tens of fringes); the
observed phase adds coherence-driven multilook noise, and some patches have no-data holes and
decorrelated blobs.

The loss (:func:`punet_loss`) is the masked L1 between the mean-free predicted phase and the
mean-free correctly unwrapped observation, plus per-step terms on the gradient the network
corrects (cross-entropy of the cycles each step misses, L1 of the corrected step); AdamW with
a warm-up and cosine decay; the best epoch is the one whose validation patches, snapped onto
the data, get the most ambiguities right.

A run folder holds ``config.yaml``, ``history.csv``, ``checkpoints/last.pt`` (resume),
``checkpoints/best.pt`` (best validation epoch) and at the end ``model/``, the bundle of the best
epoch (task ``unwrapping``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn
from torch.utils.data import DataLoader, Dataset

from fringenet.conventions import wrap
from fringenet.errors import InputError
from fringenet.models.bundle import save_bundle
from fringenet.models.device import select_device
from fringenet.models.dncnn import (
    PUNet,
    corrected_gradients,
    expected_correction,
    integrate_gradients,
    step_mask,
)
from fringenet.models.punet import punet_bundle_info, snap_to_wrapped
from fringenet.simulate.atmosphere import turbulent_delay
from fringenet.simulate.decorrelation import multilook_noise
from fringenet.simulate.geometry import los_unit_vector
from fringenet.simulate.sources import distorted_gaussian_bowl, grid_coordinates, mogi, okada_source
from fringenet.simulate.terrain import power_law_field
from fringenet.train.trainer import (
    begin_run,
    end_epoch,
    last_checkpoint,
    optimiser_step,
    run_provenance,
    save_checkpoint,
    warmup_cosine,
)

FloatArray = NDArray[np.float64]
HISTORY_FIELDS = (
    "epoch", "train_loss", "val_loss", "val_right_ambiguity", "learning_rate", "seconds", "patches_per_second",
)  # fmt: skip
_TRAIN, _VAL = 0, 1


class UnwrapSimulation(BaseModel):
    """How the training (and benchmark) patches are simulated."""

    model_config = ConfigDict(extra="forbid")

    max_gradient_rad_per_px: float = Field(
        2.5, gt=0.0, lt=math.pi, description="Steepest true phase gradient of a patch (rad/px), below pi."
    )
    min_gradient_fraction: float = Field(
        0.3, gt=0.0, le=1.0, description="Each patch's steepest gradient is U(this, 1) x the maximum."
    )
    max_sources: int = Field(3, ge=1, le=10, description="Deformation sources per patch: 1 to this.")
    atmosphere_rms_rad: float = Field(1.0, ge=0.0, le=20.0, description="Largest turbulent APS RMS (rad).")
    ramp_max_rad_per_px: float = Field(0.3, ge=0.0, le=3.0, description="Largest planar ramp (rad/px).")
    coherence_min: float = Field(0.5, ge=0.0, le=1.0, description="Lowest patch coherence level.")
    coherence_max: float = Field(0.95, ge=0.0, le=1.0, description="Highest patch coherence level.")
    looks: int = Field(4, ge=1, le=100, description="Looks of the phase noise.")
    hole_probability: float = Field(
        0.3, ge=0.0, le=1.0, description="Share of patches with no-data (NaN) holes."
    )
    decorrelated_probability: float = Field(
        0.2, ge=0.0, le=1.0, description="Share of patches with a decorrelated (coherence ~0.15) blob."
    )

    @model_validator(mode="after")
    def _range(self) -> UnwrapSimulation:
        if self.coherence_min > self.coherence_max:
            raise ValueError("coherence_min must not exceed coherence_max")
        return self


class PUNetTrainConfig(BaseModel):
    """A PUNet training run (``fringenet train-unwrapper --config CFG.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    n_train: int = Field(1024, ge=1, description="Fresh simulated training patches per epoch.")
    n_val: int = Field(64, ge=1, description="Fixed validation patches.")
    patch_size: int = Field(64, ge=16, le=512, description="Patch side (pixels).")
    epochs: int = Field(8, ge=1, le=10_000, description="Training epochs.")
    batch_size: int = Field(8, ge=1, le=4096, description="Patches per batch.")
    learning_rate: float = Field(2e-3, gt=0.0, le=1.0, description="Peak AdamW learning rate.")
    weight_decay: float = Field(1e-4, ge=0.0, le=1.0, description="AdamW weight decay.")
    warmup_fraction: float = Field(0.03, ge=0.0, lt=1.0, description="Linear warm-up share, then cosine.")
    grad_clip: float | None = Field(1.0, gt=0.0, description="Clip the gradient norm to this (None = off).")
    step_loss_weight: float = Field(
        5.0,
        ge=0.0,
        le=100.0,
        description="Weight of the auxiliary per-step losses (missing-cycle cross-entropy, gradient L1); 0 = phase L1 only.",
    )
    missing_cycle_weight: float = Field(
        10.0, ge=1.0, le=1000.0, description="Cross-entropy weight of the rare steps that miss a cycle."
    )
    width: int = Field(32, ge=4, le=512, description="PUNet feature channels.")
    depth: int = Field(10, ge=3, le=128, description="PUNet convolution layers.")
    use_coherence: bool = Field(False, description="Give the network coherence as a third channel.")
    simulation: UnwrapSimulation = Field(default_factory=UnwrapSimulation, description="Patch simulation.")
    device: str = Field("auto", description="'auto' (CUDA, MPS, else CPU), 'cpu', 'cuda', ...")
    seed: int = Field(0, ge=0, description="Seed of weights and patches.")


@dataclass(frozen=True)
class UnwrapPatch:
    """One simulated patch, ``(H, W)`` float64 arrays."""

    truth: FloatArray
    """Noise-free unwrapped phase (rad), on the data's level: ``wrapped = wrap(truth + noise)``."""
    wrapped: FloatArray
    """Observed wrapped phase (rad) in [-pi, pi), with phase noise; NaN = no data."""
    coherence: FloatArray
    """True coherence in [0, 1] (of the noise), defined everywhere."""


def _blob(rng: np.random.Generator, shape: tuple[int, int], fraction: float) -> NDArray[np.bool_]:
    """A smooth random region covering about ``fraction`` of the patch."""
    field = power_law_field(rng, shape, -4.0)
    return np.asarray(field > np.quantile(field, 1.0 - fraction))


def _deformation(rng: np.random.Generator, shape: tuple[int, int], n_sources: int) -> FloatArray:
    """Sum of random sources in a random LOS, each scaled to a peak of U(0.3, 1) with a random sign."""
    x, y = grid_coordinates(shape, 1.0)
    size = float(max(shape))
    los = np.asarray(los_unit_vector(rng.uniform(20.0, 45.0), rng.uniform(-180.0, 180.0)))
    total = np.zeros(shape)
    for _ in range(n_sources):
        xs, ys = rng.uniform(-0.6, 0.6, 2) * size
        kind = rng.integers(3)
        if kind == 0:
            disp = mogi(x, y, xs, ys, rng.uniform(0.05, 0.5) * size, 1.0)
        elif kind == 1:
            dip, width = rng.uniform(10.0, 90.0), rng.uniform(0.05, 0.4) * size
            # buried top edge: a surface rupture is a phase discontinuity no unwrapper can follow
            depth = width / 2.0 * np.sin(np.deg2rad(dip)) + rng.uniform(0.03, 0.3) * size
            disp = okada_source(
                x, y, xs, ys, depth, rng.uniform(0.0, 360.0), dip, rng.uniform(0.1, 0.8) * size, width,
                rake_deg=rng.uniform(-180.0, 180.0), slip_m=1.0, opening_m=rng.choice([0.0, 1.0]),
            )  # fmt: skip
        else:
            sigma = rng.uniform(0.05, 0.4) * size
            disp = distorted_gaussian_bowl(
                x, y, xs, ys, sigma, sigma * rng.uniform(0.4, 1.0), rng.uniform(0.0, 180.0),
                rng.uniform(-0.5, 0.5), 1.0,
            )  # fmt: skip
        pattern = np.tensordot(los, disp, axes=1)
        peak = float(np.max(np.abs(pattern)))
        if peak > 0:
            total += rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 1.0) * pattern / peak
    return total


def _max_gradient(phase: FloatArray) -> float:
    return float(max(np.max(np.abs(np.diff(phase, axis=0))), np.max(np.abs(np.diff(phase, axis=1)))))


def simulate_unwrapping_patch(
    rng: np.random.Generator, shape: tuple[int, int], sim: UnwrapSimulation | None = None
) -> UnwrapPatch:
    """A random high-gradient interferogram patch of ``shape`` (pixels) with its true unwrapped phase."""
    sim = sim or UnwrapSimulation()
    h, w = shape
    if h < 8 or w < 8:
        raise InputError("simulation", f"patch must be at least 8 x 8 px (got {shape})")
    signal = _deformation(rng, shape, int(rng.integers(1, sim.max_sources + 1)))
    target = rng.uniform(sim.min_gradient_fraction, 1.0) * sim.max_gradient_rad_per_px
    signal *= target / max(_max_gradient(signal), 1e-12)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    yy, xx = np.mgrid[:h, :w]
    signal += rng.uniform(0.0, sim.ramp_max_rad_per_px) * (np.cos(angle) * xx + np.sin(angle) * yy)
    if sim.atmosphere_rms_rad > 0:
        signal += turbulent_delay(rng, shape, 1, rng.uniform(0.0, sim.atmosphere_rms_rad))[0]
    # ramp and atmosphere must not push the steepest gradient past the limit
    steepest = _max_gradient(signal)
    if steepest > sim.max_gradient_rad_per_px:
        signal *= sim.max_gradient_rad_per_px / steepest
    level = rng.uniform(sim.coherence_min, sim.coherence_max)
    coherence = np.clip(level + 0.05 * power_law_field(rng, shape, -3.0), 0.05, 0.99)
    if rng.random() < sim.decorrelated_probability:
        coherence[_blob(rng, shape, rng.uniform(0.02, 0.1))] = rng.uniform(0.05, 0.25)
    noise, _ = multilook_noise(rng, coherence, sim.looks)
    wrapped = np.asarray(wrap(signal + noise), dtype=np.float64)
    valid = np.ones(shape, dtype=bool)
    if rng.random() < sim.hole_probability:
        valid &= ~_blob(rng, shape, rng.uniform(0.02, 0.1))
    wrapped[~valid] = np.nan
    return UnwrapPatch(signal, wrapped, coherence)


def correct_ambiguity_fraction(unwrapped: ArrayLike, truth: ArrayLike) -> float:
    """Share of pixels whose integer ambiguity is right, up to one global 2 pi k offset.

    ``k = round((unwrapped - truth - c) / 2 pi)`` per pixel, with ``c`` the circular mean of
    ``unwrapped - truth`` (0 when ``truth`` is on the data's level; it removes a fractional level
    difference, e.g. a mean-free truth, that would otherwise round pixels either way). The answer
    is the share of pixels valid in both whose ``k`` equals the most common ``k`` (the patch's
    mode). NaN in ``unwrapped`` (not unwrapped) counts as wrong where ``truth`` is finite; NaN in
    ``truth`` is ignored.
    """
    u, t = np.asarray(unwrapped, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    scored = np.isfinite(t)
    if not scored.any():
        return float("nan")
    ok = scored & np.isfinite(u)
    if not ok.any():
        return 0.0
    difference = u[ok] - t[ok]
    level = np.angle(np.mean(np.exp(1j * difference)))
    k = np.rint((difference - level) / (2.0 * np.pi)).astype(np.int64)
    _, counts = np.unique(k, return_counts=True)
    return float(counts.max() / scored.sum())


class SimulatedPatches(Dataset[dict[str, torch.Tensor]]):
    """``n`` patches of one split; patch ``i`` of epoch ``e`` comes from seed ``(seed, split, e, i)``."""

    def __init__(
        self, n: int, size: int, sim: UnwrapSimulation, seed: int, split: int, use_coherence: bool
    ) -> None:
        self.n, self.size, self.sim, self.seed, self.split = n, size, sim, seed, split
        self.use_coherence = use_coherence
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.split, self.epoch, index])
        patch = simulate_unwrapping_patch(rng, (self.size, self.size), self.sim)
        return patch_tensors(patch, self.use_coherence)


def observed_unwrapped(patch: UnwrapPatch) -> FloatArray:
    """The correctly unwrapped observation ``wrapped + 2 pi round((truth - wrapped) / 2 pi)`` (rad).

    What a perfect unwrapper returns: the data's own phase, noise included (NaN where no data).
    This, not the noise-free truth, is the training target, so the network spends nothing on
    denoising that the snapping onto the data would undo.
    """
    cycles = np.rint((patch.truth - patch.wrapped) / (2.0 * np.pi))
    return np.asarray(patch.wrapped + 2.0 * np.pi * cycles, dtype=np.float64)


def patch_tensors(patch: UnwrapPatch, use_coherence: bool) -> dict[str, torch.Tensor]:
    """Tensors of one patch for training and validation.

    ``image`` (C, H, W) float32 network input (cos, sin[, coherence], 0 on no data); ``target`` and
    ``valid`` (1, H, W) float32: :func:`observed_unwrapped` (the truth on no data) and the data mask;
    ``wrapped``, ``truth`` (NaN on no data) and ``coherence`` (H, W) float64 for scoring.
    """
    valid = np.isfinite(patch.wrapped)
    filled = np.where(valid, patch.wrapped, 0.0)
    layers = [np.where(valid, np.cos(filled), 0.0), np.where(valid, np.sin(filled), 0.0)]
    if use_coherence:
        layers.append(np.where(valid, patch.coherence, 0.0))
    target = np.where(valid, observed_unwrapped(patch), patch.truth)
    return {
        "image": torch.from_numpy(np.stack(layers).astype(np.float32)),
        "target": torch.from_numpy(target[None].astype(np.float32)),
        "valid": torch.from_numpy(valid[None].astype(np.float32)),
        "wrapped": torch.from_numpy(patch.wrapped),
        "truth": torch.from_numpy(np.where(valid, patch.truth, np.nan)),
        "coherence": torch.from_numpy(patch.coherence),
    }


def step_differences(phase: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Differences of ``(B, 1, H, W)`` phases to the next column and row, ``(B, 2, H, W)`` rad/px,
    laid out as :func:`~fringenet.models.dncnn.wrapped_gradients`, and where both pixels are valid (0/1)."""
    pad = torch.nn.functional.pad
    gx = pad(phase[..., :, 1:] - phase[..., :, :-1], (0, 1, 0, 0))
    gy = pad(phase[..., 1:, :] - phase[..., :-1, :], (0, 0, 0, 1))
    return torch.cat([gx, gy], dim=1), step_mask(valid)


def punet_loss(
    model: PUNet,
    image: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor,
    step_weight: float,
    missing_cycle_weight: float = 1.0,
) -> torch.Tensor:
    """Mean-free phase L1 (rad) over valid pixels plus ``step_weight`` x the step terms.

    ``target`` ``(B, 1, H, W)`` is the correctly unwrapped observation (:func:`observed_unwrapped`)
    on valid pixels and the truth in no-data holes. Its steps between valid pixels are the wrapped
    gradient plus whole cycles (-1, 0 or +1; more are clipped), which the network's cycle logits
    learn by cross-entropy; every step, holes included, is also matched in L1 (rad/px) by the
    corrected gradient. Steps that miss a cycle are rare (well under 1 %), so their cross-entropy
    counts ``missing_cycle_weight`` times. The step terms supervise the residual pixel by pixel: the phase term
    alone reaches it only through the global integration, which spreads a local error over the
    whole patch, and the few wrong steps would drown in it.
    """
    pixels, wrapped, logits, residual = model.parts(image)
    gradients = corrected_gradients(pixels, wrapped, expected_correction(logits), residual)
    loss = mean_free_l1(integrate_gradients(gradients), target, valid)
    if step_weight > 0:
        steps, defined = step_differences(target, valid)
        missing = torch.round((steps - wrapped) / (2.0 * math.pi)).clamp(-1, 1).long() + 1
        nll = nn.functional.cross_entropy(logits.transpose(1, 2), missing, reduction="none")
        weight = defined * torch.where(missing == 1, 1.0, missing_cycle_weight)
        cross_entropy = (nll * weight).sum() / defined.sum().clamp_min(1.0)
        step_l1 = (gradients - steps)[..., :-1, :-1].abs().mean()  # the last row/column of x/y are padding
        loss = loss + step_weight * (cross_entropy + step_l1)
    return loss


def mean_free_l1(predicted: torch.Tensor, truth: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Masked L1 (rad) between ``(B, 1, H, W)`` phases after removing each one's mean over valid pixels."""
    count = valid.sum(dim=(-2, -1), keepdim=True).clamp_min(1.0)
    p = predicted - (predicted * valid).sum(dim=(-2, -1), keepdim=True) / count
    t = truth - (truth * valid).sum(dim=(-2, -1), keepdim=True) / count
    return ((p - t).abs() * valid).sum() / valid.sum().clamp_min(1.0)


@torch.no_grad()
def validate_punet(
    model: PUNet, samples: SimulatedPatches, config: PUNetTrainConfig, device: torch.device
) -> dict[str, float]:
    """Loss and the mean share of right ambiguities (against the noise-free truth) after snapping."""
    model.eval()
    losses, weights, right = [], [], []
    for batch in DataLoader(samples, batch_size=config.batch_size, shuffle=False):
        image, target, valid = (batch[k].to(device) for k in ("image", "target", "valid"))
        loss = punet_loss(model, image, target, valid, config.step_loss_weight, config.missing_cycle_weight)
        losses.append(float(loss))
        weights.append(float(batch["valid"].sum()))
        pred = model(image).double().cpu().numpy()
        for i in range(pred.shape[0]):
            wrapped = batch["wrapped"][i].numpy()
            snapped = snap_to_wrapped(pred[i, 0], wrapped, batch["coherence"][i].numpy())
            right.append(correct_ambiguity_fraction(snapped, batch["truth"][i].numpy()))
    return {
        "loss": float(np.average(losses, weights=np.maximum(weights, 1e-9))),
        "right_ambiguity": float(np.mean(right)),
    }


def run_train_punet(
    config: PUNetTrainConfig, out_dir: str | Path, *, resume: bool = False, progress: bool = False
) -> Path:
    """Train a PUNet; returns the bundle folder ``out_dir/model``.

    With ``resume`` the run continues from ``out_dir/checkpoints/last.pt`` (same config required)
    and ends with the same weights as an uninterrupted run.
    """
    from tqdm import tqdm

    out = Path(out_dir)
    last, best_path = last_checkpoint(out, resume), out / "checkpoints" / "best.pt"
    device = select_device(config.device)
    in_channels = 3 if config.use_coherence else 2
    torch.manual_seed(config.seed)
    model = PUNet(in_channels=in_channels, width=config.width, depth=config.depth).to(device)
    size = config.patch_size
    train = SimulatedPatches(
        config.n_train, size, config.simulation, config.seed, _TRAIN, config.use_coherence
    )
    val = SimulatedPatches(config.n_val, size, config.simulation, config.seed, _VAL, config.use_coherence)
    loader = DataLoader(
        train, batch_size=config.batch_size, shuffle=False, drop_last=config.n_train > config.batch_size
    )
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
        {"epoch": 0, "right_ambiguity": -1.0, "loss": math.inf},
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
            loss = punet_loss(
                model,
                batch["image"].to(device),
                batch["target"].to(device),
                batch["valid"].to(device),
                config.step_loss_weight,
                config.missing_cycle_weight,
            )
            optimiser_step(loss, model, optimiser, scheduler, config.grad_clip)
            n = batch["image"].shape[0]
            seen, running = seen + n, running + loss.item() * n
            bar.set_postfix(loss=f"{loss.item():.3f}")
        seconds = time.perf_counter() - tic
        metrics = validate_punet(model, val, config, device)
        row = {
            "epoch": epoch, "train_loss": running / max(seen, 1), "val_loss": metrics["loss"],
            "val_right_ambiguity": metrics["right_ambiguity"], "learning_rate": float(scheduler.get_last_lr()[0]),
            "seconds": seconds, "patches_per_second": seen / max(seconds, 1e-9),
        }  # fmt: skip
        history.append(row)
        if progress:
            tqdm.write(
                f"epoch {epoch}/{config.epochs}: loss {row['train_loss']:.3f} rad, val loss {row['val_loss']:.3f} rad, "
                f"val right ambiguity {row['val_right_ambiguity']:.4f}, {seconds:.0f} s"
            )
        score = (metrics["right_ambiguity"], -metrics["loss"])
        if score > (best["right_ambiguity"], -best["loss"]):
            best = {"epoch": epoch, "right_ambiguity": metrics["right_ambiguity"], "loss": metrics["loss"]}
            save_checkpoint(model.state_dict(), best_path)
        end_epoch(
            out, last, config, history, HISTORY_FIELDS, epoch, best, model=model, optimiser=optimiser,
            scheduler=scheduler,
        )  # fmt: skip
    model.load_state_dict(torch.load(best_path, map_location=device, weights_only=True))
    info = punet_bundle_info(
        model,
        patch_size=size,
        provenance=run_provenance(
            config,
            model,
            "simulated on the fly (fringenet.train.punet.simulate_unwrapping_patch)",
            best["epoch"],
            val_right_ambiguity=best["right_ambiguity"],
            val_l1_rad=best["loss"],
        ),
    )
    return save_bundle(out / "model", model.cpu(), info)
