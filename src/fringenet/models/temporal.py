"""Time-series networks: a whole stack in, a moving-area mask and a mean LOS phase rate out.

Three ways to turn a stack into tokens share one factorised space-time transformer and one head:

- ``st_transformer``: every interferogram cut into ``patch x patch`` tiles (ViT-style); a token is
  one tile of one interferogram (cos, sin of the wrapped phase, coherence and the pair's share of
  the stacked phase rate, which for slow motion is the least-squares rate of the wrapped phases).
- ``coherence_transformer``: a token is one tile of one *date*: its row of the per-pixel coherence
  matrix (magnitude, cos and sin of the phase against every other date, and which entries exist).
- ``hybrid``: a small CNN encodes every interferogram; its stride-4/8/16 features, brought to
  stride 8 and concatenated, are the tokens (multi-scale). Pre-trainable as a masked autoencoder.

Each token gets an embedding of its step's dates (years since the first date, temporal baseline,
day of year) and of its tile's terrain (elevation, slope, aspect) and position. Blocks alternate
attention over time (per tile, padded steps masked out) and over space (per step). An attention
pooling over time gives one token per tile; a pixel-shuffle decoder with a full-resolution context
branch predicts two maps: the mask logit and the mean LOS phase rate (rad/yr, converted to m/yr
with the product's wavelength by the caller, see docs/conventions.md).
"""

from __future__ import annotations

from typing import Any

from fringenet.models._torchvision import ensure_torchvision

ensure_torchvision()  # timm imports torchvision, whose extension may not load beside a CPU torch

import timm  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from timm.layers import DropPath, Mlp  # noqa: E402
from torch import nn  # noqa: E402

from fringenet.models.spec import (  # noqa: E402,F401  (re-exported: the specs live apart from timm)
    PAIR_CHANNELS,
    RATE_CLIP,
    RATE_SCALE_RAD_PER_YR,
    TEMPORAL_ARCHITECTURES,
    TERRAIN_CHANNELS,
    TIME_FEATURES,
    TemporalModelSpec,
)


