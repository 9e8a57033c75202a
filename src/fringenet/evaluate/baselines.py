"""Non-learned baselines for segmenting deforming areas, computed on the same patches as the model.

Inputs are the raw (not normalised) channels of a patch stack, each ``(N, H, W)`` (a single
``(H, W)`` patch also works): ``cos_phase`` and ``sin_phase`` of the wrapped interferometric phase,
``coherence`` in [0, 1], and a boolean ``valid`` mask. Score baselines return float32 scores
(higher = more likely deforming); binary baselines return a boolean mask. Invalid pixels are
always 0 / False.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage
from skimage.filters import threshold_otsu

from fringenet.errors import InputError
from fringenet.insar.gradients import phase_gradients
from fringenet.insar.masking import otsu_coherence_mask

CHANNELS = ("cos_phase", "sin_phase", "coherence")
"""Channel names a baseline may require."""


def _stack(name: str, array: ArrayLike, dtype: Any = np.float64) -> NDArray[Any]:
    a = np.asarray(array, dtype=dtype)
    if a.ndim not in (2, 3):
        raise InputError(name, f"expected shape (N, H, W) or (H, W) (got {a.shape})")
    return a


def _check_same_shape(**arrays: NDArray[Any]) -> None:
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        raise InputError("baseline inputs", f"arrays differ in shape: {shapes}")


def _check_window(window: int) -> None:
    if int(window) != window or window < 1:
        raise InputError("window", f"must be a positive integer number of pixels (got {window})")


def phase_gradient_score(
    cos_phase: ArrayLike, sin_phase: ArrayLike, valid: ArrayLike, window: int = 9
) -> NDArray[np.float32]:
    """Locally averaged magnitude of the wrapped phase gradient.

    Deformation fringes raise the local phase gradient above that of the (smoother) background.
    The gradient is the wrapped forward difference along columns and rows
    (:func:`fringenet.insar.gradients.phase_gradients`, directions 0 and 90); its magnitude is
    averaged over a ``window`` x ``window`` box by normalised convolution, so invalid pixels and
    differences that touch them are ignored rather than counted as zero.

    Parameters
    ----------
    cos_phase, sin_phase
        Cosine and sine of the wrapped phase, ``(N, H, W)`` or ``(H, W)``; NaN = missing.
    valid
        Boolean mask of the same shape.
    window
        Box size (px).

    Returns
    -------
    ndarray of float32, same shape
        Mean gradient magnitude (rad/px) in the box; 0 at invalid pixels and where the box holds
        no usable gradient.
    """
    _check_window(window)
    c, s = _stack("cos_phase", cos_phase), _stack("sin_phase", sin_phase)
    v = _stack("valid", valid, dtype=bool)
    _check_same_shape(cos_phase=c, sin_phase=s, valid=v)
    phase = np.where(v, np.arctan2(s, c), np.nan)
    along_x, along_y = phase_gradients(phase, directions=(0, 90))
    magnitude = np.hypot(along_x, along_y)
    usable = np.isfinite(magnitude)
    size = (window, window) if v.ndim == 2 else (1, window, window)
    # mode="constant" adds zeros beyond the edge to both sums, so edge boxes average what they hold
    num = ndimage.uniform_filter(np.where(usable, magnitude, 0.0), size=size, mode="constant")
    den = ndimage.uniform_filter(usable.astype(np.float64), size=size, mode="constant")
    # den is a multiple of 1/window**2 up to rounding of the running sums; half a pixel separates 0
    has = den > 0.5 / window**2
    score = np.divide(num, den, out=np.zeros_like(num), where=has)
    score[~v] = 0.0
    return score.astype(np.float32)


def _otsu_above(values: NDArray[np.float64]) -> float | None:
    """Otsu threshold of finite ``values``, or None if they are empty or constant."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or finite.min() == finite.max():
        return None
    return float(threshold_otsu(finite))


def _coherent(coherence: NDArray[np.float64], valid: NDArray[np.bool_]) -> NDArray[np.bool_] | None:
    """Otsu-coherent valid pixels of one patch, or None if the coherence is degenerate."""
    try:
        mask, _ = otsu_coherence_mask(np.where(valid, coherence, np.nan))
    except InputError:  # all invalid / NaN, or constant coherence
        return None
    return mask & valid


