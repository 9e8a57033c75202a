"""Goldstein-Werner adaptive spectral filtering of interferograms."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import uniform_filter

from fringenet.errors import InputError


def goldstein_filter(
    ifg_complex: ArrayLike, alpha: float = 0.5, window: int = 32, step: int | None = None
) -> NDArray[np.complex128]:
    """Goldstein & Werner (1998) adaptive filter of a complex interferogram.

    Each ``window x window`` patch is Fourier transformed and its spectrum ``Z`` multiplied by
    ``|S(Z)|^alpha`` (``S`` = 3x3 smoothing of the magnitude), which boosts the dominant fringe
    frequencies and damps the noise floor. Patches overlap by ``window - step`` pixels and are
    blended with a tent-shaped weight, so there are no seams at patch borders.

    Parameters
    ----------
    ifg_complex
        Complex interferogram, shape ``(y, x)``; NaN = missing (treated as zero signal).
    alpha
        Filter strength in [0, 1]; 0 leaves the phase unchanged, 1 is the strongest.
    window
        Patch size in pixels (even, >= 4).
    step
        Distance between patch origins in pixels; must divide ``window``. Default ``window // 4``.

    Returns
    -------
    ndarray of complex128, shape ``(y, x)``
        Filtered interferogram; its ``np.angle`` is the filtered phase (rad). NaN where the input
        was NaN. Amplitudes are rescaled and are not physically meaningful.
    """
    z = np.asarray(ifg_complex)
    if z.ndim != 2 or not np.iscomplexobj(z):
        raise InputError("goldstein_filter", f"expected a 2-D complex array (got {z.dtype}, shape {z.shape})")
    if not 0.0 <= alpha <= 1.0:
        raise InputError("goldstein_filter", f"alpha must be in [0, 1] (got {alpha})")
    if window < 4 or window % 2:
        raise InputError("goldstein_filter", f"window must be an even number >= 4 (got {window})")
    step = window // 4 if step is None else step
    if step < 1 or window % step:
        raise InputError("goldstein_filter", f"step must divide window={window} (got {step})")

    nan = np.isnan(z)
    data = np.where(nan, 0, z).astype(np.complex128)
    ny, nx = data.shape
    # pad so that every pixel is covered by the same number of patches (window // step per axis)
    pad = window - step
    py = pad + (-(ny + pad) % step) + pad
    px = pad + (-(nx + pad) % step) + pad
    padded = np.pad(data, ((pad, py - pad), (pad, px - pad)))
    patches = sliding_window_view(padded, (window, window))[::step, ::step]
    taper = np.bartlett(window + 2)[1:-1]
    weight = np.outer(taper, taper)
    out = np.zeros(padded.shape, dtype=np.complex128)
    norm = np.zeros(padded.shape)
    k = window // step
    # one row of patches at a time bounds memory to (patches per row) x window^2
    for i in range(patches.shape[0]):
        spectrum = np.fft.fft2(patches[i])
        smooth = uniform_filter(np.abs(spectrum), size=(1, 3, 3), mode="wrap")
        peak = smooth.max(axis=(-2, -1), keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            response = np.where(peak > 0, (smooth / peak) ** alpha, 0.0)
        filtered = np.fft.ifft2(spectrum * response) * weight
        y0 = i * step
        # patches k apart along x do not overlap: place each interleaved set with one reshape
        for ox in range(k):
            tiles = filtered[ox::k]
            if tiles.shape[0] == 0:
                continue
            width = tiles.shape[0] * window
            x0 = ox * step
            out[y0 : y0 + window, x0 : x0 + width] += tiles.transpose(1, 0, 2).reshape(window, width)
            norm[y0 : y0 + window, x0 : x0 + width] += np.tile(weight, (1, tiles.shape[0]))
    with np.errstate(invalid="ignore", divide="ignore"):
        result = out / norm
    result = result[pad : pad + ny, pad : pad + nx]
    result[nan] = np.nan
    return result
