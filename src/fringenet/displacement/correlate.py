"""Classical image correlators: dense east/north offsets (px) between a pre- and a post-event image.

Every method takes two co-registered ``(H, W)`` images of one area and returns ``(east_px, north_px)``,
float32 ``(H, W)``: where a ground point seen at ``p`` before the event is seen after it, minus ``p``;
east towards increasing columns, north towards decreasing rows (rows run southwards), as in
:mod:`fringenet.simulate.optical`. Offsets are measured on a grid of windows every ``step`` px and
interpolated bilinearly in between (held constant beyond the outermost window centres).

- :func:`phase_correlation_offsets`: frequency-domain correlation of Hann-tapered windows, refined by
  an upsampled DFT (scikit-image ``phase_cross_correlation``, COSI-Corr's family).
- :func:`ncc_offsets`: normalised cross-correlation over a search range with a parabolic sub-pixel peak
  (scikit-image ``match_template``).
- :func:`opencv_flow`: OpenCV's dense optical flow (DIS or Farneback) where ``opencv-python-headless`` is
  installed (``pip install fringenet[bench]``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import RegularGridInterpolator

from fringenet.errors import InputError

FloatArray = NDArray[np.float32]
METHODS = ("phase_correlation", "ncc", "dis", "farneback")


def check_pair(
    pre: NDArray[np.floating], post: NDArray[np.floating], window: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Both images as float64 ``(H, W)`` with NaN set to their mean; clear errors for what cannot be matched."""
    # copies: the NaN filling below must not reach the caller's arrays
    a, b = np.array(pre, dtype=np.float64), np.array(post, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise InputError("image pair", f"needs two 2-D images of one shape (got {a.shape} and {b.shape})")
    if min(a.shape) < window:
        raise InputError("image pair", f"images of {a.shape} px are smaller than the {window} px window")
    for name, image in (("pre", a), ("post", b)):
        finite = np.isfinite(image)
        if not finite.any():
            raise InputError(f"{name} image", "has no valid pixel (NaN everywhere)")
        image[~finite] = image[finite].mean()
    return a, b


def _grid(shape: tuple[int, int], window: int, step: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Top-left corners of the windows along rows and columns (the last one flush with the edge)."""

    def axis(n: int) -> NDArray[np.int64]:
        starts = np.arange(0, n - window + 1, step)
        return np.unique(np.append(starts, n - window))

    return axis(shape[0]), axis(shape[1])


def _dense(
    values: NDArray[np.float64],
    rows: NDArray[np.int64],
    cols: NDArray[np.int64],
    window: int,
    shape: tuple[int, int],
) -> FloatArray:
    centres = (rows + (window - 1) / 2.0, cols + (window - 1) / 2.0)
    if len(rows) == 1 or len(cols) == 1:  # one window along an axis: constant along it
        values = np.repeat(values, 2, axis=0) if len(rows) == 1 else values
        values = np.repeat(values, 2, axis=1) if len(cols) == 1 else values
        centres = tuple(np.array([c[0], c[0] + 1.0]) if len(c) == 1 else c for c in centres)  # type: ignore[assignment]
    interp = RegularGridInterpolator(centres, values, method="linear", bounds_error=False, fill_value=None)
    yy = np.clip(np.arange(shape[0], dtype=np.float64), centres[0][0], centres[0][-1])
    xx = np.clip(np.arange(shape[1], dtype=np.float64), centres[1][0], centres[1][-1])
    gy, gx = np.meshgrid(yy, xx, indexing="ij")
    return interp(np.stack([gy, gx], axis=-1)).astype(np.float32)


def _windowed(
    pre: NDArray[np.float64], post: NDArray[np.float64], window: int, step: int,
    match: Callable[[tuple[slice, slice]], tuple[float, float]],
) -> tuple[FloatArray, FloatArray]:  # fmt: skip
    rows, cols = _grid(pre.shape, window, step)  # type: ignore[arg-type]
    moved = np.empty((2, len(rows), len(cols)))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            moved[:, i, j] = match((slice(r, r + window), slice(c, c + window)))
    # content moved by (drow, dcol): east = dcol, north = -drow
    shape = pre.shape
    return _dense(moved[1], rows, cols, window, shape), _dense(-moved[0], rows, cols, window, shape)  # type: ignore[arg-type]


def phase_correlation_offsets(
    pre: NDArray[np.floating],
    post: NDArray[np.floating],
    *,
    window: int = 32,
    step: int = 8,
    upsample: int = 20,
) -> tuple[FloatArray, FloatArray]:
    """Offsets by windowed frequency correlation, to 1/``upsample`` px (see the module docstring)."""
    from skimage.filters import window as taper
    from skimage.registration import phase_cross_correlation

    a, b = check_pair(pre, post, window)
    hann = taper("hann", (window, window))

    def correlate(wa: NDArray[np.float64], wb: NDArray[np.float64], factor: int) -> tuple[float, float]:
        # plain cross-correlation: phase normalisation weights the noisy high frequencies of a blurred image
        shift, _, _ = phase_cross_correlation(
            (wa - wa.mean()) * hann, (wb - wb.mean()) * hann, upsample_factor=factor, normalization=None
        )
        return -float(shift[0]), -float(shift[1])  # the shift that registers post onto pre, reversed

    def match(box: tuple[slice, slice]) -> tuple[float, float]:
        # a whole-pixel estimate first, then the fraction in a post window moved by it: the taper biases
        # a large shift towards zero (5 % at 1.2 px), a fraction of a pixel much less
        wa = a[box]
        dr, dc = (round(v) for v in correlate(wa, b[box], 1))
        r = int(np.clip(box[0].start + dr, 0, b.shape[0] - window))
        c = int(np.clip(box[1].start + dc, 0, b.shape[1] - window))
        fr, fc = correlate(wa, b[r : r + window, c : c + window], upsample)
        return r - box[0].start + fr, c - box[1].start + fc

    return _windowed(a, b, window, step, match)


def _parabola_peak(left: float, centre: float, right: float) -> float:
    denominator = left - 2.0 * centre + right
    return 0.0 if denominator >= 0 else float(np.clip(0.5 * (left - right) / denominator, -0.5, 0.5))


def ncc_offsets(
    pre: NDArray[np.floating], post: NDArray[np.floating], *, window: int = 21, step: int = 8, search: int = 6
) -> tuple[FloatArray, FloatArray]:
    """Offsets by normalised cross-correlation within ±``search`` px and a parabolic sub-pixel peak."""
    from skimage.feature import match_template

    a, b = check_pair(pre, post, window)
    padded = np.pad(b, search, mode="reflect")

    def match(box: tuple[slice, slice]) -> tuple[float, float]:
        r, c = box[0].start, box[1].start
        region = padded[r : r + window + 2 * search, c : c + window + 2 * search]
        score = match_template(region, a[box])
        i, j = np.unravel_index(int(np.argmax(score)), score.shape)
        di = dj = 0.0
        if 0 < i < score.shape[0] - 1:
            di = _parabola_peak(score[i - 1, j], score[i, j], score[i + 1, j])
        if 0 < j < score.shape[1] - 1:
            dj = _parabola_peak(score[i, j - 1], score[i, j], score[i, j + 1])
        return i + di - search, j + dj - search

    return _windowed(a, b, window, step, match)


def opencv_flow(
    pre: NDArray[np.floating], post: NDArray[np.floating], *, method: Literal["dis", "farneback"] = "dis"
) -> tuple[FloatArray, FloatArray]:
    """Offsets by OpenCV dense optical flow on 8-bit copies of the images (stretched to their joint
    0.5-99.5 % range)."""
    try:
        import cv2
    except ImportError as err:
        raise InputError(method, "needs OpenCV: pip install opencv-python-headless") from err
    a, b = check_pair(pre, post, 8)
    low, high = np.percentile(np.concatenate([a.ravel(), b.ravel()]), [0.5, 99.5])
    scale = 255.0 / max(high - low, 1e-12)
    a8, b8 = (np.clip((x - low) * scale, 0, 255).astype(np.uint8) for x in (a, b))
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]
        flow = dis.calc(a8, b8, None)
    elif method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(a8, b8, None, 0.5, 4, 21, 5, 7, 1.5, 0)
    else:
        raise InputError(method, "unknown OpenCV flow method (valid: dis, farneback)")
    # flow: pre(y, x) ~ post(y + fy, x + fx): the content's motion in columns and rows
    return flow[..., 0].astype(np.float32), (-flow[..., 1]).astype(np.float32)


def estimate_offsets(
    pre: NDArray[np.floating], post: NDArray[np.floating], method: str
) -> tuple[FloatArray, FloatArray]:
    """Offsets by the named method of :data:`METHODS` with its default settings."""
    if method == "phase_correlation":
        return phase_correlation_offsets(pre, post)
    if method == "ncc":
        return ncc_offsets(pre, post)
    if method in ("dis", "farneback"):
        return opencv_flow(pre, post, method=method)  # type: ignore[arg-type]
    raise InputError(method, f"unknown correlator (valid: {', '.join(METHODS)})")
