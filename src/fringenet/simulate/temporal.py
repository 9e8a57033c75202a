"""Time evolution of a deformation source: a scalar displacement factor D(t) in metres.

A target's ground displacement at time ``t`` (years since the first acquisition) is its unit-peak
spatial pattern times ``D(t)``, with ``D(0) = 0``. Every kind has the linear trend
``velocity_m_per_yr * t``; the kind adds one term:

- ``linear``: nothing;
- ``seasonal``: ``A (sin(2 pi (t - phase) / P) - sin(-2 pi phase / P))``;
- ``accelerating``: ``acceleration / 2 * t^2``;
- ``step``: ``step_m`` for ``t > t_step_yr`` (an earthquake or a sudden collapse).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fringenet.errors import InputError

TEMPORAL_KINDS = ("linear", "seasonal", "accelerating", "step")


@dataclass(frozen=True)
class TemporalModel:
    """Scalar displacement history; see the module docstring for the formula of each kind.

    Attributes
    ----------
    kind
        One of ``TEMPORAL_KINDS``.
    velocity_m_per_yr
        Linear trend (m/yr).
    seasonal_amplitude_m, period_yr, phase_yr
        Amplitude (m), period (yr, default 1) and phase (yr) of the seasonal term.
    acceleration_m_per_yr2
        Constant acceleration (m/yr^2).
    step_m, t_step_yr
        Size (m) and time (yr, >= 0) of the step.
    """

    kind: str = "linear"
    velocity_m_per_yr: float = 0.0
    seasonal_amplitude_m: float = 0.0
    period_yr: float = 1.0
    phase_yr: float = 0.0
    acceleration_m_per_yr2: float = 0.0
    step_m: float = 0.0
    t_step_yr: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in TEMPORAL_KINDS:
            raise InputError("TemporalModel", f"unknown kind {self.kind!r}; valid kinds: {TEMPORAL_KINDS}")
        for name in (
            "velocity_m_per_yr",
            "seasonal_amplitude_m",
            "period_yr",
            "phase_yr",
            "acceleration_m_per_yr2",
            "step_m",
            "t_step_yr",
        ):
            if not np.isfinite(getattr(self, name)):
                raise InputError("TemporalModel", f"{name} must be finite (got {getattr(self, name)!r})")
        if self.period_yr <= 0:
            raise InputError("TemporalModel", f"period_yr must be > 0 (got {self.period_yr})")
        if self.t_step_yr < 0:
            raise InputError(
                "TemporalModel", f"t_step_yr must be >= 0 so that D(0) = 0 (got {self.t_step_yr})"
            )

    def displacement(self, t_years: ArrayLike) -> NDArray[np.float64]:
        """Displacement factor D(t) (m, float64, shape of ``t_years``); ``D(0) = 0``."""
        t = np.asarray(t_years, dtype=np.float64)
        d = self.velocity_m_per_yr * t
        if self.kind == "seasonal":
            w = 2.0 * np.pi / self.period_yr
            d = d + self.seasonal_amplitude_m * (np.sin(w * (t - self.phase_yr)) - np.sin(-w * self.phase_yr))
        elif self.kind == "accelerating":
            d = d + 0.5 * self.acceleration_m_per_yr2 * t**2
        elif self.kind == "step":
            d = d + np.where(t > self.t_step_yr, self.step_m, 0.0)
        return np.asarray(d, dtype=np.float64)

    def mean_velocity(self, t0: float, t1: float) -> float:
        """Mean velocity (m/yr) between ``t0`` and ``t1`` (yr): ``(D(t1) - D(t0)) / (t1 - t0)``."""
        if not (np.isfinite(t0) and np.isfinite(t1)) or t1 == t0:
            raise InputError("TemporalModel", f"need two distinct finite times (got {t0}, {t1})")
        return float((self.displacement(t1) - self.displacement(t0)) / (t1 - t0))


def random_temporal_model(
    rng: np.random.Generator, kind: str, velocity_m_per_yr: float, time_span_yr: float = 1.0
) -> TemporalModel:
    """Draw a temporal model of ``kind`` around a given linear velocity (m/yr).

    Seasonal amplitude is 5-40 % of a year's motion with a random phase; acceleration changes
    the velocity by 20-200 % per year (same sign); a step is 0.1-1 year's motion, at a random
    time within ``(0.05, 0.95) * time_span_yr``.
    """
    if kind not in TEMPORAL_KINDS:
        raise InputError("random_temporal_model", f"unknown kind {kind!r}; valid kinds: {TEMPORAL_KINDS}")
    if not np.isfinite(time_span_yr) or time_span_yr <= 0:
        raise InputError("random_temporal_model", f"time span must be > 0 yr (got {time_span_yr})")
    v = float(velocity_m_per_yr)
    if kind == "seasonal":
        return TemporalModel(
            kind,
            v,
            seasonal_amplitude_m=abs(v) * float(rng.uniform(0.05, 0.4)),
            phase_yr=float(rng.uniform(0.0, 1.0)),
        )
    if kind == "accelerating":
        return TemporalModel(kind, v, acceleration_m_per_yr2=v * float(rng.uniform(0.2, 2.0)))
    if kind == "step":
        return TemporalModel(
            kind,
            v,
            step_m=v * float(rng.uniform(0.1, 1.0)),
            t_step_yr=float(rng.uniform(0.05, 0.95)) * time_span_yr,
        )
    return TemporalModel(kind, v)
