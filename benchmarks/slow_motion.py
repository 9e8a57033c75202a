"""Slow movers over long stacks: the smallest velocity each detector finds at 80 % recall, by stack length.

Motion invisible in any single pair (well under 0.3 fringe per 12-day pair: below ~250 mm/yr at C band) but
steady over the stack, on independent stacks (:mod:`independent_stacks`: troposim atmosphere per date,
landslides, subsidence bowls and Mogi sources, coherence decaying with the pair span; no fringenet code).
The same scenes are drawn at every velocity (only the motion scales), with 0 m/yr as the hard negatives.

Detectors, each as a user runs it:
- the classical phase-gradient stacking + Otsu (``fringenet.evaluate.baselines.stacked_gradient_otsu``,
  coherence-weighted),
- the classical stacked rate anomaly (``fringenet.evaluate.baselines.stacked_rate_anomaly``: the rate from
  stacked gradients against its local background, seed threshold calibrated on fringenet's own motionless
  stacks by ``benchmarks/calibrate_slow_motion.py``),
- ``fringenet detect`` on the stack (no mask, slow-motion stage off) with the shipped time-series model
  (``temporal``) and with the shipped detector (``detector``: the mean of its per-pair probabilities), or any
  bundles given with ``--models``, and
- ``fringenet detect`` with its defaults: the shipped detector, whose regions the slow-motion stage (the
  stacked rate anomaly) joins.

Scores, with the generalisation benchmark's rules: a moving stack is detected when >= 20 % of its label is
flagged; a stack without motion is a false alarm when > 1 % of its pixels are flagged. The minimum detectable
velocity (MDV) is the smallest velocity tested from which on every faster one reaches 80 % recall; it is
only reported for a detector that raises false alarms on at most 10 % of the stacks without motion.

    python benchmarks/slow_motion.py                 # 3 stack lengths x 8 scenes x 7 velocities
    python benchmarks/slow_motion.py --scenes 3 --dates 6 16   # quick
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine

import independent_stacks as stacks

DETECTED_FRACTION = 0.2
FALSE_ALARM_FRACTION = 0.01
RECALL = 0.8
PYRATE_BOWL_MM_PER_YR = 5.0
"""PyRate's bowl: its pixels subsiding faster than this (mm/yr, after removing a plane)."""
MAX_FALSE_ALARMS = 0.1
"""An MDV is only reported for a detector with at most this false-alarm rate on the stacks without motion."""


def classical_mask(stack: stacks.Stack) -> tuple[np.ndarray, None]:
    from fringenet.evaluate.baselines import stacked_gradient_otsu

    return np.asarray(stacked_gradient_otsu(stack.wrapped_phase, stack.coherence), dtype=bool), None


