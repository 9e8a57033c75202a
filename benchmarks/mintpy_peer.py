"""MintPy's network inversion on an in-memory stack saved as .npz: run inside the MintPy virtualenv.

Called by ``benchmarks/sbas.py`` (see ``benchmarks/mintpy-env.sh``)::

    /tmp/fringenet-mintpy-venv/bin/python benchmarks/mintpy_peer.py STACK.npz OUT.npz

``STACK.npz`` holds ``phase`` ``(pair, pixel)`` float32 (rad, NaN = missing), ``date12`` (MintPy's
``YYYYMMDD_YYYYMMDD`` names) and optionally ``weight_sqrt`` ``(pair, pixel)``. The inversion is
step 2 of ``mintpy.ifgram_inversion.run_ifgram_inversion_patch`` without its HDF5 reading: the
design matrices from ``ifgramStack.get_design_matrix4timeseries``, then
``mintpy.ifgram_inversion.estimate_timeseries`` (min-norm velocity, temporal coherence, its
defaults) once for the pixels with every pair when unweighted, pixel by pixel for the others and
for every pixel when weighted, as MintPy does. Writes ``OUT.npz`` with ``ts`` ``(date, pixel)``
float32 (phase, rad, 0 at the first date; all 0 where MintPy skips a pixel), ``temporal_coherence``
and ``seconds`` (wall time of the inversion alone). Importable, so ``benchmarks/sbas.py`` runs
:func:`invert` in its own process where MintPy is installed there.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from pathlib import Path
from typing import Any

import numpy as np


def invert(
    phase: np.ndarray, date12: list[str], weight_sqrt: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """``(ts, temporal_coherence, seconds)`` of MintPy's inversion of ``phase`` ``(pair, pixel)``."""
    from mintpy.ifgram_inversion import estimate_timeseries
    from mintpy.objects import ifgramStack
    from mintpy.utils import ptime

    A, B = ifgramStack.get_design_matrix4timeseries(date12_list=date12)[:2]
    dates = sorted({d for d12 in date12 for d in d12.split("_")})
    tbase = np.array(ptime.date_list2tbase(dates)[0], np.float32) / 365.25
    kwargs: dict[str, Any] = {
        "A": A, "B": B, "tbase_diff": np.diff(tbase).reshape(-1, 1), "min_norm_velocity": True,
        "min_redundancy": 1.0, "inv_quality_name": "temporalCoherence", "print_msg": False,
    }  # fmt: skip
    npix = phase.shape[1]
    ts = np.zeros((len(dates), npix), np.float32)
    quality = np.zeros(npix, np.float32)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        mask = ~np.all(np.isnan(phase), axis=0)
        if weight_sqrt is None:
            every = np.all(~np.isnan(phase), axis=0) & mask
            if every.any():
                ts[:, every], quality[every], _ = estimate_timeseries(y=phase[:, every], **kwargs)
            for idx in np.flatnonzero(mask & ~every):
                tsi, quality[idx], _ = estimate_timeseries(y=phase[:, idx], **kwargs)
                ts[:, idx] = tsi.ravel()
        else:
            for idx in np.flatnonzero(mask):
                tsi, quality[idx], _ = estimate_timeseries(
                    y=phase[:, idx], weight_sqrt=weight_sqrt[:, idx], **kwargs
                )
                ts[:, idx] = tsi.ravel()
    return ts, quality, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    with np.load(args.stack) as data:
        phase = data["phase"]
        date12 = [str(d) for d in data["date12"]]
        weight_sqrt = data["weight_sqrt"] if "weight_sqrt" in data else None
    ts, quality, seconds = invert(phase, date12, weight_sqrt)
    np.savez(args.out, ts=ts, temporal_coherence=quality, seconds=seconds)


if __name__ == "__main__":
    main()
