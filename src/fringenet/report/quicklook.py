"""Matplotlib quick-look panels for interferograms: wrapped phase, coherence, DEM, labels.

Figures are built with the object API on the Agg canvas (no pyplot global state), so the helpers
are safe in scripts, tests and worker processes without a display.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LightSource, ListedColormap
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from fringenet.errors import InputError

PHASE_CMAP = "twilight"
"""Cyclic colormap: -pi and pi get the same colour, so wrapped fringes show no false edges."""


def new_figure(n_panels: int, panel_size_in: float = 3.2, title: str | None = None) -> Figure:
    """A figure with ``n_panels`` side by side on an Agg canvas."""
    fig = Figure(figsize=(panel_size_in * n_panels, panel_size_in + 0.5), layout="constrained")
    FigureCanvasAgg(fig)
    fig.subplots(1, n_panels)
    if title:
        fig.suptitle(title)
    return fig


def _finish(ax: Axes, image: Any, title: str, label: str | None = None) -> None:
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    if label is not None:
        cbar = ax.figure.colorbar(image, ax=ax, shrink=0.8, pad=0.02)
        cbar.set_label(label, fontsize=8)


def plot_wrapped_phase(ax: Axes, wrapped_phase: ArrayLike, title: str = "wrapped phase") -> None:
    """Wrapped phase (rad, ``(H, W)``) with a cyclic colormap over [-pi, pi)."""
    im = ax.imshow(
        np.asarray(wrapped_phase), cmap=PHASE_CMAP, vmin=-np.pi, vmax=np.pi, interpolation="nearest"
    )
    _finish(ax, im, title, "rad")


def plot_coherence(ax: Axes, coherence: ArrayLike, title: str = "coherence") -> None:
    """Coherence (``(H, W)``, 0..1) in grey levels, black = decorrelated."""
    im = ax.imshow(np.asarray(coherence), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    _finish(ax, im, title, "")


def plot_dem(ax: Axes, dem: ArrayLike, pixel_size_m: float = 30.0, title: str = "DEM") -> None:
    """DEM (m, ``(H, W)``) coloured by elevation and shaded by a north-west hillshade."""
    z = np.asarray(dem, dtype=np.float64)
    light = LightSource(azdeg=315, altdeg=45)
    rgb = light.shade(z, cmap=_terrain_cmap(), blend_mode="soft", dx=pixel_size_m, dy=pixel_size_m)
    ax.imshow(rgb, interpolation="nearest")
    im = ax.imshow(z, cmap=_terrain_cmap(), alpha=0.0)  # invisible: only feeds the colourbar
    _finish(ax, im, title, "m")


def plot_label_overlay(
    ax: Axes,
    background: ArrayLike,
    label: ArrayLike,
    decorrelation: ArrayLike | None = None,
    title: str = "label",
) -> None:
    """Label mask (red) and optional decorrelation mask (blue) over a grey background (e.g. amplitude)."""
    bg = np.asarray(background, dtype=np.float64)
    lo, hi = np.nanpercentile(bg, [2, 98]) if np.isfinite(bg).any() else (0.0, 1.0)
    ax.imshow(bg, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1.0, interpolation="nearest")
    if decorrelation is not None:
        dmask = np.ma.masked_equal(np.asarray(decorrelation, dtype=np.uint8), 0)
        ax.imshow(dmask, cmap=ListedColormap(["tab:blue"]), alpha=0.45, interpolation="nearest")
    lmask = np.ma.masked_equal(np.asarray(label, dtype=np.uint8), 0)
    ax.imshow(lmask, cmap=ListedColormap(["red"]), alpha=0.75, interpolation="nearest")
    _finish(ax, None, title)


def _terrain_cmap() -> Any:
    from matplotlib import colormaps

    return colormaps["gist_earth"]


def scene_figure(ds: xr.Dataset, pair_index: int = 0, title: str | None = None) -> Figure:
    """Four panels of one interferogram: wrapped phase, coherence, DEM with hillshade, label overlay.

    ``ds`` is a fringenet Dataset (one pair, or a stack from which ``pair_index`` is shown) with
    ``wrapped_phase``, ``coherence``, ``dem`` and ``label``; ``amplitude`` and ``decorrelation`` are
    used when present.
    """
    missing = [v for v in ("wrapped_phase", "coherence", "dem", "label") if v not in ds]
    if missing:
        raise InputError("dataset", f"quick-look needs variables {missing}")
    one = ds.isel(pair=pair_index) if "pair" in ds.dims else ds
    pixel = abs(float(one.x[1] - one.x[0])) if one.sizes["x"] > 1 else 30.0
    fig = new_figure(4, title=title)
    ax = fig.axes
    plot_wrapped_phase(ax[0], one.wrapped_phase.values)
    plot_coherence(ax[1], one.coherence.values)
    plot_dem(ax[2], one.dem.values, pixel)
    # radar amplitude in dB reads like a SAR image; fall back to coherence
    background = 20.0 * np.log10(one.amplitude.values + 1e-6) if "amplitude" in one else one.coherence.values
    decor = one.decorrelation.values if "decorrelation" in one else None
    plot_label_overlay(ax[3], background, one.label.values, decor, title="label (red), decorrelated (blue)")
    return fig
