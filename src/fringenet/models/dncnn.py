"""Full-resolution DnCNN-family networks: DDNet (deformation detection) and PUNet (phase unwrapping).

Both keep the input resolution end to end (no down-sampling), so they accept any ``H x W``,
odd sizes included, and need no padding to a stride.

- :class:`DDNet` is a DnCNN backbone (Zhang et al. 2017, conv + batch norm + ReLU) whose body is
  made of dilated residual blocks, in the spirit of Anantrasirichai et al.'s deformation detection
  networks: dilations grow the receptive field to ~90 px without losing resolution. It outputs
  segmentation logits.
- :class:`PUNet` regresses the unwrapped phase. A plain DnCNN body sees only ``2 depth + 1`` pixels,
  far less than a many-fringe bowl, so it does what is local: it learns a residual correction to the
  wrapped phase gradient (DnCNN's residual learning, with the wrapped gradient as the "noisy"
  estimate): which steps miss a whole cycle, plus a small continuous refinement. A fixed
  least-squares integration (Ghiglia & Romero 1994, a DCT Poisson solve) turns the corrected
  gradient into a globally consistent phase. With the last layer zero-initialised an untrained
  PUNet is the classic least-squares unwrapper (with no-data holes bridged).
"""

from __future__ import annotations

import math

import torch
from torch import nn

DDNET_DILATIONS = (1, 2, 4, 8, 4, 2, 1)


