"""Figures comparing velocity maps (m/yr, positive towards the satellite)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray


def plot_velocity_comparison(
    panels: dict[str, NDArray[np.floating]],
    path: str | Path,
    *,
    title: str = "",
    units: str = "mm/yr",
    scale: float = 1000.0,
) -> Path:
    """Save side-by-side maps on one symmetric colour scale; phase panels (name contains 'phase') are cyclic.

    ``panels`` maps a panel title to a ``(y, x)`` array; velocity arrays in m/yr are multiplied by
    ``scale`` (default: shown in mm/yr).
    """
    from fringenet.io.atomic import atomic_path
    from fringenet.report.quicklook import PHASE_CMAP, new_figure

    velocity_values = [np.asarray(a) * scale for name, a in panels.items() if "phase" not in name]
    finite = np.concatenate([v[np.isfinite(v)] for v in velocity_values]) if velocity_values else np.zeros(1)
    vmax = float(np.percentile(np.abs(finite), 99.5)) or 1.0
    fig = new_figure(len(panels), panel_size_in=4.0, title=title or None)
    axes = list(fig.axes)  # colorbars add axes to fig.axes as we go
    for ax, (name, array) in zip(axes, panels.items(), strict=True):
        if "phase" in name:
            image = ax.imshow(array, cmap=PHASE_CMAP, vmin=-np.pi, vmax=np.pi, interpolation="nearest")
            fig.colorbar(image, ax=ax, shrink=0.8, label="rad")
        else:
            image = ax.imshow(
                np.asarray(array) * scale, cmap="RdBu", vmin=-vmax, vmax=vmax, interpolation="nearest"
            )
            fig.colorbar(image, ax=ax, shrink=0.8, label=f"{units} (+ towards satellite)")
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return path
