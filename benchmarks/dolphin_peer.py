"""dolphin's phase linking on an SLC stack saved as .npy: run inside the dolphin virtualenv.

Called by ``benchmarks/phase_linking.py`` (see ``benchmarks/dolphin-env.sh``)::

    /tmp/fringenet-dolphin-venv/bin/python benchmarks/dolphin_peer.py SLC.npy OUT.npz \\
        --half-window 5 --method emi --shp glrt --alpha 0.001

Writes ``OUT.npz`` with ``phase`` ``(T, H, W)`` float32, the angle of dolphin's ``cpx_phase`` (its
eigenvector convention: the phase of ``s_t * conj(s_0)``, the negative of fringenet's linked
phase), ``temporal_coherence`` ``(H, W)``, ``seconds`` (the fastest of ``--repeats`` compiled runs: SHP
search plus phase linking) and ``first_seconds`` (the first run, including jax's compilation).
fringenet is not installed in that environment, so only its dependency-free ``atomic`` module is
loaded, by path.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path
from typing import Any

import numpy as np

ATOMIC = Path(__file__).resolve().parents[1] / "src" / "fringenet" / "io" / "atomic.py"


def _atomic_path() -> Any:
    spec = importlib.util.spec_from_file_location("fringenet_atomic", ATOMIC)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {ATOMIC}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.atomic_path


def link(slc: np.ndarray, half: int, method: str, shp: str, alpha: float) -> Any:
    """SHP search (if any) and ``dolphin.phase_link.run_phase_linking`` with stride 1, no CRLB."""
    from dolphin import HalfWindow, Strides
    from dolphin import shp as dshp
    from dolphin.phase_link import run_phase_linking
    from dolphin.workflows import ShpMethod

    neighbours = None
    if shp != "rect":
        amp = np.abs(slc)
        neighbours = dshp.estimate_neighbors(
            halfwin_rowcol=(half, half), alpha=alpha, strides=Strides(1, 1), mean=amp.mean(axis=0),
            var=amp.var(axis=0), nslc=slc.shape[0], amp_stack=amp, method=ShpMethod(shp),
        )  # fmt: skip
    out = run_phase_linking(
        slc, half_window=HalfWindow(half, half), strides=Strides(1, 1), use_evd=method == "evd",
        neighbor_arrays=neighbours, compute_crlb=False,
    )  # fmt: skip
    return np.asarray(out.cpx_phase), np.asarray(out.temp_coh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("slc", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--half-window", type=int, default=5)
    parser.add_argument("--method", choices=("emi", "evd"), default="emi")
    parser.add_argument("--shp", choices=("rect", "glrt", "ks"), default="rect")
    parser.add_argument("--alpha", type=float, default=0.001)
    parser.add_argument(
        "--repeats", type=int, default=1, help="Timed runs after the first; the fastest counts."
    )
    args = parser.parse_args()

    slc = np.load(args.slc)
    start = time.perf_counter()
    link(slc, args.half_window, args.method, args.shp, args.alpha)
    first = time.perf_counter() - start
    seconds = float("inf")
    for _ in range(max(1, args.repeats)):
        start = time.perf_counter()
        cpx, tcoh = link(slc, args.half_window, args.method, args.shp, args.alpha)
        seconds = min(seconds, time.perf_counter() - start)
    with _atomic_path()(args.out) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh, phase=np.angle(cpx).astype(np.float32), temporal_coherence=tcoh.astype(np.float32),
            seconds=seconds, first_seconds=first,
        )  # fmt: skip


if __name__ == "__main__":
    main()