def _conv_bn_relu(c_in: int, c_out: int, dilation: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class DilatedResidualBlock(nn.Module):
    """Two dilated 3x3 conv + BN layers with an identity skip, then ReLU; ``(B, C, H, W)`` in and out."""

    def __init__(self, width: int, dilation: int) -> None:
        super().__init__()
        self.dilation = dilation
        self.body = nn.Sequential(
            *_conv_bn_relu(width, width, dilation),
            nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(width),
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class DDNet(nn.Module):
    """Deformation detection network: DnCNN head, dilated residual blocks, 1x1 classifier.

    Parameters
    ----------
    in_channels
        Input channels.
    classes
        Output logit maps.
    width
        Feature channels.
    depth
        Number of dilated residual blocks (two 3x3 convs each); block ``i`` uses
        ``dilations[i % len(dilations)]``. Default: one block per dilation.
    dilations
        Dilation cycle of the blocks.

    ``forward``: ``(B, in_channels, H, W)`` -> logits ``(B, classes, H, W)``, any ``H``, ``W``.
    The defaults have ~0.5 M parameters and a receptive field of 89 px.
    """

    def __init__(
        self,
        in_channels: int,
        classes: int = 1,
        width: int = 64,
        depth: int | None = None,
        dilations: tuple[int, ...] = DDNET_DILATIONS,
    ) -> None:
        super().__init__()
        if not dilations or min(dilations) < 1:
            raise ValueError(f"dilations must be positive integers (got {dilations})")
        n_blocks = len(dilations) if depth is None else depth
        if n_blocks < 1:
            raise ValueError(f"depth must be >= 1 block (got {n_blocks})")
        self.in_channels, self.classes = in_channels, classes
        self.head = nn.Sequential(*_conv_bn_relu(in_channels, width))
        self.blocks = nn.Sequential(
            *(DilatedResidualBlock(width, dilations[i % len(dilations)]) for i in range(n_blocks))
        )
        self.classifier = nn.Conv2d(width, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.blocks(self.head(x)))


def _step_angle(c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Angle of ``z[..., j + 1] * conj(z[..., j])``, ``z = c + i s``: the wrapped step along the last axis."""
    return torch.atan2(
        s[..., 1:] * c[..., :-1] - c[..., 1:] * s[..., :-1],
        c[..., 1:] * c[..., :-1] + s[..., 1:] * s[..., :-1],
    )


def wrapped_gradients(cos_phase: torch.Tensor, sin_phase: torch.Tensor) -> torch.Tensor:
    """Wrapped phase differences to the next column and row, ``(B, 2, H, W)`` in rad/px.

    Channel 0 is ``wrap(phi[:, j + 1] - phi[:, j])``, channel 1 ``wrap(phi[i + 1] - phi[i])``, from
    ``(B, H, W)`` cosines and sines (any amplitude; zero amplitude = no data gives 0). The last
    column of channel 0 and the last row of channel 1 lie outside the image and are 0.
    """
    gx = _step_angle(cos_phase, sin_phase)
    gy = _step_angle(cos_phase.transpose(-1, -2), sin_phase.transpose(-1, -2)).transpose(-1, -2)
    gx = nn.functional.pad(gx, (0, 1, 0, 0))
    gy = nn.functional.pad(gy, (0, 0, 0, 1))
    return torch.stack([gx, gy], dim=1)


FIRST_FILL_WINDOW = 5
"""Smallest box window (px) of :func:`fill_gaps`; it roughly doubles until every gap is filled."""


def step_mask(valid: torch.Tensor) -> torch.Tensor:
    """Steps between two valid pixels, ``(B, 2, H, W)`` 0/1 laid out as :func:`wrapped_gradients`, from
    a ``(B, 1, H, W)`` 0/1 pixel mask."""
    pad = nn.functional.pad
    vx = pad(valid[..., :, 1:] * valid[..., :, :-1], (0, 1, 0, 0))
    vy = pad(valid[..., 1:, :] * valid[..., :-1, :], (0, 0, 0, 1))
    return torch.cat([vx, vy], dim=1)


def fill_gaps(gradients: torch.Tensor, defined: torch.Tensor) -> torch.Tensor:
    """Gradients with undefined steps filled from nearby defined ones (normalised convolution).

    A no-data hole gives a wrapped gradient of 0 inside it, which the least-squares integration
    would take as flat ground and bend the phase around the hole by up to the whole fringe count
    across it. Each undefined step takes the mean of the defined steps in the smallest box (5, 9,
    17, 33, ... px) that holds any, so holes of any size are bridged; ``(B, 2, H, W)`` in and out,
    ``defined`` 0/1 alike. The last row of x-steps and column of y-steps (padding) stay as given.
    """
    # the padding steps are neither sources nor gaps
    inside = torch.ones_like(defined)
    inside[:, 0, :, -1] = 0.0
    inside[:, 1, -1, :] = 0.0
    defined = defined * inside
    out, missing = gradients * defined, (defined == 0) & (inside > 0)
    size, largest = FIRST_FILL_WINDOW, 2 * max(gradients.shape[-2:]) + 1
    while bool(missing.any()) and size <= 2 * largest:
        pool = (min(size, largest), 1, min(size, largest) // 2)
        num = nn.functional.avg_pool2d(gradients * defined, *pool, count_include_pad=False)
        den = nn.functional.avg_pool2d(defined, *pool, count_include_pad=False)
        take = missing & (den > 0)
        out = torch.where(take, num / den.clamp_min(1e-12), out)
        missing = missing & ~take
        size = 2 * size - 1
    return out


def residues(gradients: torch.Tensor) -> torch.Tensor:
    """Phase residues ``(B, 1, H, W)`` in cycles (-1, 0, +1 for wrapped gradients) of a gradient field.

    The circulation around the 2 x 2 loop whose top-left pixel is ``(i, j)``, divided by 2 pi:
    non-zero where the wrapped gradient cannot be integrated, i.e. where some step around the
    loop misses a cycle. Input laid out as :func:`wrapped_gradients`; last row and column are 0.
    """
    gx, gy = gradients[:, 0], gradients[:, 1]
    loop = gx[..., :-1, :-1] + gy[..., :-1, 1:] - gx[..., 1:, :-1] - gy[..., :-1, :-1]
    return nn.functional.pad(loop, (0, 1, 0, 1))[:, None] / (2.0 * math.pi)


def integrate_gradients(gradients: torch.Tensor) -> torch.Tensor:
    """Least-squares phase from a gradient field (Neumann boundaries), ``(B, 1, H, W)``, mean zero.

    ``gradients`` is ``(B, 2, H, W)`` laid out as :func:`wrapped_gradients` returns (last column
    of x and last row of y are ignored). Solves the discrete Poisson equation by FFT of the
    mirror-extended divergence, which equals the DCT solution of Ghiglia & Romero (1994) and is
    differentiable. Exact (to rounding) for a curl-free field.
    """
    _, _, h, w = gradients.shape
    gx = gradients[:, 0].clone()
    gy = gradients[:, 1].clone()
    gx[..., :, -1] = 0.0
    gy[..., -1, :] = 0.0
    # divergence with zero flux across the border: rho = gx[j] - gx[j-1] + gy[i] - gy[i-1]
    rho = gx - nn.functional.pad(gx[..., :, :-1], (1, 0, 0, 0))
    rho = rho + gy - nn.functional.pad(gy[..., :-1, :], (0, 0, 1, 0))
    ext = torch.cat([rho, rho.flip(-1)], dim=-1)
    ext = torch.cat([ext, ext.flip(-2)], dim=-2)
    spectrum = torch.fft.rfft2(ext)
    ky = torch.arange(2 * h, device=ext.device, dtype=ext.dtype)
    kx = torch.arange(w + 1, device=ext.device, dtype=ext.dtype)
    eig = (2.0 * torch.cos(math.pi * ky / h) - 2.0)[:, None] + (2.0 * torch.cos(math.pi * kx / w) - 2.0)[None]
    eig[0, 0] = 1.0  # the mean is free: set to zero below
    spectrum = spectrum / eig
    spectrum[..., 0, 0] = 0.0
    phase = torch.fft.irfft2(spectrum, s=(2 * h, 2 * w))[..., :h, :w]
    return phase[:, None]


class PUNet(nn.Module):
    """Phase unwrapping network: a DnCNN corrects the wrapped gradient, least squares integrates it.

    The wrapped gradient is right wherever the true one is below pi and the noise is low; where it
    is not, it misses whole cycles. In no-data holes it is filled from around the hole
    (:func:`fill_gaps`). The DnCNN body (residual learning) then predicts, for every step to the
    next column and row, the probabilities of missing -1, 0 or +1 cycle, plus a small continuous
    residual (refining the filled holes). The corrected gradient is the wrapped one plus 2 pi
    times the expected cycles plus the residual, and its least-squares integral is the
    unwrapped phase.

    Parameters
    ----------
    in_channels
        2 for ``(cos, sin)`` of the wrapped phase, 3 to add coherence (in [0, 1]) as channel 2.
        No-data pixels are given as ``cos = sin = 0``.
    width
        Feature channels of the DnCNN body.
    depth
        Convolution layers (Zhang et al. 2017 use 17): conv + ReLU, ``depth - 2`` conv + BN + ReLU,
        conv. They see the inputs, the wrapped gradient and its residues (:func:`residues`).
        Receptive field ``2 depth + 3`` px (with the gradient).

    ``forward``: ``(B, in_channels, H, W)`` -> unwrapped phase ``(B, 1, H, W)`` in rad, mean zero over
    the image (the absolute level of unwrapped phase is arbitrary). Any ``H``, ``W`` >= 2.
    """

    CYCLES = (-1.0, 0.0, 1.0)

    def __init__(self, in_channels: int = 2, width: int = 64, depth: int = 17) -> None:
        super().__init__()
        if in_channels not in (2, 3):
            raise ValueError(f"PUNet takes 2 (cos, sin) or 3 (+ coherence) channels (got {in_channels})")
        if depth < 3:
            raise ValueError(f"depth must be >= 3 layers (got {depth})")
        self.in_channels, self.width, self.depth = in_channels, width, depth
        # inputs, wrapped gradient (2) and residues (1)
        layers: list[nn.Module] = [nn.Conv2d(in_channels + 3, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += _conv_bn_relu(width, width)
        tail = nn.Conv2d(width, 2 * (len(self.CYCLES) + 1), 3, padding=1)
        # zero start: equal logits (no expected correction) and no residual, so the untrained
        # network is plain least-squares unwrapping of the wrapped gradient
        for param in tail.parameters():
            nn.init.zeros_(param)
        layers.append(tail)
        self.body = nn.Sequential(*layers)

    @property
    def halo_px(self) -> int:
        """Pixels of context :meth:`head` needs per side (for tiled inference)."""
        return self.depth + 1  # + the residue loop

    @staticmethod
    def prepare(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixel mask ``(B, 1, H, W)`` (0 = no data: cos = sin = 0) and the wrapped gradient with its
        gaps filled (:func:`fill_gaps`), ``(B, 2, H, W)`` rad/px. No parameters; needs the whole image."""
        valid = (x[:, :2].abs().sum(dim=1, keepdim=True) > 0).to(x.dtype)
        wrapped = wrapped_gradients(x[:, 0], x[:, 1])
        if not bool(valid.all()):
            wrapped = fill_gaps(wrapped, step_mask(valid))
        return valid, wrapped

    def head(self, x: torch.Tensor, wrapped: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The DnCNN body on inputs and their :meth:`prepare`-d gradient: logits of the cycles -1, 0, +1
        each step misses ``(B, 2, 3, H, W)`` (axis 1 the step direction x, y) and the continuous
        residual ``(B, 2, H, W)`` (rad/px). Local: each output sees :attr:`halo_px` pixels around it."""
        out = self.body(torch.cat([x, wrapped, residues(wrapped)], dim=1))
        b, _, h, w = out.shape
        k = len(self.CYCLES)
        return out[:, : 2 * k].reshape(b, 2, k, h, w), out[:, 2 * k :]

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`prepare` then :meth:`head`: pixel mask, filled wrapped gradient, cycle logits, residual."""
        valid, wrapped = self.prepare(x)
        return valid, wrapped, *self.head(x, wrapped)

    def gradients(self, x: torch.Tensor) -> torch.Tensor:
        """Corrected phase gradient ``(B, 2, H, W)`` (rad/px), laid out as :func:`wrapped_gradients`."""
        valid, wrapped, logits, residual = self.parts(x)
        return corrected_gradients(valid, wrapped, expected_correction(logits), residual)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return integrate_gradients(self.gradients(x))


def corrected_gradients(
    valid: torch.Tensor, wrapped: torch.Tensor, correction: torch.Tensor, residual: torch.Tensor
) -> torch.Tensor:
    """Wrapped gradient + cycle correction (:func:`expected_correction`), gaps re-filled, + residual.

    Arguments as :meth:`PUNet.parts` gives them, ``(B, 2, H, W)`` rad/px (mask ``(B, 1, H, W)``).
    The gaps are filled again after the cycle correction, so that a wrapped step that misses a
    cycle next to a hole does not leak its error into the hole.
    """
    corrected = wrapped + correction
    if not bool(valid.all()):
        corrected = fill_gaps(corrected, step_mask(valid))
    return corrected + residual


def expected_correction(logits: torch.Tensor) -> torch.Tensor:
    """``2 pi`` x the expected missing cycles, ``(B, 2, H, W)`` rad/px, from logits ``(B, 2, 3, H, W)``
    of the cycles :attr:`PUNet.CYCLES`."""
    cycles = torch.tensor(PUNet.CYCLES, dtype=logits.dtype, device=logits.device)
    return 2.0 * math.pi * (torch.softmax(logits, dim=2) * cycles[:, None, None]).sum(dim=2)
