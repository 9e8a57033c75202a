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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fringenet.io.atomic import atomic_path

    velocity_values = [np.asarray(a) * scale for name, a in panels.items() if "phase" not in name]
    finite = np.concatenate([v[np.isfinite(v)] for v in velocity_values]) if velocity_values else np.zeros(1)
    vmax = float(np.percentile(np.abs(finite), 99.5)) or 1.0
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.0), constrained_layout=True)
    for ax, (name, array) in zip(np.atleast_1d(axes), panels.items(), strict=True):
        if "phase" in name:
            image = ax.imshow(array, cmap="twilight", vmin=-np.pi, vmax=np.pi, interpolation="nearest")
            fig.colorbar(image, ax=ax, shrink=0.8, label="rad")
        else:
            image = ax.imshow(
                np.asarray(array) * scale, cmap="RdBu", vmin=-vmax, vmax=vmax, interpolation="nearest"
            )
            fig.colorbar(image, ax=ax, shrink=0.8, label=f"{units} (+ towards satellite)")
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
