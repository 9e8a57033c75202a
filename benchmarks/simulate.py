"""Benchmark: simulator speed for a 1024 x 1024 pair and a 64-date stack of 512 x 512.

Run from the repository root: ``.venv/bin/python benchmarks/simulate.py``. Prints one table row per
case: wall time (best of ``--repeat``, default 1), pixels per second and the number of pairs.
"""

from __future__ import annotations

import sys
import time

from fringenet.simulate import SimulationConfig, simulate_pair, simulate_stack

CASES = {
    "pair 1024 x 1024": (simulate_pair, {"height": 1024, "width": 1024}),
    "stack 64 dates of 512 x 512": (simulate_stack, {"height": 512, "width": 512, "n_dates": 64}),
}


def main() -> int:
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 1
    print(f"{'case':<30}{'seconds':>10}{'pairs':>8}{'Mpx/s':>10}")
    for name, (simulate, size) in CASES.items():
        config = SimulationConfig(scenario="mixed", seed=0, **size)
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            ds = simulate(config)
            best = min(best, time.perf_counter() - start)
        pairs = ds.sizes.get("pair", 1)
        megapixels = pairs * ds.sizes["y"] * ds.sizes["x"] / 1e6
        print(f"{name:<30}{best:>10.2f}{pairs:>8}{megapixels / best:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
