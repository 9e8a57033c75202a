"""Phase linking of SLC stacks of distributed scatterers (EVD, EMI) with optional SHP windows.

Each pixel's ``(T, T)`` sample coherence matrix, averaged over a boxcar window or over its
statistically homogeneous pixels (SHP), is reduced to one phase per date that best explains every
interferogram of the stack at once (Guarnieri & Tebaldini 2008; Ansari et al. 2018).

Sign convention (the one of ``fringenet.simulate.decorrelation`` and ISCE/dolphin): the
interferogram of dates ``(i, j)``, reference ``i`` first, is ``s_i * conj(s_j)``, and its phase is
the fringenet interferometric phase ``phi_j - phi_i`` (``-4 pi / wavelength`` times the LOS
displacement from ``i`` to ``j``, as in ``fringenet.simulate.scene``). The sample coherence
``C_ij = <s_i s_j*>`` therefore has phase ``phi_j - phi_i``, and an SLC's own phase is
``-phi_t`` plus a constant (an SLC's phase falls with range). The linked phase ``phi_t``
returned here estimates the interferometric phase of pair ``(0, t)``: ``phi_0 = 0``; it is the
*conjugate* of the phase of the eigenvector that dolphin returns.

All functions are pure numpy/scipy, vectorised over pixels and processed in pixel blocks so memory
stays bounded on large rasters.
"""

from __future__ import annotations

import time
import warnings
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, cast

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage, stats

from fringenet.errors import InputError

__all__ = [
    "METHODS",
    "SHP_METHODS",
    "PhaseLinkResult",
    "check_slc_stack",
    "emi",
    "evd",
    "phase_link",
    "sample_coherence_matrix",
    "sample_coherence_pairs",
    "shp_neighbourhood",
    "temporal_coherence",
]

METHODS = ("emi", "evd")
SHP_METHODS = ("glrt", "ks")
Method = Literal["emi", "evd"]
ShpMethod = Literal["glrt", "ks"]
Window = tuple[int, int] | int

BLOCK_ELEMENTS = 2**22
"""Coherence-matrix elements per pixel block (complex64: 32 MiB), bounding memory on large rasters."""
EMI_LOADING = 1e-6
"""Diagonal loading of ``|C|`` before inverting it (dolphin uses the same jitter)."""

C64 = NDArray[np.complex64]
F32 = NDArray[np.float32]


def check_slc_stack(slc: ArrayLike, dates: ArrayLike | None = None, source: str = "slc") -> None:
    """Raise :class:`InputError` unless ``slc`` is a usable ``(T, H, W)`` complex SLC stack.

    Parameters
    ----------
    slc
        Co-registered SLCs, ``(date, y, x)`` complex.
    dates
        Optional acquisition dates ``(T,)`` (anything ``numpy.datetime64`` accepts); must be sorted
        and distinct and one per SLC.
    source
        Name of the stack in error messages.
    """
    a = np.asarray(slc)
    if a.ndim != 3:
        raise InputError(source, f"an SLC stack must be 3-D (date, y, x), got shape {a.shape}")
    if not np.iscomplexobj(a):
        raise InputError(source, f"SLCs must be complex, got dtype {a.dtype}")
    if a.shape[0] < 2:
        raise InputError(source, f"phase linking needs at least 2 dates, got {a.shape[0]}")
    if dates is not None:
        d = np.asarray(dates).astype("datetime64[D]").ravel()
        if d.size != a.shape[0]:
            raise InputError(
                source, f"mismatched shapes: {d.size} dates for {a.shape[0]} SLCs (shape {a.shape})"
            )
        steps = np.diff(d).astype(np.int64)
        if np.any(steps == 0):
            raise InputError(source, f"duplicated dates: {sorted({str(x) for x in d[1:][steps == 0]})}")
        if np.any(steps < 0):
            raise InputError(source, "dates must be sorted in increasing order")
    usable = np.isfinite(a) & (a != 0)
    if not usable.any():
        raise InputError(source, "every SLC value is NaN or zero")
    empty = np.flatnonzero(~usable.any(axis=(1, 2)))
    if empty.size:
        raise InputError(source, f"SLC(s) of date index {empty.tolist()} are all NaN or zero")


