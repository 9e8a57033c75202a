"""Measuring one target: unwrap the crop, reference it to a nearby stable ring, invert the network."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fringenet.conventions import days_to_years
from fringenet.errors import InputError
from fringenet.insar.coherence import coherence_from_phase
from fringenet.insar.reference import reference_to_area
from fringenet.insar.sbas import invert_sbas
from fringenet.insar.unwrap import PSEUDO_COHERENCE_WINDOW, unwrap
from fringenet.measure.crop import Window
from fringenet.measure.reference import choose_reference_area

Unwrapper = Callable[[NDArray[np.float64], NDArray[np.float64]], ArrayLike]
"""``(wrapped (y, x) rad, coherence (y, x)) -> unwrapped (y, x) rad`` for one pair (e.g. PUNet)."""

MEDIAN_SE = 1.2533 * 1.4826
"""Standard error of a median = sqrt(pi/2) sigma / sqrt(n), with sigma = 1.4826 MAD (Gaussian)."""


@dataclass(frozen=True)
class TargetMeasurement:
    """Time series and mean LOS velocity of one target (m, m/yr; positive towards the satellite)."""

    target_id: str
    dates: NDArray[np.datetime64]
    """``(date,)`` acquisition dates (datetime64[D])."""
    displacement_m: NDArray[np.float64]
    """``(date,)`` median over the target pixels of the LOS displacement (m), 0 at the first date."""
    displacement_std_m: NDArray[np.float64]
    """``(date,)`` standard error of that median: ``1.2533 * 1.4826 * MAD / sqrt(n_pixels)`` (m). The MAD
    includes the real spatial variation of the signal over the target (conservative), while
    ``sqrt(n)`` assumes independent pixels (optimistic for spatially correlated noise)."""
    velocity_m_per_yr: float
    """Least-squares slope of ``displacement_m`` against time (m/yr)."""
    velocity_std_m_per_yr: float
    """Standard error of that slope from the fit residuals (m/yr); NaN with fewer than 3 dates."""
    velocity_pixel_median_m_per_yr: float
    """Median over the target pixels of the per-pixel SBAS velocities (m/yr)."""
    velocity_map: NDArray[np.float64]
    """``(h, w)`` per-pixel SBAS velocity of the crop (m/yr); NaN where unusable or not inverted."""
    n_pixels: int
    """Target pixels that entered the series."""
    reference_px: int
    """Pixels in the reference area."""
    reference_info: dict[str, Any]
    unwrapper: str
    notes: tuple[str, ...]
    window: Window | None
    """``(row0, row1, col0, col1)`` of the crop in the scene, when known."""
    target_mask: NDArray[np.bool_] = field(repr=False)
    reference_area: NDArray[np.bool_] = field(repr=False)
    wavelength_m: float = float("nan")

    @property
    def n_dates(self) -> int:
        """Number of acquisition dates."""
        return int(self.dates.size)

    @property
    def time_years(self) -> NDArray[np.floating]:
        """``(date,)`` time since the first date (years)."""
        return days_to_years((self.dates - self.dates[0]).astype(np.float64))


def _linear_rate(t: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float]:
    """Slope of ``y`` against ``t`` and its standard error from the residuals (NaN below 3 points)."""
    tc = t - t.mean()
    slope = float(tc @ y / (tc @ tc))
    if t.size < 3:
        return slope, float("nan")
    resid = y - y.mean() - slope * tc
    return slope, float(np.sqrt(resid @ resid / (t.size - 2) / (tc @ tc)))


def _keep_reference_component(
    unwrapped: NDArray[np.float64], components: NDArray[np.int64], area: NDArray[np.bool_]
) -> int:
    """NaN the pixels outside the component holding most of the reference area; returns how many.

    Separate components carry independent 2-pi offsets, so only the one tied to the reference
    can be referenced.
    """
    labels = components[area & np.isfinite(unwrapped) & (components > 0)]
    if labels.size == 0:
        return 0
    drop = np.isfinite(unwrapped) & (components != np.bincount(labels).argmax())
    unwrapped[drop] = np.nan
    return int(drop.sum())


def _unwrap_pair(
    wrapped: NDArray[np.float64],
    coherence: NDArray[np.float64],
    usable: NDArray[np.bool_],
    unwrapper: str | Unwrapper,
    nlooks: float,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    if isinstance(unwrapper, str):
        result = unwrap(wrapped, coherence, method=unwrapper, nlooks=nlooks, mask=usable)
        return result.unwrapped, result.components
    out = np.array(unwrapper(wrapped, coherence), dtype=np.float64)
    if out.shape != wrapped.shape:
        raise InputError("unwrapper", f"returned shape {out.shape} for a {wrapped.shape} interferogram")
    out[~usable | ~np.isfinite(wrapped)] = np.nan
    return out, np.isfinite(out).astype(np.int64)


def measure_target(
    wrapped: ArrayLike,
    coherence: ArrayLike | None,
    reference_dates: Sequence[Any] | NDArray[Any],
    secondary_dates: Sequence[Any] | NDArray[Any],
    target_mask: ArrayLike,
    *,
    wavelength_m: float,
    unwrapper: str | Unwrapper = "snaphu",
    nlooks: float = 1.0,
    unusable: ArrayLike | None = None,
    min_coherence: float = 0.0,
    target_id: str = "",
    window: Window | None = None,
    detections: ArrayLike | None = None,
    buffer_px: int = 3,
    reference_min_coherence: float = 0.4,
) -> TargetMeasurement:
    """LOS displacement series and mean velocity of one target from a cropped stack.

    Each pair is unwrapped over the crop (unusable pixels masked), restricted to the connected
    component holding the reference, shifted to zero median over a coherent reference ring
    (:func:`~fringenet.measure.reference.choose_reference_area`) and the small-baseline network
    is inverted per pixel with weights ``gamma^2 / (1 - gamma^2)`` (gamma clipped at 0.99). The
    target series is the per-date median over the target's pixels; its velocity is the
    least-squares slope of that series.

    Parameters
    ----------
    wrapped
        ``(pair, h, w)`` wrapped phase of the crop (rad); NaN = no data.
    coherence
        ``(pair, h, w)`` coherence in [0, 1], or ``None``: then estimated from the phase (noted).
    reference_dates, secondary_dates
        Dates of each pair, length ``pair``.
    target_mask
        ``(h, w)`` bool, True on the target.
    wavelength_m
        Radar wavelength (m).
    unwrapper
        ``"snaphu"`` / ``"whirlwind"`` (:func:`fringenet.insar.unwrap.unwrap`), or a callable
        ``(wrapped (h, w), coherence (h, w)) -> unwrapped (h, w)`` applied pair by pair.
    nlooks
        Equivalent number of looks of the coherence (for SNAPHU/whirlwind).
    unusable
        Optional ``(h, w)`` bool, True where the phase is unusable: masked from unwrapping, the
        reference and the statistics.
    min_coherence
        Pixels of a pair below this coherence are left out of the inversion.
    target_id, window
        Recorded in the result (``window`` = the crop's ``(row0, row1, col0, col1)`` in the scene).
    detections, buffer_px, reference_min_coherence
        Passed to :func:`~fringenet.measure.reference.choose_reference_area` (``detections``:
        every detected pixel of the crop; ``reference_min_coherence``: its ``min_coherence``).

    Raises
    ------
    InputError
        On inconsistent shapes, when no reference area exists or no target pixel can be measured.
    """
    phase = np.array(wrapped, dtype=np.float64)
    target = np.asarray(target_mask, dtype=bool)
    if phase.ndim != 3 or target.shape != phase.shape[1:]:
        raise InputError(
            "target crop", f"expected wrapped (pair, h, w) and mask (h, w) ({phase.shape}, {target.shape})"
        )
    usable = np.ones(target.shape, dtype=bool)
    if unusable is not None:
        usable = ~np.asarray(unusable, dtype=bool)
        if usable.shape != target.shape:
            raise InputError("unusable mask", f"shape {usable.shape} differs from the crop {target.shape}")
    notes: list[str] = []
    if coherence is None:
        coh = np.stack([coherence_from_phase(p, PSEUDO_COHERENCE_WINDOW) for p in phase])
        notes.append("no coherence given: estimated from the phase (pseudo-coherence, 5x5 window)")
    else:
        coh = np.asarray(coherence, dtype=np.float64)
        if coh.shape != phase.shape:
            raise InputError("coherence", f"shape {coh.shape} differs from the wrapped phase {phase.shape}")

    area, info = choose_reference_area(
        target,
        coh,
        ~usable,
        buffer_px=buffer_px,
        min_coherence=reference_min_coherence,
        detections=detections,
    )
    if info["fallback"] is not None:
        notes.append(info["note"])

    unwrapped = np.full(phase.shape, np.nan)
    dropped = 0
    for k in range(phase.shape[0]):
        unw, comps = _unwrap_pair(phase[k], coh[k], usable, unwrapper, nlooks)
        dropped += _keep_reference_component(unw, comps, area)
        unwrapped[k] = unw
    if dropped:
        share = dropped / (phase.shape[0] * usable.sum())
        notes.append(
            f"{dropped} pixel-pair(s) ({share:.2%}) lay outside the reference's unwrapping component "
            "and were left out"
        )
    if min_coherence > 0:
        unwrapped = np.where(coh >= min_coherence, unwrapped, np.nan)
    referenced, _ = reference_to_area(unwrapped, area)
    gamma2 = np.clip(coh, 0.0, 0.99) ** 2
    result = invert_sbas(
        referenced,
        reference_dates,
        secondary_dates,
        wavelength_m=wavelength_m,
        weights=gamma2 / (1.0 - gamma2),
    )

    measured = target & usable & np.all(np.isfinite(result.displacement), axis=0)
    n = int(measured.sum())
    if n == 0:
        raise InputError(target_id or "target", "no target pixel could be unwrapped and inverted")
    disp = result.displacement[:, measured]
    series = np.median(disp, axis=1)
    mad = np.median(np.abs(disp - series[:, None]), axis=1)
    velocity, velocity_std = _linear_rate(np.asarray(result.time_years, dtype=np.float64), series)
    velocity_map = np.where(usable, result.velocity, np.nan)
    return TargetMeasurement(
        target_id=target_id,
        dates=result.dates.astype("datetime64[D]"),
        displacement_m=series.astype(np.float64),
        displacement_std_m=(MEDIAN_SE * mad / np.sqrt(n)).astype(np.float64),
        velocity_m_per_yr=velocity,
        velocity_std_m_per_yr=velocity_std,
        velocity_pixel_median_m_per_yr=float(np.median(result.velocity[measured])),
        velocity_map=velocity_map,
        n_pixels=n,
        reference_px=int(area.sum()),
        reference_info=info,
        unwrapper=unwrapper if isinstance(unwrapper, str) else getattr(unwrapper, "__name__", "callable"),
        notes=tuple(notes),
        window=None if window is None else (int(window[0]), int(window[1]), int(window[2]), int(window[3])),
        target_mask=target,
        reference_area=area,
        wavelength_m=float(wavelength_m),
    )