def coherent_gradient_otsu(
    cos_phase: ArrayLike,
    sin_phase: ArrayLike,
    coherence: ArrayLike,
    valid: ArrayLike,
    window: int = 9,
) -> NDArray[np.bool_]:
    """Threshold-free rule: coherent pixels with a high local phase gradient.

    Per patch, a pixel is positive when its coherence is above the Otsu threshold of the valid
    coherence (:func:`fringenet.insar.masking.otsu_coherence_mask`) and its
    :func:`phase_gradient_score` is above the Otsu threshold of the scores of those coherent
    pixels. Requiring coherence keeps decorrelation noise, whose wrapped gradient is large
    everywhere, from passing as fringes.

    Parameters
    ----------
    cos_phase, sin_phase, coherence, valid
        ``(N, H, W)`` or ``(H, W)``; see :func:`phase_gradient_score`.
    window
        Box size (px) of the gradient score.

    Returns
    -------
    ndarray of bool, same shape
        All False in a patch whose coherence or scores are constant (no threshold exists).
    """
    score = phase_gradient_score(cos_phase, sin_phase, valid, window)
    coh = _stack("coherence", coherence)
    v = _stack("valid", valid, dtype=bool)
    _check_same_shape(coherence=coh, valid=v)
    out = np.zeros(v.shape, dtype=bool)
    for i in np.ndindex(v.shape[:-2]):
        coherent = _coherent(coh[i], v[i])
        if coherent is None:
            continue
        threshold = _otsu_above(score[i][coherent].astype(np.float64))
        if threshold is not None:
            out[i] = coherent & (score[i] > threshold)
    return out


def low_coherence_otsu(coherence: ArrayLike, valid: ArrayLike) -> NDArray[np.bool_]:
    """Naive rule "fast motion decorrelates": valid pixels below the Otsu threshold of coherence.

    Parameters
    ----------
    coherence, valid
        ``(N, H, W)`` or ``(H, W)``; the threshold is chosen per patch from its valid pixels.

    Returns
    -------
    ndarray of bool, same shape
        All False in a patch whose valid coherence is constant or missing. NaN coherence is False.
    """
    coh = _stack("coherence", coherence)
    v = _stack("valid", valid, dtype=bool)
    _check_same_shape(coherence=coh, valid=v)
    out = np.zeros(v.shape, dtype=bool)
    for i in np.ndindex(v.shape[:-2]):
        coherent = _coherent(coh[i], v[i])
        if coherent is not None:
            out[i] = v[i] & np.isfinite(coh[i]) & ~coherent
    return out


# ---------------------------------------------------------------------------------- registry

BaselineFunction = Callable[[Mapping[str, NDArray[Any]], NDArray[np.bool_]], NDArray[Any]]


@dataclass(frozen=True)
class Baseline:
    """A named baseline: which channels it needs and whether it returns scores or a binary mask."""

    name: str
    description: str
    channels: tuple[str, ...]
    """Required channel names, from :data:`CHANNELS`."""
    kind: Literal["score", "binary"]
    """``"score"``: float scores to threshold; ``"binary"``: a boolean prediction."""
    function: BaselineFunction
    """``function(channels, valid)`` with channels and valid ``(N, H, W)``."""


BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in (
        Baseline(
            name="phase_gradient",
            description="local mean (9 x 9 px) of the wrapped phase-gradient magnitude (rad/px)",
            channels=("cos_phase", "sin_phase"),
            kind="score",
            function=lambda ch, valid: phase_gradient_score(ch["cos_phase"], ch["sin_phase"], valid),
        ),
        Baseline(
            name="coherent_gradient_otsu",
            description="Otsu-coherent pixels whose phase-gradient score exceeds its Otsu threshold",
            channels=("cos_phase", "sin_phase", "coherence"),
            kind="binary",
            function=lambda ch, valid: coherent_gradient_otsu(
                ch["cos_phase"], ch["sin_phase"], ch["coherence"], valid
            ),
        ),
        Baseline(
            name="low_coherence_otsu",
            description="pixels below the Otsu threshold of coherence (fast motion decorrelates)",
            channels=("coherence",),
            kind="binary",
            function=lambda ch, valid: low_coherence_otsu(ch["coherence"], valid),
        ),
    )
}
"""The available baselines by name."""


