"""Co-registered SLC stacks of distributed scatterers, for phase linking.

Each pixel is one look of a circular complex Gaussian vector over the ``T`` dates whose coherence
matrix follows the scene's temporal-decorrelation model,
``gamma(|t_i - t_j|) = (gamma0 - gamma_inf) exp(-|t_i - t_j| / tau) + gamma_inf``, carrying the
scene's deformation and atmospheric phase (:func:`fringenet.simulate.scene.scene_signals`).

Sign convention (as :mod:`fringenet.insar.phase_linking`): the interferogram of dates ``(i, j)`` is
``s_i * conj(s_j)`` and its phase is ``signal_phase[j] - signal_phase[i]``, the fringenet
interferometric phase of ``fringenet.simulate.scene``; so the SLC of date ``t`` carries
``exp(-1j * signal_phase[t])`` (an SLC's phase falls with range, as in ISCE and dolphin).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from affine import Affine
from numpy.typing import ArrayLike, NDArray

from fringenet.conventions import DAYS_PER_YEAR, SENTINEL1_WAVELENGTH_M, displacement_to_phase
from fringenet.errors import InputError
from fringenet.insar.phase_linking import check_slc_stack
from fringenet.io.schema import VARIABLES, as_ns_array, base_attrs, grid_dataset
from fringenet.simulate import decorrelation as dec
from fringenet.simulate.config import SimulationConfig
from fringenet.simulate.scene import component_rng, scene_signals

__all__ = [
    "SLCStack",
    "check_slc_stack",
    "correlated_slc",
    "mean_coherence",
    "simulate_slc_stack",
    "slc_dataset",
    "temporal_coherence_matrix",
]

JITTER = 1e-6
"""Diagonal jitter that lets Cholesky factor singular coherence matrices (e.g. gamma = 1 everywhere)."""
CHUNK_ELEMENTS = 2**21
"""Matrix elements per pixel chunk (float64: 16 MiB), so memory stays bounded on large rasters."""
LONG_TERM_USABLE = 0.1
"""Minimum long-term coherence for a moving pixel to be labelled (see :func:`simulate_slc_stack`)."""

FloatArray = NDArray[np.float64]


def temporal_coherence_matrix(
    days: ArrayLike, gamma0: ArrayLike, gamma_inf: ArrayLike, tau_days: ArrayLike
) -> FloatArray:
    """True coherence matrices of the exponential decorrelation model, ``(..., T, T)`` float64.

    Parameters
    ----------
    days
        Acquisition times ``(T,)`` (days).
    gamma0, gamma_inf, tau_days
        Short-term and long-term coherence and decay time (days); scalars or arrays broadcast to
        ``(...)``.

    Returns
    -------
    ``gamma(|t_i - t_j|)`` off the diagonal, 1 on it; symmetric.
    """
    t = np.asarray(days, dtype=np.float64)
    if t.ndim != 1:
        raise InputError("days", f"expected a 1-D array of acquisition days, got shape {t.shape}")
    g0, ginf, tau = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (gamma0, gamma_inf, tau_days))
    )
    dt = np.abs(t[:, None] - t[None, :])
    c = (g0 - ginf)[..., None, None] * np.exp(-dt / tau[..., None, None]) + ginf[..., None, None]
    diag = np.arange(t.size)
    c[..., diag, diag] = 1.0
    return c


def mean_coherence(days: ArrayLike, params: dec.CoherenceParams) -> FloatArray:
    """Mean true coherence over all date pairs ``i < j`` of the model, ``(H, W)``."""
    t = np.asarray(days, dtype=np.float64)
    iu = np.triu_indices(t.size, k=1)
    dt = np.abs(t[iu[1]] - t[iu[0]])
    if dt.size == 0:
        return np.ones_like(params.gamma0)
    return np.mean(dec.coherence_for_baselines(params, dt), axis=0)


def correlated_slc(
    rng: np.random.Generator,
    coherence: ArrayLike,
    slc_phase: ArrayLike,
    amplitude: ArrayLike | None = None,
) -> NDArray[np.complex64]:
    """One look of circular complex Gaussian SLCs with a given coherence matrix per pixel.

    ``z = L w`` with ``L = cholesky(C + 1e-6 I)`` and ``w`` unit circular Gaussian, so
    ``E[z_i conj(z_j)] = C_ij``; then ``z_t *= amplitude * exp(1j * slc_phase[t])``.

    Parameters
    ----------
    rng
        Random generator; pixels are drawn in a fixed chunk order, so a seed gives fixed bytes.
    coherence
        Real coherence matrices ``(..., T, T)`` (symmetric positive semi-definite).
    slc_phase
        Phase added to each date's SLC, ``(T, ...)`` (rad). Pass ``-signal_phase`` for the
        fringenet interferometric convention (see the module docstring).
    amplitude
        Mean amplitude ``(...)``, or None for 1.

    Returns
    -------
    ``(T, ...)`` complex64.
    """
    c = np.asarray(coherence, dtype=np.float64)
    if c.ndim < 2 or c.shape[-1] != c.shape[-2]:
        raise InputError("coherence", f"expected (..., T, T) matrices, got shape {c.shape}")
    t, shape = c.shape[-1], c.shape[:-2]
    phase = np.asarray(slc_phase, dtype=np.float64)
    if phase.shape != (t, *shape):
        raise InputError("slc_phase", f"expected shape {(t, *shape)}, got {phase.shape}")
    amp = np.broadcast_to(np.asarray(1.0 if amplitude is None else amplitude, dtype=np.float64), shape)
    n = int(np.prod(shape, dtype=np.int64))
    flat_c, flat_phase, flat_amp = c.reshape(n, t, t), phase.reshape(t, n), amp.reshape(n)
    out = np.empty((t, n), dtype=np.complex64)
    chunk = max(1, CHUNK_ELEMENTS // (t * t))
    jitter = JITTER * np.eye(t)
    for s in range(0, n, chunk):
        e = min(s + chunk, n)
        try:
            chol = np.linalg.cholesky(flat_c[s:e] + jitter)
        except np.linalg.LinAlgError as exc:
            raise InputError("coherence", "coherence matrices must be positive semi-definite") from exc
        w = (rng.standard_normal((e - s, t)) + 1j * rng.standard_normal((e - s, t))) * np.sqrt(0.5)
        z = np.einsum("nij,nj->ni", chol, w)
        out[:, s:e] = (z.T * flat_amp[s:e] * np.exp(1j * flat_phase[:, s:e])).astype(np.complex64)
    return out.reshape(t, *shape)


@dataclass
class SLCStack:
    """A simulated co-registered SLC stack and its truth.

    ``slc`` is ``(T, H, W)`` complex64; ``signal_phase`` ``(T, H, W)`` float32 is the true
    interferometric phase (deformation + atmosphere, rad) of pair ``(0, t)``, so
    ``signal_phase[0] == 0``; ``deformation_phase`` its deformation part. ``label`` ``(H, W)`` uint8
    marks visibly moving, usable pixels, ``valid`` the pixels that are neither water nor
    layover/shadow; ``los_velocity`` is in m/yr. ``pairs`` is the scene's small-baseline network.
    """

    slc: NDArray[np.complex64]
    dates: NDArray[np.datetime64]
    days: NDArray[np.float64]
    signal_phase: NDArray[np.float32]
    deformation_phase: NDArray[np.float32]
    coherence_params: dec.CoherenceParams
    los_velocity: NDArray[np.float32]
    label: NDArray[np.uint8]
    valid: NDArray[np.bool_]
    static: dict[str, np.ndarray]
    pairs: NDArray[np.int64]
    params: dict[str, Any] = field(default_factory=dict)
    transform: Affine = field(default_factory=Affine.identity)
    wavelength_m: float = SENTINEL1_WAVELENGTH_M


def _moving_label(
    config: SimulationConfig,
    days: FloatArray,
    pairs: NDArray[np.int64],
    deformation_phase: NDArray[np.floating],
    los_velocity: NDArray[np.floating],
    footprint: NDArray[np.bool_],
    params: dec.CoherenceParams,
    water: NDArray[np.bool_],
    layover: NDArray[np.bool_],
) -> NDArray[np.uint8]:
    span_years = float(days[-1] - days[0]) / DAYS_PER_YEAR
    moved = np.abs(displacement_to_phase(los_velocity * span_years, config.wavelength_m))
    label = moved >= config.visibility_threshold_rad
    decorrelated = np.zeros(footprint.shape, dtype=np.float64)
    for i, j in pairs:
        coh = dec.coherence_for_baselines(params, np.array([days[j] - days[i]]))[0]
        bad = dec.decorrelation_mask(coh, water, layover, config.decorrelation_threshold)
        visible = np.abs(deformation_phase[j] - deformation_phase[i]) >= config.visibility_threshold_rad
        label |= footprint & visible & ~bad
        decorrelated += bad
    usable = ~(water | layover) & (params.gamma_inf >= LONG_TERM_USABLE)
    if len(pairs):
        usable &= decorrelated / len(pairs) < 0.5
    return (label & usable).astype(np.uint8)


def simulate_slc_stack(config: SimulationConfig, dem: NDArray[np.floating] | None = None) -> SLCStack:
    """Simulate a co-registered SLC stack of ``config.n_dates`` dates over the config's scene.

    The scene (terrain, targets, atmosphere, coherence model) is the one
    :func:`fringenet.simulate.scene.simulate_stack` draws for the same config; the speckle comes
    from ``component_rng(config.seed, "slc")``, so the same config gives the same bytes.

    Label rule (the stack label of ``fringenet.pipeline.dataset.simulated_layers``, plus a
    long-term coherence floor): a pixel moves when the deformation phase of its mean LOS velocity
    over the whole span reaches ``config.visibility_threshold_rad`` (or a footprint pixel's
    deformation is visible in some usable small-baseline pair), and is labelled when it is neither
    water nor layover/shadow, decorrelated (coherence below ``config.decorrelation_threshold``) in
    fewer than half of the small-baseline pairs, and keeps ``gamma_inf >= 0.1``: below that
    long-term coherence, the phase over long spans, which phase linking exploits, is noise.

    Parameters
    ----------
    config
        Simulation settings (grid, dates, coherence, ...).
    dem
        Optional DEM (m), ``(height, width)``; otherwise a fractal DEM is drawn.
    """
    sig = scene_signals(config, dem, pair=False)
    t = sig.dates.size
    h, w = config.height, config.width
    defo = displacement_to_phase(sig.deformation, config.wavelength_m)
    defo = defo - defo[:1]
    signal = defo + sig.atmosphere - sig.atmosphere[:1]
    amplitude = np.sqrt(sig.backscatter)
    params = sig.coherence

    rng = component_rng(config.seed, "slc")
    n = h * w
    slc = np.empty((t, n), dtype=np.complex64)
    flat_signal = signal.reshape(t, n)
    g0, ginf, tau = (a.reshape(n) for a in (params.gamma0, params.gamma_inf, params.tau_days))
    flat_amp = amplitude.reshape(n)
    chunk = max(1, CHUNK_ELEMENTS // (t * t))
    for s in range(0, n, chunk):  # the coherence matrices are built per chunk to bound memory
        e = min(s + chunk, n)
        c = temporal_coherence_matrix(sig.days, g0[s:e], ginf[s:e], tau[s:e])
        slc[:, s:e] = correlated_slc(rng, c, -flat_signal[:, s:e], flat_amp[s:e])

    los_velocity = sig.static["los_velocity"]
    label = _moving_label(
        config, sig.days, sig.pairs, defo, los_velocity, sig.footprint, params, sig.water,
        sig.layover_or_shadow,
    )  # fmt: skip
    return SLCStack(
        slc=slc.reshape(t, h, w),
        dates=sig.dates,
        days=sig.days,
        signal_phase=signal.astype(np.float32),
        deformation_phase=defo.astype(np.float32),
        coherence_params=params,
        los_velocity=los_velocity.astype(np.float32),
        label=label,
        valid=~(sig.water | sig.layover_or_shadow),
        static=sig.static,
        pairs=sig.pairs,
        params=sig.params,
        transform=sig.transform,
        wavelength_m=config.wavelength_m,
    )


def slc_dataset(stack: SLCStack, crs: str | None = None) -> xr.Dataset:
    """The stack as an ``xarray.Dataset``: ``slc`` (complex64) and truth on dims ``(date, y, x)``.

    Static layers (``dem``, ``los_velocity``, masks, coherence parameters) are ``(y, x)``; the
    grid is georeferenced with rioxarray (``crs``, e.g. ``"EPSG:32632"``). Complex variables do not
    round-trip through netCDF; write ``slc`` as real/imaginary parts or to Zarr.
    """
    check_slc_stack(stack.slc, stack.dates, "stack")
    _, h, w = stack.slc.shape
    attrs = {
        **base_attrs(stack.wavelength_m, "simulated"),
        "phase_convention": "interferogram (i, j) = slc[i] * conj(slc[j]); phase = signal_phase[j] - "
        "signal_phase[i]",
        "simulation_params": json.dumps(stack.params, default=str),
        "source": "fringenet.simulate.slc",
    }
    ds = grid_dataset(h, w, stack.transform, crs, attrs)
    per_date, grid = ("date", "y", "x"), ("y", "x")
    p = stack.coherence_params
    layers: list[tuple[str, tuple[str, ...], np.ndarray, str, str]] = [
        ("slc", per_date, stack.slc, "1", "single-look complex, one look"),
        ("signal_phase", per_date, stack.signal_phase, "rad", "true phase of pair (0, t)"),
        ("deformation_phase", per_date, stack.deformation_phase, "rad", "deformation part of signal_phase"),
        ("label", grid, stack.label, "1", "moving, usable pixel"),
        ("valid", grid, stack.valid.astype(np.uint8), "1", "neither water nor layover/shadow"),
        ("gamma0", grid, p.gamma0.astype(np.float32), "1", "short-term coherence"),
        ("gamma_inf", grid, p.gamma_inf.astype(np.float32), "1", "long-term coherence"),
        ("tau_days", grid, p.tau_days.astype(np.float32), "day", "coherence decay time"),
    ]
    variables = {name: (dims, a, {"units": u, "long_name": ln}) for name, dims, a, u, ln in layers}
    for name, layer in stack.static.items():
        spec = VARIABLES.get(name)
        meta = {"units": spec.units, "long_name": spec.long_name} if spec else {}
        variables.setdefault(name, (grid, layer, meta))
    return ds.assign(variables).assign_coords(date=("date", as_ns_array(stack.dates)))
