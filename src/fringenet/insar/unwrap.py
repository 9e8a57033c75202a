"""2-D phase unwrapping behind one API (SNAPHU or whirlwind)."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fringenet.errors import InputError
from fringenet.insar.coherence import coherence_from_phase

METHODS = ("snaphu", "whirlwind")
UNWRAP_METHODS = METHODS  # the name fringenet.insar exports
PSEUDO_COHERENCE_WINDOW = 5


@dataclass(frozen=True)
class UnwrapResult:
    """Output of :func:`unwrap`."""

    unwrapped: NDArray[np.float64]
    """``(y, x)`` unwrapped phase (rad); NaN outside the mask / where the input was NaN."""
    components: NDArray[np.int64]
    """``(y, x)`` connected-component labels: each positive label was unwrapped self-consistently; 0 = none."""
    coherence_source: Literal["input", "phase"]
    """``"input"`` when coherence was given, ``"phase"`` when it was estimated by
    :func:`~fringenet.insar.coherence.coherence_from_phase`."""
    method: str


def coherence_or_estimate(
    phase: NDArray[np.float64], coherence: ArrayLike | None
) -> tuple[NDArray[np.float64], Literal["input", "phase"]]:
    """The given coherence (shape-checked), or a pseudo-coherence estimated from the phase, and which."""
    if coherence is None:
        return coherence_from_phase(phase, PSEUDO_COHERENCE_WINDOW), "phase"
    coh = np.asarray(coherence, dtype=np.float64)
    if coh.shape != phase.shape:
        raise InputError("coherence", f"shape {coh.shape} does not match the phase {phase.shape}")
    return coh, "input"


@contextlib.contextmanager
def _stdout_silenced() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null (child processes inherit it) for the duration."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def unwrap(
    wrapped_phase: ArrayLike,
    coherence: ArrayLike | None = None,
    *,
    method: str = "snaphu",
    nlooks: float = 1.0,
    mask: ArrayLike | None = None,
) -> UnwrapResult:
    """Unwrap a wrapped interferogram with SNAPHU (``snaphu`` package) or whirlwind.

    Parameters
    ----------
    wrapped_phase
        Wrapped phase (rad), shape ``(y, x)``; NaN = missing (masked out).
    coherence
        Coherence in [0, 1], same shape; if omitted, a pseudo-coherence is estimated from the
        phase (``coherence_from_phase`` with a 5x5 window) and ``coherence_source`` says so.
    method
        ``"snaphu"`` (statistical-cost network flow, smooth cost, MCF init) or ``"whirlwind"``.
    nlooks
        Equivalent number of looks of the coherence estimate (>= 1).
    mask
        Optional boolean mask, True = valid pixel.

    Returns
    -------
    UnwrapResult
        ``unwrapped`` (rad, float64) equals the input wrapped phase plus an integer number of
        2 pi cycles per pixel; the absolute level of each component is arbitrary (2 pi k).
    """
    if method not in METHODS:
        raise InputError("unwrap", f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    phase = np.asarray(wrapped_phase, dtype=np.float64)
    if phase.ndim != 2:
        raise InputError("unwrap", f"expected a 2-D phase image (got shape {phase.shape})")
    if not nlooks >= 1.0:
        raise InputError("unwrap", f"nlooks must be >= 1 (got {nlooks})")
    valid = np.isfinite(phase)
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != phase.shape:
            raise InputError("mask", f"shape {m.shape} does not match the phase {phase.shape}")
        valid &= m.astype(bool)
    coh, source = coherence_or_estimate(phase, coherence)
    valid &= np.isfinite(coh)
    if not valid.any():
        raise InputError("unwrap", "no valid pixel to unwrap (all NaN or masked)")
    igram = np.where(valid, np.exp(1j * np.where(valid, phase, 0.0)), 0).astype(np.complex64)
    corr = np.clip(np.where(valid, coh, 0.0), 0.0, 1.0).astype(np.float32)

    if method == "snaphu":
        import snaphu

        with _stdout_silenced():  # the SNAPHU binary logs every step to the inherited stdout
            unw, comps = snaphu.unwrap(
                igram, corr, nlooks, cost="smooth", init="mcf", mask=valid.astype(np.uint8)
            )
    else:
        import whirlwind

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # nlooks clamping notice; not actionable here
            unw, comps = whirlwind.unwrap(igram, corr, float(nlooks), mask=valid)
    unwrapped = np.asarray(unw, dtype=np.float64)
    unwrapped[~valid] = np.nan
    components = np.where(valid, np.asarray(comps), 0).astype(np.int64)
    return UnwrapResult(unwrapped, components, source, method)
