"""Gallery of simulated scenes: one quick-look PNG per scenario and hard negative."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fringenet.io.atomic import atomic_path
from fringenet.report.quicklook import scene_figure
from fringenet.simulate.config import HARD_NEGATIVES, TARGET_SCENARIOS, SimulationConfig
from fringenet.simulate.scene import simulate_pair

GALLERY_SCENARIOS = TARGET_SCENARIOS + HARD_NEGATIVES
GALLERY_OVERRIDES = {
    "gamma0": (0.8, 0.97),
    "gamma_inf": (0.3, 0.6),
    "tau_days": (30.0, 300.0),
    "vegetation_fraction": (0.0, 0.3),
    "pair_baseline_days": (24.0, 96.0),
}


def write_gallery(
    out_dir: str | os.PathLike[str], seed: int = 0, size: int = 256, dpi: int = 90
) -> list[Path]:
    """Simulate one pair per scenario and write ``<scenario>.png`` quick-looks into ``out_dir``.

    Each figure shows wrapped phase, coherence, the DEM with hillshade and the label overlay.
    For legibility the gallery narrows the default ranges (:data:`GALLERY_OVERRIDES`: fairly
    coherent terrain, 24-96 day pairs) and gives each scenario its own seed (``seed + i``); the
    hard negatives still apply their own settings. Files are written to a temporary name and
    renamed, so a PNG is never half-written.

    Returns
    -------
    The paths written, in the order of ``GALLERY_SCENARIOS``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, scenario in enumerate(GALLERY_SCENARIOS):
        config = SimulationConfig(
            scenario=scenario, seed=seed + i, height=size, width=size, **GALLERY_OVERRIDES
        )
        ds = simulate_pair(config)
        days = int((ds.secondary_date.values - ds.reference_date.values) / np.timedelta64(1, "D"))
        title = f"{scenario} (seed {seed + i}, {size * config.pixel_size_m / 1000:.1f} km, {days}-day pair, {ds.attrs['wavelength_m'] * 100:.2f} cm wavelength)"
        fig = scene_figure(ds, title=title)
        path = out / f"{scenario}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
        written.append(path)
    return written