def significance_mask(stack: stacks.Stack) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The calibrated detector's mask and, per detected target, (its ring-referenced stacked velocity, the true
    median velocity over it) in m/yr, as ``fringenet detect`` reports them."""
    from scipy import ndimage

    from fringenet.detect.filters import EIGHT_CONNECTED
    from fringenet.detect.slow_motion import referenced_result, ring_referenced_velocities
    from fringenet.evaluate.baselines import stacked_rate_anomaly

    spans = np.array([(stack.dates[j] - stack.dates[i]).days for i, j in stack.pairs]) / stacks.DAYS_PER_YEAR
    detection = stacked_rate_anomaly(stack.wrapped_phase, spans, stack.coherence, pixel_m=stack.pixel_m)
    labels, n = ndimage.label(detection.mask, structure=EIGHT_CONNECTED)
    estimates = ring_referenced_velocities(labels, n, referenced_result(detection, stacks.WAVELENGTH_M))
    truth = [float(np.median(stack.velocity_m_per_yr[labels == k])) for k in range(1, n + 1)]
    return detection.mask, [(e, t) for e, t, k in zip(estimates, truth, range(1, n + 1), strict=True)
                            if np.isfinite(e) and (stack.label & (labels == k)).any()]  # fmt: skip


def velocity_table(errors: dict[int, dict[float, list[tuple[float, float]]]], n_pairs: dict[int, int]) -> str:
    """Per detected target on a mover: RMSE, gain (least-squares slope of estimate on truth, 1 = unbiased) and
    correlation of the stacked velocity against the true median velocity over the target."""
    velocities = sorted({v for by in errors.values() for v in by})
    lines = [
        "| target velocity from the stacked rate | dates | pairs | "
        + " | ".join(f"{v * 1000:g} mm/yr: targets, RMSE (mm/yr), gain, r" for v in velocities) + " |",
        "|---|---:|---:|" + "---|" * len(velocities),
    ]  # fmt: skip
    for n_dates, by in errors.items():
        cells = []
        for v in velocities:
            pairs = np.array(by.get(v, []), dtype=np.float64).reshape(-1, 2) * 1e3
            if len(pairs) < 2:
                cells.append(f"{len(pairs)}, -, -, -")
                continue
            estimate, truth = pairs[:, 0], pairs[:, 1]
            rmse = float(np.sqrt(np.mean((estimate - truth) ** 2)))
            gain = float(np.sum(estimate * truth) / np.sum(truth**2))
            cells.append(
                f"{len(pairs)}, {rmse:.1f}, {gain:.2f}, {float(np.corrcoef(estimate, truth)[0, 1]):.2f}"
            )
        lines.append(f"| ring-referenced (as `detect` reports it) | {n_dates} | {n_pairs[n_dates]} | "
                     + " | ".join(cells) + " |")  # fmt: skip
    return "\n".join(lines)


def as_dataset(stack: stacks.Stack) -> Any:
    """The stack as a fringenet Dataset on a UTM grid (wrapped phase, coherence, DEM, pair dates, wavelength)."""
    from fringenet.io.schema import make_dataset

    size = stack.wrapped_phase.shape[-1]
    transform = Affine(stack.pixel_m, 0.0, 500_000.0, 0.0, -stack.pixel_m, 5_000_000.0 + size * stack.pixel_m)
    return make_dataset(
        {"wrapped_phase": stack.wrapped_phase, "coherence": stack.coherence, "dem": stack.dem},
        transform=transform, crs="EPSG:32632", reference_dates=stack.reference_dates,
        secondary_dates=stack.secondary_dates, wavelength_m=stacks.WAVELENGTH_M,
    )  # fmt: skip


def model_mask(stack: stacks.Stack, model: str | None, folder: Path, slow_motion: str = "off") -> np.ndarray:
    """``fringenet detect`` with ``model`` (None: the default) on the stack (as an in-memory dataset, no mask);
    the slow-motion stage off unless asked for, so that a model row scores the model alone."""
    from fringenet.pipeline.monitor import DetectConfig, run_detect

    config = DetectConfig(model=model, mask="none", scheduler="inline", slow_motion=slow_motion)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_detect(as_dataset(stack), folder, config, overwrite=True)
    with rasterio.open(result.files["detections_tif"]) as src:
        return src.read(1) > 0


def pyrate_part() -> str:
    """The slow-motion stage on PyRate's real ENVISAT stack (``../shared``), beside PyRate's own linear rate.

    The stage runs as ``fringenet detect`` runs it (re-wrapped unwrapped pairs, no coherence). Its velocity is
    relative to a local background and PyRate removed orbital planes, so both are compared after removing
    their best-fitting planes. PyRate's subsidence bowl is taken as its pixels subsiding faster than
    :data:`PYRATE_BOWL_MM_PER_YR` after that plane removal.
    """
    from temporal import ENVISAT_WAVELENGTH_M, PYRATE, remove_plane

    if not PYRATE.is_dir():
        return f"(real stack skipped: {PYRATE} not found)"
    from fringenet.detect.slow_motion import detect_slow_motion
    from fringenet.io.schema import pixel_size_m
    from fringenet.io.stack import open_stack_folder

    stack = open_stack_folder(
        PYRATE / "tif", "geo_*_unw.tif", "unwrapped_phase", nodata=0.0, wavelength_m=ENVISAT_WAVELENGTH_M
    )
    t0 = time.perf_counter()
    result = detect_slow_motion(stack, pixel_size_m(stack), None, [])
    seconds = time.perf_counter() - t0
    pyrate = -np.load(PYRATE / "linrate" / "linear_rate.npy")  # PyRate: + away from the satellite
    velocity = result.velocity_m_per_yr.astype(np.float64) * 1e3
    valid = np.isfinite(pyrate) & np.isfinite(velocity)
    ours, theirs = (remove_plane(np.where(valid, a, np.nan)) for a in (velocity, pyrate))
    r = float(np.corrcoef(ours[valid], theirs[valid])[0, 1])
    bowl = valid & (theirs < -PYRATE_BOWL_MM_PER_YR)
    flagged = result.detection.mask & valid
    return "\n".join([
        "| real stack | pairs | velocity r vs PyRate (planes removed) | flagged px | PyRate bowl px | bowl flagged "
        "| flagged px in the bowl | s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| PyRate ENVISAT small test (NSW) | {stack.sizes['pair']} | {r:.2f} | {int(flagged.sum())} | "
        f"{int(bowl.sum())} | {(flagged & bowl).sum() / max(bowl.sum(), 1):.0%} | "
        f"{(flagged & bowl).sum() / max(flagged.sum(), 1):.0%} | {seconds:.2f} |",
    ])  # fmt: skip


def score_cell(masks: list[np.ndarray], labels: list[np.ndarray]) -> dict[str, float]:
    """Over the stacks of one cell: ``rate`` = recall (moving stacks) or false-alarm rate (no label),
    ``flagged`` = mean flagged fraction of the scene, ``iou`` = pooled pixel IoU (moving stacks)."""
    flagged = float(np.mean([m.mean() for m in masks]))
    if not labels[0].any():
        return {"rate": float(np.mean([m.mean() > FALSE_ALARM_FRACTION for m in masks])), "flagged": flagged,
                "iou": float("nan")}  # fmt: skip
    pairs = list(zip(masks, labels, strict=True))
    found = [(m & lab).sum() >= DETECTED_FRACTION * lab.sum() for m, lab in pairs]
    inter = sum(int((m & lab).sum()) for m, lab in pairs)
    union = sum(int((m | lab).sum()) for m, lab in pairs)
    return {"rate": float(np.mean(found)), "flagged": flagged, "iou": inter / max(union, 1)}


def mdv(velocities: list[float], recalls: list[float]) -> float | None:
    """Smallest velocity from which on every faster one has recall >= :data:`RECALL` (None: none)."""
    best = None
    for v, r in sorted(zip(velocities, recalls, strict=True), reverse=True):
        if r < RECALL:
            break
        best = v
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--scenes", type=int, default=8, help="stacks per (length, velocity)")
    parser.add_argument("--dates", type=int, nargs="+", default=[6, 16, 31], help="stack lengths (dates)")
    parser.add_argument("--velocities", type=float, nargs="+",
                        default=[0.0, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16], help="peak |LOS velocity| (m/yr)")  # fmt: skip
    parser.add_argument("--size", type=int, default=96, help="scene side (px)")
    parser.add_argument("--models", nargs="*", default=["temporal", "detector"],
                        help="bundles or shipped names to run with `fringenet detect` (none: classical only)")  # fmt: skip
    parser.add_argument(
        "--skip-defaults", action="store_true", help="leave out `fringenet detect` with its defaults"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/output/slow_motion"))
    args = parser.parse_args()

    classical = {
        "phase-gradient stacking + Otsu": classical_mask,
        "stacked rate anomaly (calibrated)": significance_mask,
    }
    models = {f"model {name}": name for name in args.models}
    default = "fringenet detect, defaults (detector + slow-motion stage)"
    methods = [*classical, *models, *([] if args.skip_defaults else [default])]
    results: dict[str, dict[int, dict[float, dict[str, float]]]] = {m: {} for m in methods}
    seconds: dict[str, float] = dict.fromkeys(methods, 0.0)
    n_pairs: dict[int, int] = {}
    errors: dict[int, dict[float, list[tuple[float, float]]]] = {n: {} for n in args.dates}
    with tempfile.TemporaryDirectory(prefix="fringenet-slow-") as tmp:
        for n_dates in args.dates:
            for method in methods:
                results[method][n_dates] = {}
            for velocity in args.velocities:
                masks: dict[str, list[np.ndarray]] = {m: [] for m in methods}
                labels = []
                for index in range(args.scenes):
                    stack = stacks.make_stack(args.seed, index, n_dates, velocity, size=args.size)
                    n_pairs[n_dates] = len(stack.pairs)
                    labels.append(stack.label)
                    for method, detector in classical.items():
                        t0 = time.perf_counter()
                        mask, estimate = detector(stack)
                        seconds[method] += time.perf_counter() - t0
                        masks[method].append(mask)
                        if estimate is not None and velocity > 0:
                            errors[n_dates].setdefault(velocity, []).extend(estimate)
                    for method, model in models.items():
                        t0 = time.perf_counter()
                        masks[method].append(model_mask(stack, model, Path(tmp) / "run"))
                        seconds[method] += time.perf_counter() - t0
                    if default in methods:
                        t0 = time.perf_counter()
                        masks[default].append(model_mask(stack, None, Path(tmp) / "run", slow_motion="auto"))
                        seconds[default] += time.perf_counter() - t0
                for method in methods:
                    results[method][n_dates][velocity] = score_cell(masks[method], labels)
                print(n_dates, velocity, {m: results[m][n_dates][velocity] for m in methods}, flush=True)

    moving = [v for v in args.velocities if v > 0]
    lines = [
        "| detector | dates | pairs | false alarms (0 m/yr) | flagged without motion | "
        + " | ".join(f"recall {v * 1000:g} mm/yr ({stacks.fringes_per_pair(v):.2f} fr/pair)" for v in moving)
        + f" | IoU at {max(moving) * 1000:g} mm/yr | MDV at 80 % recall (mm/yr) |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(moving) + "---:|---:|",
    ]
    for method in methods:
        for n_dates in args.dates:
            row = results[method][n_dates]
            found = mdv(moving, [row[v]["rate"] for v in moving])
            still = row.get(0.0)
            fa = "- | -" if still is None else f"{still['rate']:.0%} | {still['flagged']:.0%}"
            limit = f"> {max(moving) * 1000:g}" if found is None else f"{found * 1000:g}"
            if (
                still is not None and still["rate"] > MAX_FALSE_ALARMS
            ):  # it flags everything: recall means nothing
                limit = f"n/a (false alarms > {MAX_FALSE_ALARMS:.0%})"
            lines.append(
                f"| {method} | {n_dates} | {n_pairs[n_dates]} | {fa} | "
                + " | ".join(f"{row[v]['rate']:.0%}" for v in moving)
                + f" | {row[max(moving)]['iou']:.2f} | {limit} |"
            )
    total = args.scenes * len(args.velocities) * len(args.dates)
    lines.append("")
    lines.append(f"{args.scenes} stacks per cell, {args.size} x {args.size} px, seed {args.seed}; seconds per stack: "
                 + ", ".join(f"{m} {seconds[m] / total:.2f}" for m in methods))  # fmt: skip
    lines += ["", velocity_table(errors, n_pairs), "", pyrate_part()]
    text = "\n".join(lines)
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "n_pairs": n_pairs,
                              "results": {m: {str(n): {str(v): r for v, r in row.items()} for n, row in by.items()}
                                          for m, by in results.items()}}  # fmt: skip
    (args.out / "results.json").write_text(json.dumps(record, indent=2))
    (args.out / "table.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
