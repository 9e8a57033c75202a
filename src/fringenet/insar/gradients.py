"""Wrapped phase gradients and phase-gradient stacking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fringenet.conventions import wrap
from fringenet.errors import InputError

_STEPS = {
    0: (0, 1),
    45: (-1, 1),
    90: (-1, 0),
    135: (-1, -1),
    180: (0, -1),
    225: (1, -1),
    270: (1, 0),
    315: (1, 1),
}
"""Pixel step ``(row, column)`` for each direction, counter-clockwise from +x (columns), with
90 degrees pointing up the image (towards row 0, north on a north-up grid)."""


def _steps(directions: Sequence[int]) -> list[tuple[int, int]]:
    if len(directions) == 0:
        raise InputError("phase_gradients", "directions must not be empty")
    bad = [d for d in directions if d % 360 not in _STEPS]
    if bad:
        raise InputError("phase_gradients", f"directions must be multiples of 45 degrees (got {bad})")
    return [_STEPS[d % 360] for d in directions]


def phase_gradients(
    wrapped_phase: ArrayLike, directions: Sequence[int] = (0, 45, 90, 135)
) -> NDArray[np.float64]:
    """Wrapped forward differences of the phase along several directions.

    Parameters
    ----------
    wrapped_phase
        Wrapped phase (rad), shape ``(..., y, x)``; NaN = missing.
    directions
        Directions in degrees, multiples of 45, counter-clockwise from +x (columns) with 90
        pointing up the image (towards row 0).

    Returns
    -------
    ndarray of float64, shape ``(len(directions), ..., y, x)``
        ``wrap(phase[p + step] - phase[p]) / |step|`` in rad/pixel (diagonal steps divided by
        sqrt 2). NaN where either pixel is NaN or the step leaves the image.
    """
    phase = np.asarray(wrapped_phase, dtype=np.float64)
    if phase.ndim < 2:
        raise InputError("phase_gradients", f"expected at least 2 dimensions (got shape {phase.shape})")
    steps = _steps(directions)
    ny, nx = phase.shape[-2:]
    out = np.full((len(steps), *phase.shape), np.nan)
    for i, (dy, dx) in enumerate(steps):
        # destination slice (pixel p) and source slice (pixel p + step) of the same size
        ys, yd = slice(max(dy, 0), ny + min(dy, 0)), slice(max(-dy, 0), ny + min(-dy, 0))
        xs, xd = slice(max(dx, 0), nx + min(dx, 0)), slice(max(-dx, 0), nx + min(-dx, 0))
        diff = wrap(phase[..., ys, xs] - phase[..., yd, xd])
        out[i][..., yd, xd] = diff / np.hypot(dy, dx)
    return out


def phase_gradients_float32(wrapped_phase: NDArray[np.float32], direction: int) -> NDArray[np.float32]:
    """:func:`phase_gradients` along one direction, in float32, for long stacks (same conventions)."""
    ((dy, dx),) = _steps([direction])
    ny, nx = wrapped_phase.shape[-2:]
    out = np.full(wrapped_phase.shape, np.nan, dtype=np.float32)
    ys, yd = slice(max(dy, 0), ny + min(dy, 0)), slice(max(-dy, 0), ny + min(-dy, 0))
    xs, xd = slice(max(dx, 0), nx + min(dx, 0)), slice(max(-dx, 0), nx + min(-dx, 0))
    diff = wrapped_phase[..., ys, xs] - wrapped_phase[..., yd, xd]
    out[..., yd, xd] = _wrap32(diff) / np.float32(np.hypot(dy, dx))
    return out


def _wrap32(x: NDArray[np.float32]) -> NDArray[np.float32]:
    two_pi = np.float32(2 * np.pi)
    return (x + np.float32(np.pi)) % two_pi - np.float32(np.pi)


@dataclass(frozen=True)
class StackedGradient:
    """Result of :func:`phase_gradient_stack` (all arrays ``(y, x)`` unless stated)."""

    magnitude: NDArray[np.float64]
    """Magnitude of the stacked phase-gradient vector (rad/pixel per pair)."""
    per_direction: NDArray[np.float64]
    """``(direction, y, x)``: stacked directional gradient, signed (rad/pixel per pair)."""
    consistency: NDArray[np.float64]
    """Mean over directions of ``|weighted mean of exp(i dphi)|`` in [0, 1]: 1 = same gradient in every pair."""
    n_pairs: NDArray[np.int64]
    """Number of pairs with a finite gradient in every direction."""
    directions: tuple[int, ...]


def phase_gradient_stack(
    wrapped_stack: ArrayLike,
    weights: ArrayLike | None = None,
    directions: Sequence[int] = (0, 45, 90, 135),
) -> StackedGradient:
    """Phase-gradient stacking over a stack of short-baseline interferograms.

    The complex gradients ``exp(i dphi)`` of all pairs are averaged (weighted) per direction, so
    gradients that recur in every pair (slow, steady deformation) add up while random
    atmosphere and noise average out. The stacked directional gradient is the angle of that
    mean; a 2-D gradient vector is fitted to the directions by least squares and its length is
    the magnitude.

    Parameters
    ----------
    wrapped_stack
        Wrapped phase (rad), shape ``(pair, y, x)``; NaN = missing.
    weights
        Non-negative weights, shape ``(pair,)`` or ``(pair, y, x)`` (e.g. coherence, or 1/time
        span); default equal weights. NaN weights count as 0.
    directions
        Gradient directions (degrees, see :func:`phase_gradients`); at least two non-parallel.

    Returns
    -------
    StackedGradient
        ``magnitude`` and ``per_direction`` in rad/pixel (per pair); NaN where no pair is valid.
    """
    stack = np.asarray(wrapped_stack, dtype=np.float64)
    if stack.ndim != 3:
        raise InputError("phase_gradient_stack", f"expected (pair, y, x) (got shape {stack.shape})")
    w = np.ones(stack.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.ndim == 1:
        w = w[:, None, None]
    try:
        w = np.broadcast_to(w, stack.shape)
    except ValueError:
        raise InputError(
            "phase_gradient_stack", f"weights of shape {w.shape} do not match stack {stack.shape}"
        ) from None
    if np.any(w < 0):
        raise InputError("phase_gradient_stack", "weights must be non-negative")
    w = np.nan_to_num(w, nan=0.0)

    steps = _steps(directions)
    unit = np.array([[dx, -dy] for dy, dx in steps], dtype=np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    if np.linalg.matrix_rank(unit) < 2:
        raise InputError(
            "phase_gradient_stack", f"directions {tuple(directions)} must include two non-parallel ones"
        )

    # one direction at a time in float32 keeps memory at a few (pair, y, x) arrays for long stacks
    per_direction = np.full((len(steps), *stack.shape[1:]), np.nan)
    strength = np.zeros(stack.shape[1:])
    all_valid = np.ones(stack.shape, dtype=bool)
    phase32 = stack.astype(np.float32)
    w32 = w.astype(np.float32)
    for i, direction in enumerate(directions):
        grad = phase_gradients_float32(phase32, direction)
        valid = np.isfinite(grad)
        all_valid &= valid
        wg = np.where(valid, w32, np.float32(0.0))
        g = np.where(valid, grad, np.float32(0.0))
        re = np.sum(wg * np.cos(g), axis=0, dtype=np.float64)
        im = np.sum(wg * np.sin(g), axis=0, dtype=np.float64)
        wsum = np.sum(wg, axis=0, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            length = np.where(wsum > 0, np.hypot(re, im) / wsum, np.nan)
        per_direction[i] = np.where(wsum > 0, np.arctan2(im, re), np.nan)
        strength += length
    # least-squares gradient vector g from directional derivatives d_k = unit_k . g
    vector = np.tensordot(np.linalg.pinv(unit), per_direction, axes=(1, 0))
    magnitude = np.hypot(vector[0], vector[1])
    consistency = strength / len(steps)
    n_pairs = all_valid.sum(axis=0).astype(np.int64)
    return StackedGradient(magnitude, per_direction, consistency, n_pairs, tuple(int(d) for d in directions))