def sincos_2d(h: int, w: int, dim: int, device: torch.device) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embedding ``(h * w, dim)`` of a token grid."""
    quarter = dim // 4
    omega = 1.0 / (10000 ** (torch.arange(quarter, device=device, dtype=torch.float32) / max(quarter, 1)))
    yy, xx = torch.meshgrid(
        torch.arange(h, device=device, dtype=torch.float32),
        torch.arange(w, device=device, dtype=torch.float32),
        indexing="ij",
    )
    parts = [f(v.reshape(-1, 1) * omega) for v in (yy, xx) for f in (torch.sin, torch.cos)]
    emb = torch.cat(parts, dim=1)
    return F.pad(emb, (0, dim - emb.shape[1]))


class FactorisedBlock(nn.Module):
    """Attention over time per tile, then over space per step, then an MLP (pre-norm, residual)."""

    def __init__(self, dim: int, heads: int, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm_t, self.norm_s, self.norm_m = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn_t = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.attn_s = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = Mlp(dim, 2 * dim)
        self.drop = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.capture = False
        self.attention: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor, step_mask: torch.Tensor) -> torch.Tensor:
        b, s, n, d = x.shape
        xt = x.permute(0, 2, 1, 3).reshape(b * n, s, d)
        pad = (~step_mask).repeat_interleave(n, dim=0)
        q = self.norm_t(xt)
        out, w_t = self.attn_t(q, q, q, key_padding_mask=pad, need_weights=self.capture)
        xt = xt + self.drop(out)
        x = xt.reshape(b, n, s, d).permute(0, 2, 1, 3)
        xs = x.reshape(b * s, n, d)
        q = self.norm_s(xs)
        out, w_s = self.attn_s(q, q, q, need_weights=self.capture)
        xs = xs + self.drop(out)
        xs = xs + self.drop(self.mlp(self.norm_m(xs)))
        if self.capture:
            self.attention = {"time": w_t.reshape(b, n, s, s), "space": w_s.reshape(b, s, n, n)}
        return xs.reshape(b, s, n, d)


class ConvEncoder(nn.Module):
    """Three stride-2 stages with their features brought to stride 8 (the hybrid's built-in CNN)."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int] = (16, 32, 64)) -> None:
        super().__init__()
        stages, c = [], in_channels
        for w in widths:
            stages.append(
                nn.Sequential(
                    nn.Conv2d(c, w, 3, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(w),
                    nn.GELU(),
                    nn.Conv2d(w, w, 3, padding=1, bias=False),
                    nn.BatchNorm2d(w),
                    nn.GELU(),
                )
            )
            c = w
        self.stages = nn.ModuleList(stages)
        self.channels = list(widths)
        self.reductions = [2, 4, 8]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


def _build_cnn(name: str, in_channels: int) -> tuple[nn.Module, list[int], list[int]]:
    if name == "conv":
        enc = ConvEncoder(in_channels)
        return enc, enc.channels, enc.reductions
    probe: Any = timm.create_model(name, features_only=True, pretrained=False, in_chans=in_channels)
    wanted = tuple(k for k, r in enumerate(probe.feature_info.reduction()) if r in (4, 8, 16))
    net: Any = timm.create_model(
        name, features_only=True, pretrained=False, in_chans=in_channels, out_indices=wanted
    )
    return net, list(net.feature_info.channels()), list(net.feature_info.reduction())


class TemporalNet(nn.Module):
    """Stack in, ``{"logits": (B,1,H,W), "rate": (B,1,H,W) rad/yr}`` out; see the module docstring.

    Inputs: ``steps (B, S, C, H, W)``, ``time (B, S, TIME_FEATURES)``, ``step_mask (B, S)`` bool
    (True = a real step) and ``terrain (B, TERRAIN_CHANNELS, H, W)``; ``H`` and ``W`` multiples
    of the tile size.
    """

    def __init__(self, spec: TemporalModelSpec) -> None:
        super().__init__()
        self.spec = spec
        d, p, c = spec.dim, spec.patch, spec.step_channels
        if spec.architecture == "hybrid":
            self.cnn, chans, reductions = _build_cnn(spec.encoder, c)
            self.cnn_keep = [k for k, r in enumerate(reductions) if r >= 4]
            self.cnn_reductions = [reductions[k] for k in self.cnn_keep]
            self.embed: nn.Module = nn.Conv2d(sum(chans[k] for k in self.cnn_keep), d, 1)
            self.skip_channels = chans[self.cnn_keep[0]]
        else:
            self.embed = nn.Conv2d(c, d, p, stride=p)
            self.skip_channels = 0
        self.time_embed = Mlp(TIME_FEATURES, d, d)
        self.terrain_embed = nn.Conv2d(TERRAIN_CHANNELS, d, p, stride=p)
        rates = torch.linspace(0.0, spec.drop_path, spec.depth).tolist()
        self.blocks = nn.ModuleList(FactorisedBlock(d, spec.heads, r) for r in rates)
        self.norm = nn.LayerNorm(d)
        self.pool_query = nn.Parameter(torch.zeros(1, 1, d))
        self.pool = nn.MultiheadAttention(d, spec.heads, batch_first=True)
        self.up = nn.Sequential(nn.Conv2d(d, 16 * p * p, 1), nn.PixelShuffle(p))
        context = PAIR_CHANNELS + TERRAIN_CHANNELS + self.skip_channels
        self.head = nn.Sequential(
            nn.Conv2d(16 + context, 32, 3, padding=1), nn.GELU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.GELU(), nn.Conv2d(32, 2, 1),
        )  # fmt: skip
        self.recon = nn.Linear(d, p * p * c)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, 1, d))
        nn.init.trunc_normal_(self.pool_query, std=0.02)
        self.pool_weights: torch.Tensor | None = None
        self.capture = False

    def set_capture(self, on: bool) -> None:
        """Keep the attention weights of the next forward pass (for ``fringenet explain``)."""
        self.capture = on
        for block in self.blocks:
            block.capture = on  # type: ignore[assignment]

    def _tokens(
        self, steps: torch.Tensor, token_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Step tokens ``(B, S, N, D)`` and the hybrid's stride-4 skip features (time-averaged later)."""
        b, s, c, h, w = steps.shape
        flat = steps.reshape(b * s, c, h, w)
        skip = None
        if self.spec.architecture == "hybrid":
            if token_mask is not None:  # masked patches are blanked before the CNN sees them
                blank = F.interpolate(token_mask.reshape(b * s, 1, h // 8, w // 8).float(), scale_factor=8)
                flat = flat * (1.0 - blank)
            feats = self.cnn(flat)
            feats = [feats[k] for k in self.cnn_keep]
            target = (h // 8, w // 8)
            resized = [
                F.adaptive_avg_pool2d(f, target) if f.shape[-1] > target[1] else F.interpolate(f, size=target)
                for f in feats
            ]
            x = self.embed(torch.cat(resized, dim=1))
            skip = feats[0]
        else:
            x = self.embed(flat)
        x = x.flatten(2).transpose(1, 2).reshape(b, s, -1, self.spec.dim)
        if token_mask is not None and self.spec.architecture != "hybrid":
            x = torch.where(token_mask.reshape(b, s, -1, 1), self.mask_token.to(x.dtype), x)
        return x, skip

    def features(
        self,
        steps: torch.Tensor,
        time: torch.Tensor,
        step_mask: torch.Tensor,
        terrain: torch.Tensor,
        token_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-step tokens after the transformer ``(B, S, N, D)``; ``token_mask (B, S, h, w)`` hides tiles."""
        _b, _s, _, h, w = steps.shape
        p = self.spec.patch
        if h % p or w % p:
            raise ValueError(f"input {h}x{w} is not a multiple of the tile size {p}")
        x, skip = self._tokens(steps, token_mask)
        x = x + self.time_embed(time)[:, :, None, :]
        pos = sincos_2d(h // p, w // p, self.spec.dim, x.device).to(x.dtype)
        x = x + pos[None, None]
        if self.spec.terrain:
            x = x + self.terrain_embed(terrain).flatten(2).transpose(1, 2)[:, None]
        for block in self.blocks:
            x = block(x, step_mask)
        return self.norm(x), skip

    def forward(
        self,
        steps: torch.Tensor,
        time: torch.Tensor,
        step_mask: torch.Tensor,
        terrain: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        b, s, _, h, w = steps.shape
        p, d = self.spec.patch, self.spec.dim
        x, skip = self.features(steps, time, step_mask, terrain)
        n = x.shape[2]
        xt = x.permute(0, 2, 1, 3).reshape(b * n, s, d)
        pad = (~step_mask).repeat_interleave(n, dim=0)
        pooled, weights = self.pool(
            self.pool_query.expand(b * n, 1, d).to(xt.dtype), xt, xt,
            key_padding_mask=pad, need_weights=self.capture,
        )  # fmt: skip
        if self.capture:
            self.pool_weights = weights.reshape(b, n, s)
        grid = pooled.reshape(b, h // p, w // p, d).permute(0, 3, 1, 2)
        m = step_mask[:, :, None, None, None].to(steps.dtype)
        mean_steps = (steps[:, :, :PAIR_CHANNELS] * m).sum(1) / m.sum(1).clamp(min=1.0)
        context = [self.up(grid), mean_steps, terrain]
        if skip is not None:
            sk = skip.reshape(b, s, *skip.shape[1:])
            sk = (sk * m).sum(1) / m.sum(1).clamp(min=1.0)
            context.append(F.interpolate(sk, size=(h, w), mode="bilinear", align_corners=False))
        out = self.head(torch.cat(context, dim=1))
        return {"logits": out[:, :1], "rate": out[:, 1:] * RATE_SCALE_RAD_PER_YR}

    def reconstruct(
        self,
        steps: torch.Tensor,
        time: torch.Tensor,
        step_mask: torch.Tensor,
        terrain: torch.Tensor,
        token_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Masked-autoencoder pass: every step image ``(B, S, C, H, W)`` rebuilt from the unmasked tiles."""
        b, s, c, h, w = steps.shape
        p = self.spec.patch
        x, _ = self.features(steps, time, step_mask, terrain, token_mask)
        tiles = self.recon(x).reshape(b, s, h // p, w // p, c, p, p)
        return tiles.permute(0, 1, 4, 2, 5, 3, 6).reshape(b, s, c, h, w)


def build_temporal_model(spec: TemporalModelSpec) -> TemporalNet:
    """A randomly initialised time-series network (nothing is downloaded)."""
    return TemporalNet(spec)


def random_token_mask(
    generator: torch.Generator, shape: tuple[int, int, int, int], ratio: float
) -> torch.Tensor:
    """Boolean ``(B, S, h, w)`` with about ``ratio`` of each step's tiles hidden (MAE masking)."""
    b, s, h, w = shape
    scores = torch.rand((b, s, h * w), generator=generator)
    k = max(1, min(h * w - 1, round(ratio * h * w)))
    cutoff = scores.sort(dim=-1).values[..., k - 1 : k]
    return (scores <= cutoff).reshape(b, s, h, w)
