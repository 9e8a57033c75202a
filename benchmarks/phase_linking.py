"""Phase-linking benchmark: fringenet EVD/EMI (boxcar and SHP GLRT) against dolphin, same SLC stacks.

A simulated ``--size``² scene (``fringenet.simulate.slc.simulate_slc_stack``: a broad volcanic
uplift, mild troposphere, patchy exponentially decaying coherence; smooth at the window's scale,
so errors measure the estimators rather than the window's smoothing of steep fringes) is drawn
with 10, 20 and 30 SLCs. Each method links it with the same ``2 * half + 1`` square window; the
SHP rows search statistically homogeneous pixels by GLRT in that window at dolphin's default
significance (``--alpha 0.001``).

Score: circular RMS (rad) of the wrapped difference between the linked phase and the simulated
truth ``signal_phase`` (both referenced to date 0; date 0 itself left out), over coherent pixels
(valid, long-term coherence ``gamma_inf >= 0.2``, at least ``half`` pixels from the edge, where
the two codes pad windows differently). Speed: pixels per second of wall time, the fastest of
``--repeats`` runs (dolphin: after one untimed call that compiles, in its own process).

dolphin runs in its own environment (``bash benchmarks/dolphin-env.sh``) through
``benchmarks/dolphin_peer.py``; its linked phase is the negative of fringenet's (it returns the
eigenvector's phase, ``s_t * conj(s_0)``) and is negated before scoring.

Run from the repository root (2 cores, a few minutes)::

    nice -n 10 .venv/bin/python benchmarks/phase_linking.py \\
        --dolphin-python /tmp/fringenet-dolphin-venv/bin/python [--out table.md]

``OPENBLAS_NUM_THREADS`` defaults to 1 here: batched LAPACK calls on many 30 x 30 matrices only
lose time handing work to threads (about ten times slower ``eigh`` on a busy 2-core machine).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads OpenBLAS

import argparse
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fringenet.conventions import wrap
from fringenet.insar.phase_linking import phase_link
from fringenet.io.atomic import atomic_path
from fringenet.simulate.config import SimulationConfig
from fringenet.simulate.slc import SLCStack, simulate_slc_stack

PEER = Path(__file__).resolve().with_name("dolphin_peer.py")
BENCHMARK_SEED = 5_120_000
COHERENT_GAMMA_INF = 0.2
"""Pixels scored: long-term coherence at least this (a floor that does not depend on the stack length)."""


@dataclass
class Row:
    """One line of the table."""

    implementation: str
    method: str
    shp: str
    n_slc: int
    pixels_per_s: float
    rms_rad: float
    median_tcoh: float
    note: str = ""


def scene(n_slc: int, size: int) -> SimulationConfig:
    """The benchmark scene with ``n_slc`` dates (everything else fixed by the seed)."""
    return SimulationConfig(
        height=size, width=size, n_dates=n_slc, seed=BENCHMARK_SEED, scenario="volcano",
        relief_m=(100.0, 300.0), turbulence_rms_cm=(0.05, 0.1), stratified_cm_per_km=(0.0, 0.3),
        gamma0=(0.6, 0.9), gamma_inf=(0.2, 0.4), tau_days=(20.0, 60.0), vegetation_fraction=(0.1, 0.3),
        coherence_randomness=(0.2, 0.4), lake_probability=0.0, revisit_days=(12,), gap_probability=0.0,
    )  # fmt: skip


def coherent_mask(stack: SLCStack, half: int) -> np.ndarray:
    mask = stack.valid & (stack.coherence_params.gamma_inf >= COHERENT_GAMMA_INF)
    mask[:half], mask[-half:], mask[:, :half], mask[:, -half:] = False, False, False, False
    return mask


def score(phase: np.ndarray, stack: SLCStack, mask: np.ndarray) -> float:
    err = wrap(phase[1:, mask] - stack.signal_phase[1:, mask])
    return float(np.sqrt(np.nanmean(err**2)))


def run_dolphin(
    python: str, slc_path: Path, half: int, method: str, shp: str, alpha: float, repeats: int
) -> tuple[np.ndarray, np.ndarray, float, float]:
    with tempfile.TemporaryDirectory(prefix="fringenet-dolphin-") as tmp:
        out = Path(tmp) / "out.npz"
        cmd = [python, str(PEER), str(slc_path), str(out), "--half-window", str(half), "--method", method]
        subprocess.run([*cmd, "--shp", shp, "--alpha", str(alpha), "--repeats", str(repeats)], check=True)
        with np.load(out) as r:
            # dolphin's phase is that of s_t * conj(s_0): negate into fringenet's convention
            return -r["phase"], r["temporal_coherence"], float(r["seconds"]), float(r["first_seconds"])


def benchmark(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    half = args.half_window
    window = (2 * half + 1, 2 * half + 1)
    for n_slc in args.slcs:
        stack = simulate_slc_stack(scene(n_slc, args.size))
        mask = coherent_mask(stack, half)
        npx = stack.slc.shape[1] * stack.slc.shape[2]
        with tempfile.TemporaryDirectory(prefix="fringenet-pl-") as tmp:
            slc_path = Path(tmp) / "slc.npy"
            with atomic_path(slc_path) as part:  # scratch input of the peer process, removed with tmp
                np.save(part, stack.slc)
            for method, shp in (("evd", None), ("emi", None), ("emi", "glrt")):
                runs = [
                    phase_link(stack.slc, window, method, shp, window, args.alpha)  # type: ignore[arg-type]
                    for _ in range(args.repeats)
                ]
                r = min(runs, key=lambda run: run.seconds)
                rows.append(
                    Row("fringenet", method.upper(), shp or "boxcar", n_slc, npx / r.seconds,
                        score(r.phase, stack, mask), float(np.nanmedian(r.temporal_coherence[mask])))
                )  # fmt: skip
                print(rows[-1], flush=True)
                if args.dolphin_python:
                    phase, tcoh, sec, first = run_dolphin(
                        args.dolphin_python, slc_path, half, method, shp or "rect", args.alpha, args.repeats
                    )
                    note = f"first call {first:.1f} s (jit)"
                    rows.append(
                        Row("dolphin", method.upper(), shp or "boxcar", n_slc, npx / sec,
                            score(phase, stack, mask), float(np.nanmedian(tcoh[mask])), note)
                    )  # fmt: skip
                    print(rows[-1], flush=True)
    return rows


def table(rows: list[Row], args: argparse.Namespace) -> str:
    side = 2 * args.half_window + 1
    lines = [
        f"Simulated {args.size}x{args.size} px SLC stacks (seed {BENCHMARK_SEED}), {side}x{side} window, "
        f"SHP alpha {args.alpha:g}; RMS = circular RMS of linked minus true phase over coherent pixels.",
        "",
        "| implementation | method | window | SLCs | pixels/s | RMS error (rad) | median temporal coherence "
        "| note |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.implementation} | {r.method} | {r.shp} | {r.n_slc} | {r.pixels_per_s:,.0f} | "
            f"{r.rms_rad:.3f} | {r.median_tcoh:.3f} | {r.note} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dolphin-python", help="Python of an environment with dolphin (dolphin-env.sh).")
    parser.add_argument("--size", type=int, default=128, help="Raster side (px).")
    parser.add_argument("--slcs", type=int, nargs="+", default=[10, 20, 30], help="Stack lengths.")
    parser.add_argument("--half-window", type=int, default=5, help="Half window (px): 5 gives 11 x 11.")
    parser.add_argument("--alpha", type=float, default=0.001, help="SHP significance level.")
    parser.add_argument("--repeats", type=int, default=2, help="Timed runs per method; the fastest counts.")
    parser.add_argument("--out", type=Path, help="Also write the markdown table to this file.")
    args = parser.parse_args()
    text = table(benchmark(args), args)
    print(text)
    if args.out:
        with atomic_path(args.out) as tmp:
            tmp.write_text(text)


if __name__ == "__main__":
    main()