def run_baseline(name: str, channels: Mapping[str, ArrayLike], valid: ArrayLike) -> NDArray[Any]:
    """Run the baseline ``name`` on ``channels`` (name -> ``(N, H, W)`` array) and ``valid``.

    Returns float32 scores for ``kind == "score"`` baselines, a bool mask for binary ones.
    Raises :class:`~fringenet.errors.InputError` for an unknown name or a missing channel.
    """
    if name not in BASELINES:
        raise InputError("baseline", f"unknown baseline {name!r}; valid names: {sorted(BASELINES)}")
    baseline = BASELINES[name]
    missing = [c for c in baseline.channels if c not in channels]
    if missing:
        raise InputError(f"baseline {name!r}", f"needs channel(s) {missing} (got {sorted(channels)})")
    v = np.asarray(valid, dtype=bool)
    arrays = {c: np.asarray(channels[c]) for c in baseline.channels}
    return baseline.function(arrays, v)


def stacked_gradient_otsu(
    wrapped_stack: ArrayLike,
    coherence_stack: ArrayLike | None = None,
    usable: ArrayLike | None = None,
    window: int = 9,
) -> NDArray[np.bool_]:
    """Classical stack detector: Otsu threshold on the smoothed phase-gradient-stack magnitude.

    The coherence-weighted phase-gradient stack (:func:`fringenet.insar.gradients.phase_gradient_stack`)
    adds up gradients that recur in every pair; its magnitude, averaged over ``window`` x ``window``
    px, is split by Otsu's threshold over the usable pixels.

    Parameters
    ----------
    wrapped_stack
        ``(pair, H, W)`` wrapped phase (rad); NaN = missing.
    coherence_stack
        ``(pair, H, W)`` coherence weights, or None for equal weights.
    usable
        ``(H, W)`` bool, pixels that may be flagged (default: all).
    window
        Smoothing box (px).

    Returns
    -------
    ndarray of bool, ``(H, W)``
        Flagged pixels (none when the score is constant).
    """
    from fringenet.insar.gradients import phase_gradient_stack

    _check_window(window)
    stacked = phase_gradient_stack(wrapped_stack, weights=coherence_stack)
    score = ndimage.uniform_filter(np.nan_to_num(stacked.magnitude), window)
    keep = np.ones(score.shape, dtype=bool) if usable is None else np.asarray(usable, dtype=bool)
    threshold = _otsu_above(score[keep])
    if threshold is None:
        return np.zeros(score.shape, dtype=bool)
    return (score > threshold) & keep


SLOW_MOTION_Z = 6.0
"""Robust z-score a :func:`stacked_rate_anomaly` detection must reach somewhere (its seed threshold).

Calibrated on fringenet's own simulator, motionless stacks only (``python benchmarks/calibrate_slow_motion.py``):
the 95th percentile over those stacks of the smallest seed threshold that keeps each under 1 % flagged."""


ALIASING_RAD_PER_PX = np.pi / 2
"""A quarter cycle per pixel within one pair: beyond it, noise wraps the pair's differences and the stacked rate
may be aliased."""


@dataclass(frozen=True)
class SlowMotionDetection:
    """Result of :func:`stacked_rate_anomaly` (arrays ``(y, x)``)."""

    mask: NDArray[np.bool_]
    """Flagged pixels: connected regions of ``|z| >= threshold / 2`` that reach ``|z| >= threshold``."""
    z: NDArray[np.float32]
    """Robust z-score of the local rate anomaly (0 at pixels that are not usable)."""
    rate_anomaly: NDArray[np.float32]
    """Phase rate minus its local median background (rad/yr)."""
    rate: NDArray[np.float32]
    """Phase rate from the stacked gradients (rad/yr, mean zero: relative)."""
    usable: NDArray[np.bool_]
    """Pixels tested: usable as given and with a finite phase in some pair."""
    aliased: NDArray[np.bool_]
    """Pixels whose estimated gradient exceeds :data:`ALIASING_RAD_PER_PX` in the longest pair: the rate may be
    aliased there (read low)."""
    background_px: int
    """Side of the median background window (px)."""


