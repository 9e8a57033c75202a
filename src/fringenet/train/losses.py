"""Losses over valid pixels only (the thesis's masked BCE, plus Dice and focal terms)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fringenet.train.config import LossConfig


def masked_bce(logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy summed over valid pixels and divided by their number."""
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (loss * valid).sum() / valid.sum().clamp_min(1.0)


def masked_focal(
    logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, gamma: float
) -> torch.Tensor:
    """Focal loss (Lin et al. 2017) with soft targets, averaged over valid pixels."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * target + (1 - p) * (1 - target)
    return (bce * (1 - p_t) ** gamma * valid).sum() / valid.sum().clamp_min(1.0)


def masked_dice(
    logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, eps: float = 1.0
) -> torch.Tensor:
    """Soft Dice loss over the valid pixels of the whole batch (1 - Dice)."""
    p = torch.sigmoid(logits) * valid
    t = target * valid
    return 1 - (2 * (p * t).sum() + eps) / (p.sum() + t.sum() + eps)


def segmentation_loss(
    logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, config: LossConfig
) -> torch.Tensor:
    """The configured weighted sum; logits, target and valid are ``(B, 1, H, W)``."""
    logits = logits.float()
    total = logits.new_zeros(())
    if config.bce_weight:
        total = total + config.bce_weight * masked_bce(logits, target, valid)
    if config.dice_weight:
        total = total + config.dice_weight * masked_dice(logits, target, valid)
    if config.focal_weight:
        total = total + config.focal_weight * masked_focal(logits, target, valid, config.focal_gamma)
    return total