def _window(window: Window, name: str) -> tuple[int, int]:
    wy, wx = (window, window) if isinstance(window, int | np.integer) else tuple(window)
    if wy < 1 or wx < 1 or wy % 2 == 0 or wx % 2 == 0:
        raise InputError(name, f"window sizes must be odd and positive, got {(wy, wx)}")
    return int(wy), int(wx)


def _clean(slc: ArrayLike) -> tuple[NDArray[np.complex64], NDArray[np.bool_]]:
    """SLCs with non-finite samples set to 0 (so they drop out of every sum) and the valid mask."""
    a = np.asarray(slc, dtype=np.complex64)
    valid = np.isfinite(a)
    return np.where(valid, a, 0).astype(np.complex64), valid


def _normalise(numer: NDArray[np.complexfloating]) -> C64:
    """Coherence from summed cross-products ``(..., T, T)``: divide by the powers on the diagonal."""
    power = np.real(np.diagonal(numer, axis1=-2, axis2=-1)).astype(np.float32)
    amp = np.sqrt(power[..., :, None] * power[..., None, :])
    out = np.zeros(numer.shape, dtype=np.complex64)
    np.divide(numer, amp, out=out, where=amp > 0)
    return out


def _boxcar_pairs(
    z: C64, window: tuple[int, int], rows: slice, first: NDArray[np.intp], second: NDArray[np.intp]
) -> C64:
    """Boxcar coherence ``(P, len(rows), W)`` of the date pairs ``(first[k], second[k])`` of the cleaned
    stack ``z``; the pairs must include every ``(i, i)`` whose power they use."""
    hy = window[0] // 2
    top, bottom = max(rows.start - hy, 0), min(rows.stop + hy, z.shape[1])
    sub = z[:, top:bottom]
    crop = slice(rows.start - top, rows.stop - top)
    prod = sub[first] * np.conj(sub[second])  # every pair at once: one filter call
    # zero padding outside the raster: numerator and powers lose the same samples
    size = (1, *window)
    re = ndimage.uniform_filter(prod.real, size, mode="constant")[:, crop]
    im = ndimage.uniform_filter(prod.imag, size, mode="constant")[:, crop]
    diagonal = np.flatnonzero(first == second)
    power = np.zeros((z.shape[0], *re.shape[1:]), dtype=re.dtype)
    power[first[diagonal]] = re[diagonal]  # (T, rows, W)
    amp = np.sqrt(power[first] * power[second])
    coh = np.zeros(re.shape, dtype=np.complex64)
    np.divide(re + 1j * im, amp, out=coh, where=amp > 0)
    return coh


def _boxcar_block(z: C64, window: tuple[int, int], rows: slice) -> C64:
    """Boxcar coherence ``(len(rows), W, T, T)`` of rows ``rows`` of the cleaned stack ``z``."""
    t = z.shape[0]
    iu = np.triu_indices(t)
    coh = _boxcar_pairs(z, window, rows, iu[0], iu[1])
    full = np.empty((t, t, *coh.shape[1:]), dtype=np.complex64)
    full[iu[0], iu[1]] = coh
    full[iu[1], iu[0]] = np.conj(coh)
    return np.ascontiguousarray(full.transpose(2, 3, 0, 1))