def _median_background(values: NDArray[np.float64], size: int) -> NDArray[np.float64]:
    """Moving median over ``size`` x ``size`` px, computed on a grid decimated to about 16 samples per window
    (a full-resolution median filter costs ``size²`` per pixel) and interpolated back bilinearly."""
    step = max(1, size // 16)
    coarse = values[::step, ::step]
    median = ndimage.median_filter(coarse, size=max(1, size // step) | 1, mode="reflect")
    if step == 1:
        return median
    zoom = (values.shape[0] / coarse.shape[0], values.shape[1] / coarse.shape[1])
    full = ndimage.zoom(median, zoom, order=1, mode="nearest", grid_mode=True)
    return np.asarray(full[: values.shape[0], : values.shape[1]])


def stacked_rate_anomaly(
    wrapped_stack: ArrayLike,
    spans_years: ArrayLike,
    coherence_stack: ArrayLike | None = None,
    usable: ArrayLike | None = None,
    *,
    pixel_m: float | None = None,
    background_m: float = 3000.0,
    threshold: float = SLOW_MOTION_Z,
    smooth_px: int = 3,
) -> SlowMotionDetection:
    """Classical slow-motion detector with a calibrated false-alarm rate: stacked rate against its background.

    The phase rate comes from stacked gradients (:func:`fringenet.insar.gradients.stacked_rate`), so
    motion far below a fringe per pair that is steady over the stack adds up. The rate, smoothed over
    ``smooth_px``, minus its moving median over ``background_m`` (long-wavelength atmosphere and
    orbit ramps) is the anomaly; dividing by the scene's robust spread (1.4826 x the median absolute
    deviation over the usable pixels) gives a z-score. Unlike an Otsu split, which always cuts a
    scene in two, a scene without motion is mostly left unflagged: regions are seeded where
    ``|z| >= threshold`` and grown while ``|z| >= threshold / 2`` (hysteresis).

    Parameters
    ----------
    wrapped_stack, spans_years, coherence_stack
        As :func:`fringenet.insar.gradients.stacked_rate`.
    usable
        ``(y, x)`` bool: pixels that may be flagged and count in the statistics (besides, a pixel
        needs a finite phase in some pair). ``wrapped_stack`` may be lazy (xarray, Dask): it is read
        one pair at a time.
    pixel_m
        Pixel spacing (m) to size the background window; without it the window is 63 px.
    background_m
        Side of the background window (m), at least 31 px.
    threshold
        Seed threshold on ``|z|``; the default is calibrated (:data:`SLOW_MOTION_Z`).
    smooth_px
        Box smoothing of the rate before the test (px).
    """
    from skimage.filters import apply_hysteresis_threshold

    from fringenet.insar.gradients import stacked_rate_details

    _check_window(smooth_px)
    stacked = stacked_rate_details(wrapped_stack, spans_years, coherence_stack)
    rate = stacked.rate
    keep = stacked.coverage > 0
    if usable is not None:
        given = np.asarray(usable, dtype=bool)
        if given.shape != rate.shape:
            raise InputError(
                "stacked_rate_anomaly", f"usable {given.shape} does not match the grid {rate.shape}"
            )
        keep &= given
    if pixel_m is not None and not pixel_m > 0:
        raise InputError("stacked_rate_anomaly", f"pixel_m must be positive (got {pixel_m})")
    background_px = 63 if pixel_m is None else max(31, round(background_m / pixel_m))
    background_px |= 1
    smoothed = ndimage.uniform_filter(rate, smooth_px)
    anomaly = smoothed - _median_background(smoothed, background_px)
    z = np.zeros(rate.shape, dtype=np.float32)
    mask = np.zeros(rate.shape, dtype=bool)
    values = anomaly[keep]
    if values.size:
        centre = float(np.median(values))
        spread = 1.4826 * float(np.median(np.abs(values - centre)))
        if spread > 0:
            z = np.where(keep, (anomaly - centre) / spread, 0.0).astype(np.float32)
            mask = apply_hysteresis_threshold(np.abs(z), threshold / 2.0, threshold) & keep
    # the stacked gradients assume less than half a cycle per pixel in every pair; a quarter in the longest pair
    # is where noise starts to wrap them, and a wrapped gradient reads low: such pixels are flagged, not trusted
    longest = float(np.max(np.abs(np.asarray(spans_years, dtype=np.float64))))
    aliased = keep & (stacked.gradient * longest > ALIASING_RAD_PER_PX)
    return SlowMotionDetection(
        mask, z, anomaly.astype(np.float32), rate.astype(np.float32), keep, aliased, background_px
    )
