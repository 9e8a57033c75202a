"""Long stacks end to end: ``fringenet detect`` on hundreds of small interferograms in one call (issue 13).

One independent stack (:mod:`independent_stacks`, no fringenet code in its making): 134 dates 12 days apart,
each paired with its next three (399 pairs) of 200 x 200 px with a slow mover, written as one NetCDF. Each
row is ``fringenet detect`` as a user runs it, process start to outputs, with the peak resident memory of
the process tree: the defaults (the shipped detector over every pair, then the slow-motion stage) and the
shipped time-series model. Target: under a minute for 400 pairs of 200 x 200 px on 2 cores.

    python benchmarks/long_stack.py                       # about 3 min on 2 cores
    python benchmarks/long_stack.py --dates 31 --size 96  # quick
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import independent_stacks as stacks
from detect import run_fringenet
from slow_motion import as_dataset

TARGET_S = 60.0


def write_stack(path: Path, n_dates: int, size: int, velocity: float, seed: int) -> tuple[int, float]:
    """The independent stack as a fringenet NetCDF at ``path``; returns (pairs, pixel size in m)."""
    from fringenet.io.netcdf import write_netcdf

    stack = stacks.make_stack(seed, 0, n_dates, velocity, size=size)
    write_netcdf(as_dataset(stack), path)
    return len(stack.pairs), stack.pixel_m


def run(product: Path, out: Path, extra: list[str]) -> tuple[float, float, dict[str, float], int]:
    """``fringenet detect`` once: seconds, peak RSS (GB), its stage seconds and the number of targets."""
    seconds, peak = run_fringenet(["detect", str(product), "--out", str(out), *extra])
    record = json.loads((out / "run.json").read_text())
    return seconds, peak / 1e9, record["seconds"], int(record["n_targets"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dates", type=int, default=134, help="dates (each paired with its next three)")
    parser.add_argument("--size", type=int, default=200, help="scene side (px)")
    parser.add_argument(
        "--velocity", type=float, default=0.04, help="peak |LOS velocity| of the mover (m/yr)"
    )
    parser.add_argument("--seed", type=int, default=31)
    args = parser.parse_args()

    runs = {"defaults (detector + slow-motion stage)": [], "--model temporal": ["--model", "temporal"]}
    rows = []
    with tempfile.TemporaryDirectory(prefix="fringenet-long-") as tmp:
        product = Path(tmp) / "stack.nc"
        t0 = time.perf_counter()
        n_pairs, pixel_m = write_stack(product, args.dates, args.size, args.velocity, args.seed)
        made = time.perf_counter() - t0
        for name, extra in runs.items():
            seconds, gb, stages, targets = run(product, Path(tmp) / f"run{len(rows)}", extra)
            rows.append((name, seconds, gb, stages, targets))
    print(f"{n_pairs} pairs over {args.dates} dates, {args.size} x {args.size} px at {pixel_m:g} m "
          f"(made in {made:.0f} s), a mover at {args.velocity * 1000:g} mm/yr\n")  # fmt: skip
    print("| fringenet detect | seconds (process start to outputs) | peak RSS (GB) | stages (s) | targets |")
    print("|---|---:|---:|---|---:|")
    for name, seconds, gb, stages, targets in rows:
        parts = ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
        print(f"| {name} | {seconds:.1f} | {gb:.2f} | {parts} | {targets} |")
    verdict = all(r[1] < TARGET_S for r in rows)
    print(f"\nTarget < {TARGET_S:g} s: {'met' if verdict else 'NOT met'} "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")  # fmt: skip


if __name__ == "__main__":
    main()