def _neighbour_block(z: C64, neighbours: NDArray[np.bool_], rows: slice) -> C64:
    """Coherence ``(len(rows), W, T, T)`` averaged over each pixel's ``neighbours`` (adaptive window)."""
    t, _, w = z.shape
    wy, wx = neighbours.shape[-2:]
    padded = np.pad(z, ((0, 0), (wy // 2, wy // 2), (wx // 2, wx // 2)))
    windows = sliding_window_view(padded, (wy, wx), axis=(1, 2))[:, rows]  # (T, r, W, wy, wx), a view
    n = windows.shape[1] * w
    samples = np.moveaxis(windows, 0, 2).reshape(n, t, wy * wx)
    samples = samples * neighbours[rows].reshape(n, 1, wy * wx)
    numer = np.matmul(samples, np.conj(np.swapaxes(samples, -1, -2)))
    return _normalise(numer).reshape(rows.stop - rows.start, w, t, t)


def _blas_single_thread() -> AbstractContextManager[object]:
    """Limit BLAS/LAPACK to one thread.

    Batched decompositions of many tiny matrices gain nothing from threads, and on a busy machine
    OpenBLAS's thread hand-off per ``30 x 30`` matrix makes ``eigh`` about ten times slower.
    """
    from threadpoolctl import threadpool_limits

    return cast(AbstractContextManager[object], threadpool_limits(1, user_api="blas"))


def _block_rows(shape: tuple[int, int, int], extra: int = 1) -> int:
    t, _, w = shape
    return max(1, BLOCK_ELEMENTS // (w * t * t * extra))


def sample_coherence_pairs(
    slc: ArrayLike, reference: NDArray[np.integer], secondary: NDArray[np.integer], window: Window = (5, 5)
) -> C64:
    """Boxcar sample coherence ``(P, H, W)`` of the date pairs ``(reference[k], secondary[k])`` only.

    The same values as ``sample_coherence_matrix(slc, window)[:, :, reference, secondary]`` (phase
    ``phi_secondary - phi_reference``), without the entries of the pairs not asked for.
    """
    check_slc_stack(slc)
    z, _ = _clean(slc)
    ref = np.asarray(reference, dtype=np.intp)
    sec = np.asarray(secondary, dtype=np.intp)
    if (
        ref.shape != sec.shape
        or ref.ndim != 1
        or np.any((ref < 0) | (sec < 0) | (ref >= len(z)) | (sec >= len(z)))
    ):
        raise InputError("pairs", f"pair indices must be two equal 1-D lists within 0..{len(z) - 1}")
    dates = np.arange(len(z))
    first, second = np.concatenate([dates, ref]), np.concatenate([dates, sec])
    return _boxcar_pairs(z, _window(window, "window"), slice(0, z.shape[1]), first, second)[len(z) :]


def sample_coherence_matrix(
    slc: ArrayLike, window: Window = (5, 5), neighbours: NDArray[np.bool_] | None = None
) -> C64:
    """Sample coherence matrix of every pixel, ``C_ij = <s_i s_j*> / sqrt(<|s_i|^2> <|s_j|^2>)``.

    Parameters
    ----------
    slc
        SLC stack ``(T, H, W)`` complex; NaN samples are left out of the means.
    window
        Boxcar ``(wy, wx)`` (odd) or one odd size; ignored when ``neighbours`` is given.
    neighbours
        Optional ``(H, W, wy, wx)`` bool: for each pixel, which pixels of the window centred on it
        to average over (e.g. from :func:`shp_neighbourhood`).

    Returns
    -------
    ``(H, W, T, T)`` complex64 Hermitian, unit diagonal (0 where a pixel has no valid sample).
    """
    check_slc_stack(slc)
    z, _ = _clean(slc)
    if neighbours is not None:
        nb = _check_neighbours(neighbours, z.shape)
        return _neighbour_block(z, nb, slice(0, z.shape[1]))
    return _boxcar_block(z, _window(window, "window"), slice(0, z.shape[1]))


def _check_neighbours(neighbours: NDArray[np.bool_], shape: tuple[int, ...]) -> NDArray[np.bool_]:
    nb = np.asarray(neighbours, dtype=bool)
    if nb.ndim != 4 or nb.shape[:2] != shape[1:]:
        raise InputError(
            "neighbours", f"expected shape (H, W, wy, wx) with (H, W) = {shape[1:]}, got {nb.shape}"
        )
    _window(nb.shape[2:], "neighbours")
    return nb


@lru_cache(maxsize=64)
def _ks_critical_count(n: int, alpha: float) -> int:
    """Smallest ``k`` such that the exact two-sample KS test (``n`` vs ``n``) rejects at ``D = k / n``."""
    a = np.arange(n, dtype=np.float64)
    for k in range(1, n + 1):
        # shifting one sample by k - 1/2 makes the KS statistic exactly k / n
        with warnings.catch_warnings():  # scipy falls back to the asymptotic p-value for far tails
            warnings.simplefilter("ignore", RuntimeWarning)
            p = stats.ks_2samp(a, a + k - 0.5, method="exact").pvalue
        if p < alpha:
            return k
    return n + 1  # never rejects: too few dates for this alpha


def shp_neighbourhood(
    amplitude: ArrayLike,
    window: Window = (11, 11),
    alpha: float = 0.05,
    method: ShpMethod = "glrt",
) -> NDArray[np.bool_]:
    """Statistically homogeneous pixels: which pixels of each pixel's window share its amplitude law.

    Parameters
    ----------
    amplitude
        ``(T, H, W)`` amplitudes (``|slc|``); NaN = missing.
    window
        Search window ``(wy, wx)`` (odd) or one odd size.
    alpha
        Significance level: a neighbour is rejected when the test's p-value is below it.
    method
        ``"glrt"``: generalised likelihood-ratio test for equal Rayleigh scale, i.e. equal mean
        intensity, with a chi2(1) threshold (Parizzi & Brcic 2011; as ``dolphin.shp._glrt``);
        ``"ks"``: exact two-sample Kolmogorov-Smirnov test of the ``T`` amplitudes (Ferretti et al.
        2011), vectorised over pixels. Pixels with missing dates are only compared by GLRT.

    Returns
    -------
    ``(H, W, wy, wx)`` bool; the centre is True for valid pixels, out-of-raster neighbours False.
    """
    a = np.asarray(amplitude, dtype=np.float64)
    if a.ndim != 3:
        raise InputError("amplitude", f"expected (T, H, W), got shape {a.shape}")
    if method not in SHP_METHODS:
        raise InputError("shp", f"unknown SHP method {method!r}; choose one of {SHP_METHODS}")
    if not 0.0 < alpha < 1.0:
        raise InputError("alpha", f"significance level must lie in (0, 1), got {alpha}")
    wy, wx = _window(window, "shp_window")
    t, h, w = a.shape
    valid = np.isfinite(a).any(axis=0)
    hy, hx = wy // 2, wx // 2
    out = np.zeros((h, w, wy, wx), dtype=bool)

    if method == "glrt":
        with np.errstate(invalid="ignore", divide="ignore"):
            power = np.nanmean(a**2, axis=0)  # 2 sigma^2 of the Rayleigh law
            log_p = np.log(power)
        count = np.sum(np.isfinite(a), axis=0)
        threshold = stats.chi2.ppf(1.0 - alpha, df=1)
        pp = np.pad(power, ((hy, hy), (hx, hx)), constant_values=np.nan)
        pl = np.pad(log_p, ((hy, hy), (hx, hx)), constant_values=np.nan)
        pc = np.pad(count, ((hy, hy), (hx, hx)))
        for dy in range(wy):
            for dx in range(wx):
                p2, l2, n2 = (
                    pp[dy : dy + h, dx : dx + w],
                    pl[dy : dy + h, dx : dx + w],
                    pc[dy : dy + h, dx : dx + w],
                )
                with np.errstate(invalid="ignore", divide="ignore"):
                    # equal-sample form of the Rayleigh GLRT; min count keeps it conservative with gaps
                    stat = np.minimum(count, n2) * (2 * np.log((power + p2) / 2) - log_p - l2)
                out[:, :, dy, dx] = stat < threshold  # NaN (invalid / off-raster) -> False
    else:
        k = _ks_critical_count(t, alpha)
        srt = np.sort(a, axis=0)  # NaN sorts last; pixels with NaN never match (D below is biased)
        ps = np.pad(srt, ((0, 0), (hy, hy), (hx, hx)), constant_values=np.nan)
        labels = np.concatenate([np.ones(t, np.int16), -np.ones(t, np.int16)])
        for dy in range(wy):
            for dx in range(wx):
                other = ps[:, dy : dy + h, dx : dx + w]
                both = np.concatenate([srt, other], axis=0)
                order = np.argsort(both, axis=0, kind="stable")
                steps = labels[order]
                d = np.max(np.abs(np.cumsum(steps, axis=0)), axis=0)  # n * KS statistic
                ok = np.isfinite(srt).all(axis=0) & np.isfinite(other).all(axis=0)
                out[:, :, dy, dx] = ok & (d < k)
    out[:, :, hy, hx] = valid
    return out


def _reference(vectors: NDArray[np.complexfloating]) -> C64:
    """Unit phasors ``exp(1j * phi)`` of the linked phase from eigenvectors ``(..., T)``.

    The eigenvectors follow the SLCs (phase ``-phi``), hence the conjugate; date 0 is the reference.
    """
    ref = vectors[..., :1]
    x = np.conj(vectors) * ref
    mag = np.abs(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(mag > 0, x / np.where(mag > 0, mag, 1.0), 1.0)
    return x.astype(np.complex64)


def _as_matrices(c: ArrayLike) -> NDArray[np.complex128]:
    m = np.asarray(c, dtype=np.complex128)
    if m.ndim < 2 or m.shape[-1] != m.shape[-2]:
        raise InputError("coherence matrix", f"expected (..., T, T), got shape {m.shape}")
    return m


def evd(c: ArrayLike) -> C64:
    """Linked phase from the leading eigenvector of ``C`` (EVD estimator).

    Parameters
    ----------
    c
        Coherence matrices ``(..., T, T)`` Hermitian.

    Returns
    -------
    ``(..., T)`` complex64 unit phasors ``exp(1j * phi_t)``, ``phi_0 = 0`` (see the module's sign
    convention).
    """
    m = _as_matrices(c)
    _, vecs = np.linalg.eigh(m)
    return _reference(vecs[..., :, -1])


def _regularised_inverse(gamma: NDArray[np.float64]) -> NDArray[np.float64]:
    """Inverse of ``|C|`` with diagonal loading; more loading where ``|C|`` is not positive definite."""
    n = gamma.shape[-1]
    eye = np.eye(n)
    loaded = gamma + EMI_LOADING * eye
    try:
        np.linalg.cholesky(loaded)
    except np.linalg.LinAlgError:
        # |C| of a sample coherence matrix need not be positive definite: lift its spectrum
        low = np.linalg.eigvalsh(loaded)[..., 0]
        shift = np.where(low > EMI_LOADING, 0.0, EMI_LOADING - low + 1e-3)
        loaded = loaded + shift[..., None, None] * eye
    return np.asarray(np.linalg.inv(loaded), dtype=np.float64)


def emi(c: ArrayLike) -> C64:
    """Linked phase by EMI (Ansari et al. 2018): minimum eigenvector of ``|C|^-1 o C``.

    ``|C|`` is diagonally loaded before inversion (more where it is not positive definite), as in
    dolphin; ``o`` is the Hadamard product.

    Parameters
    ----------
    c
        Coherence matrices ``(..., T, T)`` Hermitian.

    Returns
    -------
    ``(..., T)`` complex64 unit phasors ``exp(1j * phi_t)``, ``phi_0 = 0``.
    """
    m = _as_matrices(c)
    inv = _regularised_inverse(np.abs(m))
    _, vecs = np.linalg.eigh(inv * m)
    return _reference(vecs[..., :, 0])


def temporal_coherence(c: ArrayLike, phase: ArrayLike) -> NDArray[np.float64]:
    """Temporal coherence (goodness of fit) of a linked phase, ``(...)`` in [-1, 1].

    ``gamma_t = 2 / (T (T - 1)) * Re sum_{i<j} exp(1j * angle(C_ij)) * exp(-1j * (phi_j - phi_i))``
    (Ferretti et al. 2011), with ``angle(C_ij)`` the phase of pair ``(i, j)`` in this module's
    convention.

    Parameters
    ----------
    c
        Coherence matrices ``(..., T, T)``.
    phase
        Linked phase ``(..., T)`` (rad), or its unit phasors (complex).
    """
    m = _as_matrices(c)
    p = np.asarray(phase)
    x = p / np.abs(p) if np.iscomplexobj(p) else np.exp(1j * p.astype(np.float64))
    t = m.shape[-1]
    if x.shape[-1] != t:
        raise InputError("phase", f"phase has {x.shape[-1]} dates, the coherence matrix {t}")
    mag = np.abs(m)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(mag > 0, m / np.where(mag > 0, mag, 1.0), 0)
    resid = unit * x[..., :, None] * np.conj(x[..., None, :])
    iu = np.triu_indices(t, k=1)
    return np.asarray(np.real(resid[..., iu[0], iu[1]]).sum(axis=-1) * 2.0 / (t * (t - 1)), dtype=np.float64)


@dataclass
class PhaseLinkResult:
    """Linked phase of an SLC stack.

    ``phase`` is ``(T, H, W)`` float32 (rad, wrapped, date 0 = 0; NaN where a pixel has a missing
    date), ``temporal_coherence`` ``(H, W)`` float32; ``looks`` ``(H, W)`` the number of pixels
    averaged into each coherence matrix; ``seconds`` the wall time.
    """

    phase: F32
    temporal_coherence: F32
    looks: NDArray[np.int32]
    method: str
    shp: str | None
    seconds: float


def phase_link(
    slc: ArrayLike,
    window: Window = (5, 5),
    method: Method = "emi",
    shp: ShpMethod | None = None,
    shp_window: Window = (11, 11),
    alpha: float = 0.05,
) -> PhaseLinkResult:
    """Phase-link an SLC stack: one wrapped phase per date and pixel, referenced to date 0.

    Parameters
    ----------
    slc
        Co-registered SLCs ``(T, H, W)`` complex (NaN = missing).
    window
        Boxcar window ``(wy, wx)`` (odd) of the sample coherence matrix, without SHP.
    method
        ``"emi"`` (default; better when coherence decays with time) or ``"evd"``.
    shp
        ``None`` (boxcar), ``"glrt"`` or ``"ks"``: average each coherence matrix over the
        statistically homogeneous pixels of ``shp_window`` instead (see :func:`shp_neighbourhood`).
    shp_window, alpha
        Search window and significance level of the SHP test.

    Returns
    -------
    :class:`PhaseLinkResult`; ``phase[t]`` estimates the interferometric phase of pair ``(0, t)``.
    """
    start = time.perf_counter()
    check_slc_stack(slc)
    if method not in METHODS:
        raise InputError("method", f"unknown phase-linking method {method!r}; choose one of {METHODS}")
    box = _window(window, "window")
    z, valid = _clean(slc)
    t, h, w = z.shape
    neighbours = None
    if shp is not None:
        neighbours = shp_neighbourhood(np.abs(np.where(valid, z, np.nan)), shp_window, alpha, shp)
        looks = neighbours.sum(axis=(2, 3)).astype(np.int32)
        block = _block_rows(z.shape, extra=max(1, neighbours.shape[2] * neighbours.shape[3] // t))
    else:
        looks = ndimage.uniform_filter(valid.all(axis=0).astype(np.float64), box, mode="constant")
        looks = np.rint(looks * box[0] * box[1]).astype(np.int32)
        block = _block_rows(z.shape)
    link = emi if method == "emi" else evd
    phase = np.empty((t, h, w), dtype=np.float32)
    tcoh = np.empty((h, w), dtype=np.float32)
    with _blas_single_thread():
        for r0 in range(0, h, block):
            rows = slice(r0, min(r0 + block, h))
            if neighbours is not None:
                c = _neighbour_block(z, neighbours, rows)
            else:
                c = _boxcar_block(z, box, rows)
            x = link(c)
            phase[:, rows] = np.moveaxis(np.angle(x), -1, 0)
            tcoh[rows] = temporal_coherence(c, x)
    missing = ~valid.all(axis=0)
    phase[:, missing] = np.nan
    tcoh[missing] = np.nan
    return PhaseLinkResult(phase, tcoh, looks, method, shp, time.perf_counter() - start)
