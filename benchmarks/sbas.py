"""SBAS network inversion: fringenet ``invert_sbas`` against MintPy's, same synthetic stacks.

A ``--size``² stack of 40 dates 12 days apart, each paired with its next three (114 pairs), is drawn
from a linear motion (a -30 mm/yr bowl on a 5 mm/yr ramp) plus per-date atmosphere-like noise and
per-pair decorrelation noise set by a coherence that decays with the temporal baseline. Cases:

- ``no NaN``: every pair at every pixel, unweighted;
- ``5% NaN scattered``: 5% of the (pair, pixel) values missing, independently (almost every pixel
  has its own pattern of pairs), unweighted;
- ``5% NaN patches``: 5% missing in discs of 3-12 px, one set per pair (a few thousand patterns),
  and a 40 x 40 px corner (1% at 400²) that misses every pair across the middle of the series, so
  its network is split in two; unweighted;
- ``weighted``: every pair, per-pixel weights ``coh² / (1 - coh²)`` (MintPy: their square root as
  ``weight_sqrt``).

Speed: pixels per second of wall time, the fastest of ``--repeats`` rounds, methods interleaved
within each round, one BLAS thread each. fringenet's time is the whole ``invert_sbas`` call (time
series, velocity, its standard error and the RMS misfit); MintPy's is its inversion and temporal
coherence alone (step 2 of ``run_ifgram_inversion_patch``, see ``benchmarks/mintpy_peer.py``).
Agreement: max |velocity difference| (mm/yr) over the pixels both invert, MintPy's series turned
into a velocity by the same least-squares line as fringenet's. Split-network pixels are NaN in
fringenet (``status == SPLIT_NETWORK``); the line under the table gives MintPy's error there.

MintPy runs in its own environment (``bash benchmarks/mintpy-env.sh``) through
``benchmarks/mintpy_peer.py``, or in this process if ``mintpy`` imports here. Run from the
repository root (2 cores; about 10 minutes at 400², most of it MintPy's per-pixel loops)::

    nice -n 10 .venv/bin/python benchmarks/sbas.py \\
        --mintpy-python /tmp/fringenet-mintpy-venv/bin/python [--quick] [--before OLD_sbas.py]

``--before`` also times another ``invert_sbas`` (e.g. ``git show REV:src/fringenet/insar/sbas.py``
saved to a file) on the cases where it has at most ``--before-max-patterns`` NaN patterns.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread each, before numpy loads its BLAS
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fringenet.conventions import days_to_years, displacement_to_phase, phase_to_displacement
from fringenet.insar.sbas import SPLIT_NETWORK, invert_sbas

PEER = Path(__file__).resolve().with_name("mintpy_peer.py")
DEFAULT_MINTPY = Path("/tmp/fringenet-mintpy-venv/bin/python")
WAVELENGTH_M = 0.0555  # Sentinel-1 C band
SEED = 14
N_DATES = 40
NEIGHBOURS = 3
CASES = ("no NaN", "5% NaN scattered", "5% NaN patches", "weighted")


@dataclass
class Stack:
    """A synthetic case: phase ``(pair, y, x)`` float32 and what the inversions need."""

    phase: np.ndarray
    ref: np.ndarray
    sec: np.ndarray
    weights: np.ndarray | None
    velocity: np.ndarray
    split: np.ndarray

    @property
    def n_patterns(self) -> int:
        valid = np.isfinite(self.phase.reshape(self.phase.shape[0], -1))
        return 1 if valid.all() else len(np.unique(np.packbits(valid.T, axis=1), axis=0))


def make_stack(case: str, size: int, rng: np.random.Generator) -> Stack:
    """The synthetic stack of ``case`` (see the module docstring)."""
    dates = np.datetime64("2020-01-01") + 12 * np.arange(N_DATES)
    pairs = [(i, j) for i in range(N_DATES) for j in range(i + 1, i + 1 + NEIGHBOURS) if j < N_DATES]
    ref, sec = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    y, x = np.mgrid[:size, :size] / size
    velocity = -0.03 * np.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) / 0.02) + 0.005 * x  # m/yr
    t = days_to_years(12.0 * np.arange(N_DATES))
    disp = t[:, None, None] * velocity + rng.normal(0.0, 0.003, (N_DATES, size, size))  # m
    phase = displacement_to_phase(disp[sec] - disp[ref], WAVELENGTH_M)
    dt = 12.0 * (sec - ref)[:, None, None]
    coh = np.clip(0.25 + 0.65 * np.exp(-dt / 48.0) * rng.uniform(0.7, 1.0, (1, size, size)), 0.05, 0.95)
    looks = 20.0
    phase += rng.normal(size=phase.shape) * np.sqrt((1.0 - coh**2) / (2.0 * looks * coh**2))
    split = np.zeros((size, size), bool)
    if case == "5% NaN scattered":
        phase[rng.random(phase.shape) < 0.05] = np.nan
    elif case == "5% NaN patches":
        yy, xx = np.mgrid[:size, :size]
        for k in range(len(pairs)):
            hole = np.zeros((size, size), bool)
            while hole.mean() < 0.05:
                cy, cx, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(3, 12)
                hole |= (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
            phase[k, hole] = np.nan
        corner = min(40, size // 4)
        split[:corner, :corner] = True
        across = (ref < N_DATES // 2) & (sec >= N_DATES // 2)
        phase[np.ix_(across, split.any(axis=1), split.any(axis=0))] = np.nan
    weights = (coh**2 / (1.0 - coh**2)).astype(np.float32) if case == "weighted" else None
    return Stack(phase.astype(np.float32), dates[ref], dates[sec], weights, velocity, split)


def line_velocity(ts_phase: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Least-squares rate (m/yr) of a phase series ``(date, pixel)``, as in ``invert_sbas``."""
    t = days_to_years((dates - dates[0]).astype(np.float64))
    tc = t - t.mean()
    return tc @ phase_to_displacement(ts_phase, WAVELENGTH_M) / (tc @ tc)


