"""Calibrate the seed threshold of the slow-motion detector on fringenet's own simulator, stacks without motion.

For each motionless stack (``atmosphere_only``, ``stratified`` and ``decorrelated`` scenarios of
``fringenet.simulate``; 6, 16 and 31 dates, each paired with its next three; 15-90 m pixels) this finds the
smallest seed threshold of :func:`fringenet.evaluate.baselines.stacked_rate_anomaly` that keeps the stack
under 1 % flagged (the false-alarm rule of ``benchmarks/slow_motion.py``), and prints the percentiles of that
threshold over the stacks. Its 95th percentile is the shipped ``SLOW_MOTION_Z``: about 5 % false alarms on
motionless stacks of our simulator. The independent stacks and real data are not used (they are for evaluation).

    python benchmarks/calibrate_slow_motion.py                 # 150 stacks, about 1 min on 2 cores
"""

from __future__ import annotations

import argparse

import numpy as np

FALSE_ALARM_FRACTION = 0.01


def smallest_quiet_threshold(z: np.ndarray, usable: np.ndarray) -> float:
    """Smallest seed threshold whose hysteresis mask (grown to half of it) flags at most 1 % of ``usable``."""
    from skimage.filters import apply_hysteresis_threshold

    magnitude = np.abs(z)
    low, high = 0.0, float(magnitude.max()) + 1e-6
    for _ in range(30):  # the flagged fraction only falls as the threshold rises: bisect
        middle = 0.5 * (low + high)
        flagged = apply_hysteresis_threshold(magnitude, middle / 2.0, middle) & usable
        if flagged.sum() <= FALSE_ALARM_FRACTION * usable.sum():
            high = middle
        else:
            low = middle
    return high


def main() -> None:
    from fringenet.evaluate.baselines import SLOW_MOTION_Z, stacked_rate_anomaly
    from fringenet.simulate.config import SimulationConfig
    from fringenet.simulate.scene import simulate_stack_arrays

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=5000)
    parser.add_argument("--stacks", type=int, default=150)
    parser.add_argument("--size", type=int, default=96)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    thresholds = []
    for index in range(args.stacks):
        scenario = ("atmosphere_only", "stratified", "decorrelated")[index % 3]
        n_dates = (6, 16, 31)[(index // 3) % 3]
        pixel_m = float(rng.choice([15.0, 30.0, 60.0, 90.0]))
        config = SimulationConfig(height=args.size, width=args.size, pixel_size_m=pixel_m, scenario=scenario,
                                  n_dates=n_dates, n_neighbours=3, max_baseline_days=1000.0, gap_probability=0.0,
                                  seed=args.seed + index)  # fmt: skip
        scene = simulate_stack_arrays(config)
        dates = scene.dates.astype("datetime64[D]")
        spans = (dates[scene.pairs[:, 1]] - dates[scene.pairs[:, 0]]).astype(np.float64) / 365.25
        usable = scene.per_pair["valid"].all(axis=0).astype(bool)
        phase = np.where(scene.per_pair["valid"] > 0, scene.per_pair["wrapped_phase"], np.nan)
        detection = stacked_rate_anomaly(phase, spans, scene.per_pair["coherence"], usable, pixel_m=pixel_m)
        thresholds.append(smallest_quiet_threshold(detection.z, usable))
        print(f"{index:3d} {scenario:16s} {n_dates:2d} dates {pixel_m:4.0f} m: quiet from |z| {thresholds[-1]:.2f}",
              flush=True)  # fmt: skip
    values = np.array(thresholds)
    print("\n| percentile | 50 | 80 | 90 | 95 | 99 |\n|---|---:|---:|---:|---:|---:|")
    print(
        "| seed threshold | "
        + " | ".join(f"{np.percentile(values, q):.2f}" for q in (50, 80, 90, 95, 99))
        + " |"
    )
    print(f"\n{len(values)} motionless stacks of fringenet.simulate, seed {args.seed}; shipped SLOW_MOTION_Z = "
          f"{SLOW_MOTION_Z} (false alarms at it here: {np.mean(values > SLOW_MOTION_Z):.0%})")  # fmt: skip


if __name__ == "__main__":
    main()
