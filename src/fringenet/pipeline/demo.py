"""The demo: simulate a stack with known targets, measure it from the wrapped phase, score it.

Until the detection-first chain exists, the demo runs the classical measuring stage end to end
on data whose truth is known: SNAPHU unwrapping of every pair, SBAS inversion, and a velocity
threshold as a detector. It reports velocity errors (m/yr) and object recall/precision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

MOVING_THRESHOLD_M_PER_YR = 0.005
"""Pixels whose true |LOS velocity| reaches this count as moving (m/yr)."""
MIN_OBJECT_PX = 9
"""Smallest flagged area the threshold detector reports (pixels)."""


@dataclass(frozen=True)
class DemoSummary:
    """Scores of the demo and the text printed by ``fringenet demo``."""

    metrics: dict[str, float]
    out_dir: Path
    text: str


def run_demo(out_dir: str | Path, seed: int = 0, size: int = 192, n_dates: int = 24) -> DemoSummary:
    """Simulate, invert and score a ``size`` x ``size`` stack of ``n_dates``; writes under ``out_dir``."""
    from fringenet.pipeline.simulate import run_simulate
    from fringenet.pipeline.timeseries import TimeseriesConfig, invert_stack, write_timeseries
    from fringenet.report.velocity import plot_velocity_comparison
    from fringenet.simulate.config import SimulationConfig

    out = Path(out_dir)
    config = SimulationConfig(
        height=size,
        width=size,
        scenario="mixed",
        n_targets=4,
        n_dates=n_dates,
        revisit_days=(12,),
        max_baseline_days=48.0,
        seed=seed,
    )
    simulation = run_simulate(config, out / "simulation", mode="stack", overwrite=True)
    truth = simulation.dataset
    # The measuring stage sees only what a real product has: wrapped phase, coherence, DEM.
    observed = truth[["wrapped_phase", "coherence", "dem"]]
    series, notes = invert_stack(observed, TimeseriesConfig(unwrap_method="snaphu", min_coherence=0.2))
    written = write_timeseries(series, out / "timeseries", notes)

    true_v = truth["los_velocity"].values.astype(np.float64)
    est_v = series["los_velocity"].values
    metrics = score_velocity(true_v, est_v)
    figure = plot_velocity_comparison(
        {
            "wrapped phase (last pair)": truth["wrapped_phase"].values[-1],
            "true LOS velocity": true_v,
            "SBAS LOS velocity": est_v,
            "error": est_v - true_v,
        },
        out / "velocity.png",
        title=f"fringenet demo (seed {seed}): simulated stack, SNAPHU + SBAS",
    )
    text = "\n".join(
        [
            f"fringenet demo: {truth.sizes['pair']} pairs of {len(series.date)} dates, "
            f"{truth.sizes['y']} x {truth.sizes['x']} px, {len(json.loads(truth.attrs.get('objects', '[]')))} targets",
            *(f"note: {n}" for n in notes),
            f"velocity RMSE on moving pixels : {metrics['rmse_moving_m_per_yr'] * 1000:.2f} mm/yr "
            f"({int(metrics['n_moving_px'])} px with |v| >= {MOVING_THRESHOLD_M_PER_YR * 1000:.0f} mm/yr)",
            f"velocity RMSE on stable pixels : {metrics['rmse_stable_m_per_yr'] * 1000:.2f} mm/yr",
            f"velocity-threshold detector    : object recall {metrics['object_recall']:.2f} "
            f"of {int(metrics['n_true_objects'])}, precision {metrics['object_precision']:.2f} "
            f"of {int(metrics['n_flagged_objects'])} (threshold {metrics['detect_threshold_m_per_yr'] * 1000:.1f} mm/yr)",
            f"wrote {simulation.netcdf.parent}/, {written.velocity_tif}, {written.mintpy_velocity}, {figure}",
        ]
    )
    return DemoSummary(metrics, out, text)


def score_velocity(true_v: NDArray[np.floating], est_v: NDArray[np.floating]) -> dict[str, float]:
    """Velocity errors (m/yr) on moving and stable pixels and object scores of a threshold detector.

    True objects are the connected areas where the true |v| reaches ``MOVING_THRESHOLD_M_PER_YR``.
    The detector flags connected areas of at least ``MIN_OBJECT_PX`` pixels where the estimated |v|
    exceeds ``max(MOVING_THRESHOLD, 4 * robust std of the stable background)``. A true object counts
    as found when flagged areas cover at least 10% of it (pixels left NaN by the inversion count
    as not covered); a flagged area is a true detection when at least 10% of it truly moves.
    """
    finite = np.isfinite(est_v) & np.isfinite(true_v)
    moving_truth = np.abs(np.nan_to_num(true_v)) >= MOVING_THRESHOLD_M_PER_YR
    moving = finite & moving_truth
    stable = finite & (np.abs(true_v) < 1e-4)
    err = est_v - true_v
    background = est_v[stable]
    mad = 1.4826 * np.median(np.abs(background - np.median(background))) if background.size else 0.0
    threshold = max(MOVING_THRESHOLD_M_PER_YR, 4.0 * float(mad))
    flagged = ndimage.binary_opening(finite & (np.abs(np.nan_to_num(est_v)) > threshold))
    flagged_objects, n_flagged = ndimage.label(flagged)
    sizes = np.bincount(flagged_objects.ravel(), minlength=n_flagged + 1)
    flagged &= sizes[flagged_objects] >= MIN_OBJECT_PX
    flagged_objects, n_flagged = ndimage.label(flagged)
    true_objects, n_true = ndimage.label(moving_truth)
    coverage = ndimage.mean(flagged, true_objects, index=np.arange(1, n_true + 1)) if n_true else []
    purity = (
        ndimage.mean(moving_truth, flagged_objects, index=np.arange(1, n_flagged + 1)) if n_flagged else []
    )
    return {
        "rmse_moving_m_per_yr": float(np.sqrt(np.mean(err[moving] ** 2))) if moving.any() else float("nan"),
        "rmse_stable_m_per_yr": float(np.sqrt(np.mean(err[stable] ** 2))) if stable.any() else float("nan"),
        "n_moving_px": float(moving.sum()),
        "n_true_objects": float(n_true),
        "n_flagged_objects": float(n_flagged),
        "detect_threshold_m_per_yr": threshold,
        "object_recall": float(np.mean(np.asarray(coverage) >= 0.1)) if n_true else float("nan"),
        "object_precision": float(np.mean(np.asarray(purity) >= 0.1)) if n_flagged else float("nan"),
    }
