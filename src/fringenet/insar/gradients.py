"""Wrapped phase gradients and phase-gradient stacking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import fft, ndimage

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


def integrate_gradient_field(along_x: ArrayLike, along_y: ArrayLike) -> NDArray[np.float64]:
    """Least-squares surface whose forward differences best match a gradient field (mean zero).

    Solves the discrete Poisson equation with zero flux across the border by the cosine transform
    (Ghiglia & Romero 1994); the same solver as :func:`fringenet.models.dncnn.integrate_gradients`,
    on arrays. Exact (to rounding) for a curl-free field.

    Parameters
    ----------
    along_x, along_y
        ``(y, x)`` differences to the next column and to the next row (any unit per pixel); the
        last column of ``along_x`` and the last row of ``along_y`` are ignored. NaN counts as 0.

    Returns
    -------
    ndarray of float64, ``(y, x)``
        The integral in the unit of the gradients, with mean zero.
    """
    gx = np.nan_to_num(np.array(along_x, dtype=np.float64))
    gy = np.nan_to_num(np.array(along_y, dtype=np.float64))
    if gx.ndim != 2 or gx.shape != gy.shape:
        raise InputError(
            "integrate_gradient_field", f"expected two (y, x) arrays (got {gx.shape}, {gy.shape})"
        )
    h, w = gx.shape
    gx[:, -1] = 0.0
    gy[-1, :] = 0.0
    divergence = gx.copy()
    divergence[:, 1:] -= gx[:, :-1]
    divergence += gy
    divergence[1:, :] -= gy[:-1, :]
    spectrum = fft.dctn(divergence, type=2, norm="ortho")
    # eigenvalues of the discrete Laplacian with Neumann boundaries
    eigen = np.add.outer(2.0 * np.cos(np.pi * np.arange(h) / h), 2.0 * np.cos(np.pi * np.arange(w) / w)) - 4.0
    eigen[0, 0] = 1.0  # the mean is free: set to zero below
    spectrum /= eigen
    spectrum[0, 0] = 0.0
    return np.asarray(fft.idctn(spectrum, type=2, norm="ortho"))


def _phase_weights(coherence: NDArray[np.float32] | None, shape: tuple[int, ...]) -> NDArray[np.float32]:
    """Inverse phase variance up to a factor, ``γ² / (1 - γ²)`` (γ clipped to 0.97); ones without coherence."""
    if coherence is None:
        return np.ones(shape, dtype=np.float32)
    gamma = np.clip(np.nan_to_num(coherence, nan=0.0), 0.0, 0.97)
    return np.asarray(gamma**2 / (1.0 - gamma**2), dtype=np.float32)


def stacked_rate(
    wrapped_stack: ArrayLike, spans_years: ArrayLike, coherence_stack: ArrayLike | None = None
) -> NDArray[np.float64]:
    """Phase rate (rad/yr, relative: mean zero) from stacked phase gradients, without unwrapping.

    Each pair's wrapped differences to the next column and row are unambiguous where the phase
    changes by less than half a cycle per pixel, which slow motion and atmosphere do at 15-100 m
    pixels. Per pixel, the rate of the gradient is the weighted least-squares slope through the
    origin of gradient against the pair's time span, ``sum w dt g / sum w dt²``, with ``w`` the
    inverse phase variance from the coherence. Random atmosphere and noise average out over the
    pairs while steady motion accumulates; the rate gradient is then integrated
    (:func:`integrate_gradient_field`). Pairs are read one at a time (a lazy xarray or Dask array
    stays lazy), so memory stays at a few ``(y, x)`` arrays whatever the stack length.

    Parameters
    ----------
    wrapped_stack
        ``(pair, y, x)`` wrapped phase (rad); NaN = missing.
    spans_years
        ``(pair,)`` time span of each pair (yr, secondary minus reference, non-zero).
    coherence_stack
        ``(pair, y, x)`` coherence in [0, 1] for the weights, or None for equal weights.

    Returns
    -------
    ndarray of float64, ``(y, x)``
        Phase rate (rad/yr) up to a constant. Convert with
        :func:`fringenet.conventions.phase_to_displacement` for a LOS velocity (m/yr).
    """
    return stacked_rate_details(wrapped_stack, spans_years, coherence_stack).rate


def _pairwise(stack: Any) -> Any:
    """``stack`` as it is when it has a shape and pairs can be taken from it one by one (NumPy, xarray, Dask),
    else as an array."""
    return stack if hasattr(stack, "shape") and hasattr(stack, "__getitem__") else np.asarray(stack)


@dataclass(frozen=True)
class StackedRate:
    """:func:`stacked_rate` with what else its pass over the pairs gives (arrays ``(y, x)``)."""

    rate: NDArray[np.float64]
    """Phase rate (rad/yr, mean zero)."""
    coverage: NDArray[np.int64]
    """Number of pairs with a finite phase."""
    gradient: NDArray[np.float64]
    """Magnitude of the rate's gradient (rad/yr per pixel) averaged over 3 x 3 px, before integration."""


def stacked_rate_details(
    wrapped_stack: ArrayLike, spans_years: ArrayLike, coherence_stack: ArrayLike | None = None
) -> StackedRate:
    """:func:`stacked_rate` with the per-pixel pair coverage and rate gradient (one pass over the pairs)."""
    stack = _pairwise(wrapped_stack)
    shape = tuple(stack.shape)
    spans = np.asarray(spans_years, dtype=np.float64)
    if len(shape) != 3:
        raise InputError("stacked_rate", f"expected (pair, y, x) (got shape {shape})")
    if spans.shape != (shape[0],) or not np.all(np.isfinite(spans)) or np.any(spans == 0):
        raise InputError(
            "stacked_rate", f"spans_years must be {shape[0]} finite non-zero spans (got {spans})"
        )
    coherence = None
    if coherence_stack is not None:
        coherence = _pairwise(coherence_stack)
        if tuple(coherence.shape) != shape:
            raise InputError(
                "stacked_rate", f"coherence {tuple(coherence.shape)} does not match the stack {shape}"
            )
    ny, nx = shape[1:]
    coverage = np.zeros((ny, nx), dtype=np.int64)
    sums = {axis: (np.zeros((ny, nx)), np.zeros((ny, nx))) for axis in ("x", "y")}
    for k in range(shape[0]):
        phase = np.asarray(stack[k], dtype=np.float32)
        coverage += np.isfinite(phase)
        weight = _phase_weights(None if coherence is None else np.asarray(coherence[k]), phase.shape)
        for axis, direction in (("x", 0), ("y", 270)):  # to the next column / the next row
            grad = phase_gradients_float32(phase, direction)
            # a difference is as reliable as its worse pixel
            w = np.minimum(weight, np.roll(weight, -1, axis=1 if axis == "x" else 0))
            usable = np.isfinite(grad)
            numerator, denominator = sums[axis]
            numerator += np.where(usable, w * spans[k] * grad, 0.0)
            denominator += np.where(usable, w * spans[k] ** 2, 0.0)
    rates = {}
    for axis, (numerator, denominator) in sums.items():
        rates[axis] = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
    # of the vector averaged over 3 x 3 px: noise, whose wrapped gradients point anywhere, averages down
    gradient = np.hypot(ndimage.uniform_filter(rates["x"], 3), ndimage.uniform_filter(rates["y"], 3))
    return StackedRate(integrate_gradient_field(rates["x"], rates["y"]), coverage, gradient)
