"""Unwrapping benchmark: PUNet against SNAPHU and whirlwind, on simulated and real interferograms.

Score: the share of pixels whose integer ambiguity is right after removing one global 2 pi k
(``fringenet.train.punet.correct_ambiguity_fraction``), and seconds per patch and per megapixel.

- Simulated: held-out seeds (a seed space the training never draws from) of the training
  simulator, ``--n`` patches of ``--size`` px and ``--n-large`` of ``--large-size`` px (for time/Mpx).
- Real: PyRate's ENVISAT small test stack (``../shared/data/pyrate_small_test``, 17 unwrapped
  interferograms, 47 x 72 px, a longwall-mining subsidence bowl), re-wrapped and unwrapped again;
  the reference is PyRate's unwrapped phase, so "right" means agreeing with the original
  unwrapping. ``--pyrate-scales 1 2`` also scales the phase (steeper fringes) before re-wrapping.
  Skipped when ``../shared`` is absent.

Run from the repository root::

    .venv/bin/python benchmarks/unwrap.py --model /tmp/fn/punet_default/model [--out table.md]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)
from fringenet.conventions import wrap
from fringenet.insar.unwrap import unwrap
from fringenet.models.punet import DEFAULT_PUNET_BUNDLE, load_punet, unwrap_with_punet
from fringenet.train.punet import UnwrapSimulation, correct_ambiguity_fraction, simulate_unwrapping_patch

PYRATE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pyrate_small_test"
ENVISAT_WAVELENGTH_M = 0.0562356424
BENCHMARK_SEED = 7_310_000  # training draws (seed, split, epoch, index); these are (this, size, index)
METHODS = ("punet", "snaphu", "whirlwind")

Unwrapper = Callable[[np.ndarray], np.ndarray]


@dataclass
class Score:
    """Per-patch scores and timings of one method on one data set."""

    right: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    pixels: int = 0

    def add(self, right: float, seconds: float, pixels: int) -> None:
        self.right.append(right)
        self.seconds.append(seconds)
        self.pixels += pixels


def unwrappers(model_path: Path) -> dict[str, Unwrapper]:
    model, _ = load_punet(model_path)
    return {
        "punet": lambda phase: unwrap_with_punet(phase, model).unwrapped,
        "snaphu": lambda phase: unwrap(phase, method="snaphu").unwrapped,
        "whirlwind": lambda phase: unwrap(phase, method="whirlwind").unwrapped,
    }


def score_cases(
    cases: list[tuple[np.ndarray, np.ndarray]], methods: dict[str, Unwrapper]
) -> dict[str, Score]:
    """Unwrap every ``(wrapped, truth)`` case with every method; NaN truth = not scored."""
    scores = {name: Score() for name in methods}
    for name, method in methods.items():
        method(cases[0][0])  # warm-up: imports, thread pools, first-call allocations
        for wrapped, truth in cases:
            tic = time.perf_counter()
            out = method(wrapped)
            seconds = time.perf_counter() - tic
            scores[name].add(correct_ambiguity_fraction(out, truth), seconds, wrapped.size)
    return scores


def simulated_cases(n: int, size: int, sim: UnwrapSimulation) -> list[tuple[np.ndarray, np.ndarray]]:
    cases = []
    for i in range(n):
        patch = simulate_unwrapping_patch(np.random.default_rng([BENCHMARK_SEED, size, i]), (size, size), sim)
        cases.append((patch.wrapped, np.where(np.isfinite(patch.wrapped), patch.truth, np.nan)))
    return cases


def pyrate_cases(scale: float) -> list[tuple[np.ndarray, np.ndarray]]:
    from fringenet.io.stack import open_stack_folder

    stack = open_stack_folder(
        PYRATE / "tif", "geo_*_unw.tif", "unwrapped_phase", nodata=0.0, wavelength_m=ENVISAT_WAVELENGTH_M
    )
    unwrapped = stack["unwrapped_phase"].values.astype(np.float64) * scale
    return [(np.asarray(wrap(u), dtype=np.float64), u) for u in unwrapped]


def rows(label: str, scores: dict[str, Score]) -> list[str]:
    out = []
    for name, s in scores.items():
        right = np.asarray(s.right)
        total = float(np.sum(s.seconds))
        out.append(
            f"| {label} | {name} | {len(right)} | {np.mean(right):.4f} | {np.min(right):.4f} | "
            f"{np.mean(right >= 0.999):.2f} | {total / len(right):.3f} | {total / (s.pixels / 1e6):.2f} |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", type=Path, default=None, help=f"PUNet bundle (default {DEFAULT_PUNET_BUNDLE})."
    )
    parser.add_argument("--n", type=int, default=32, help="Simulated patches of --size px.")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--n-large", type=int, default=3, help="Simulated patches of --large-size px.")
    parser.add_argument("--large-size", type=int, default=512)
    parser.add_argument("--max-gradient", type=float, default=2.5, help="Steepest true gradient (rad/px).")
    parser.add_argument("--pyrate-scales", type=float, nargs="*", default=[1.0, 2.0])
    parser.add_argument(
        "--threads", type=int, default=1, help="Torch threads (SNAPHU and whirlwind use one)."
    )
    parser.add_argument("--out", type=Path, help="Also write the markdown table to this file.")
    args = parser.parse_args()
    model = args.model or DEFAULT_PUNET_BUNDLE
    if not (model / "bundle.json").is_file():
        parser.error(f"no PUNet bundle at {model}; train one (run_train_punet) and pass --model")
    torch.set_num_threads(args.threads)
    methods = unwrappers(model)
    sim = UnwrapSimulation(max_gradient_rad_per_px=args.max_gradient)
    lines = [
        f"PUNet bundle: {model}; torch threads: {args.threads}. Right ambiguity = share of pixels whose "
        "integer ambiguity matches the reference after one global 2 pi k; 'perfect' = patches >= 0.999.",
        "",
        "| data | method | patches | right ambiguity (mean) | worst patch | perfect patches | s/patch | s/Mpx |",
        "|---|---|---|---|---|---|---|---|",
    ]
    sets = [(f"simulated {args.size}² (max gradient {args.max_gradient:g} rad/px)", args.n, args.size)]
    sets.append((f"simulated {args.large_size}²", args.n_large, args.large_size))
    for label, n, size in sets:
        if n > 0:
            lines += rows(label, score_cases(simulated_cases(n, size, sim), methods))
    if PYRATE.is_dir():
        for scale in args.pyrate_scales:
            label = "PyRate ENVISAT 47x72 (real)" + ("" if scale == 1 else f", phase x{scale:g}")
            lines += rows(label, score_cases(pyrate_cases(scale), methods))
    else:
        lines += ["", f"(PyRate data not found at {PYRATE}: real-data rows skipped.)"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        from fringenet.io.atomic import atomic_path

        with atomic_path(args.out) as tmp:
            tmp.write_text(text)


if __name__ == "__main__":
    main()