def load_sbas(path: Path) -> Callable[..., Any]:
    """``invert_sbas`` of another version of ``src/fringenet/insar/sbas.py``."""
    spec = importlib.util.spec_from_file_location("fringenet_sbas_before", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.invert_sbas  # type: ignore[no-any-return]


def run_fringenet(stack: Stack, invert: Callable[..., Any]) -> tuple[np.ndarray, np.ndarray | None, float]:
    start = time.perf_counter()
    res = invert(stack.phase, stack.ref, stack.sec, wavelength_m=WAVELENGTH_M, weights=stack.weights)
    seconds = time.perf_counter() - start
    return res.velocity.ravel(), getattr(res, "status", None), seconds


def mintpy_in_process() -> bool:
    return importlib.util.find_spec("mintpy") is not None


def run_mintpy(stack: Stack, python: Path | None) -> tuple[np.ndarray, float]:
    """MintPy's velocity ``(pixel,)`` (m/yr) and the seconds of its inversion."""
    phase = stack.phase.reshape(stack.phase.shape[0], -1)
    date12 = [
        f"{r.astype(object):%Y%m%d}_{s.astype(object):%Y%m%d}"
        for r, s in zip(stack.ref, stack.sec, strict=True)
    ]
    wsqrt = None if stack.weights is None else np.sqrt(stack.weights.reshape(phase.shape))
    if python is None:
        sys.path.insert(0, str(PEER.parent))
        from mintpy_peer import invert

        ts, _, seconds = invert(phase, date12, wsqrt)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            inp, out = Path(tmp) / "stack.npz", Path(tmp) / "out.npz"
            extra = {} if wsqrt is None else {"weight_sqrt": wsqrt}
            np.savez(inp, phase=phase, date12=np.array(date12), **extra)
            subprocess.run([str(python), str(PEER), str(inp), str(out)], check=True)
            with np.load(out) as data:
                ts, seconds = data["ts"], float(data["seconds"])
    dates = np.unique(np.concatenate([stack.ref, stack.sec]))
    return line_velocity(ts.astype(np.float64), dates), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=400, help="Stack side (px).")
    parser.add_argument("--quick", action="store_true", help="100 x 100 px, one round.")
    parser.add_argument("--repeats", type=int, default=1, help="Rounds; the fastest counts.")
    parser.add_argument(
        "--mintpy-python", type=Path, default=None, help=f"MintPy venv's python (default {DEFAULT_MINTPY})."
    )
    parser.add_argument("--before", type=Path, default=None, help="Another sbas.py to time.")
    parser.add_argument("--before-max-patterns", type=int, default=5000)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    args = parser.parse_args()
    size = 100 if args.quick else args.size
    python = args.mintpy_python
    if python is None and not mintpy_in_process() and DEFAULT_MINTPY.exists():
        python = DEFAULT_MINTPY
    if python is not None and not python.is_file():
        python = None
    have_mintpy = python is not None or mintpy_in_process()
    before = load_sbas(args.before) if args.before else None

    header = f"{'case':<18} {'patterns':>8} {'fringenet px/s':>15}"
    header += f" {'before px/s':>12}" if before else ""
    header += f" {'MintPy px/s':>12} {'speed-up':>9} {'max |dv| mm/yr':>15}" if have_mintpy else ""
    lines, notes = [header], {}
    for case in args.cases:
        stack = make_stack(case, size, np.random.default_rng(SEED))
        n_patterns = stack.n_patterns
        npix = stack.velocity.size
        best: dict[str, float] = {}
        v_ours = v_mintpy = status = None
        for _ in range(1 if args.quick else args.repeats):
            v_ours, status, sec = run_fringenet(stack, invert_sbas)
            best["ours"] = min(best.get("ours", np.inf), sec)
            if before is not None and n_patterns <= args.before_max_patterns:
                v_before, _, sec = run_fringenet(stack, before)
                best["before"] = min(best.get("before", np.inf), sec)
                diff = np.nanmax(np.abs(v_before - v_ours)) / np.nanmax(np.abs(v_before))
                notes[f"{case} before"] = f"{case}: max |v_before - v_now| / max |v_before| = {diff:.1e}"
            if have_mintpy:
                v_mintpy, sec = run_mintpy(stack, python)
                best["mintpy"] = min(best.get("mintpy", np.inf), sec)
        line = f"{case:<18} {n_patterns:>8} {npix / best['ours']:>15.0f}"
        if before:
            line += f" {npix / best['before']:>12.0f}" if "before" in best else f" {'not run':>12}"
        assert v_ours is not None and status is not None
        inverted = status.ravel() == 0
        if have_mintpy and v_mintpy is not None:
            dv = np.max(np.abs(v_ours[inverted] - v_mintpy[inverted])) * 1e3
            line += f" {npix / best['mintpy']:>12.0f} {best['mintpy'] / best['ours']:>8.1f}x {dv:>15.1e}"
        split = stack.split.ravel()
        if split.any():
            ok = bool(np.all(status.ravel()[split] == SPLIT_NETWORK) and np.isnan(v_ours[split]).all())
            note = f"{case}: {split.sum()} px with a split network, NaN with status SPLIT_NETWORK: {ok}"
            if v_mintpy is not None:
                err = np.abs(v_mintpy[split] - stack.velocity.ravel()[split]) * 1e3
                inside = np.abs(v_ours[inverted] - stack.velocity.ravel()[inverted]) * 1e3
                note += (
                    f"; MintPy's |v - truth| there: median {np.median(err):.1f} mm/yr (max {err.max():.1f}),"
                    f" against {np.median(inside):.2f} mm/yr on the pixels fringenet inverts"
                )
            notes[f"{case} split"] = note
        others = int(np.sum(~inverted & ~split))
        if others:
            notes[f"{case} others"] = f"{case}: {others} more px not inverted (isolated dates, too few pairs)"
        lines.append(line)
        print(line if len(lines) > 2 else "\n".join(lines), flush=True)
    if not have_mintpy:
        notes["mintpy"] = "MintPy: not available (bash benchmarks/mintpy-env.sh)"
    print(f"\n{size} x {size} px, {N_DATES} dates, {len(stack.ref)} pairs, one BLAS thread")
    for note in notes.values():
        print(note)


if __name__ == "__main__":
    main()
