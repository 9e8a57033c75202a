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


def write_training_gallery(
    path: str | os.PathLike[str], seed: int = 0, n: int = 24, size: int = 128, dpi: int = 80
) -> Path:
    """One PNG of ``n`` consecutive on-the-fly training samples (:mod:`fringenet.simulate.realistic`) as the
    detector sees them: wrapped phase (no-data white) above its label, titled with the sources, pixel
    spacing, turbulence and looks. Nothing is narrowed for legibility: this is the training distribution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fringenet.simulate.realistic import RealisticConfig, sample_interferogram, valid_phase

    cols = 8
    rows = -(-n // cols)
    fig, axes = plt.subplots(2 * rows, cols, figsize=(2.2 * cols, 4.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    config = RealisticConfig(size=size)
    for k in range(n):
        sample = sample_interferogram(seed + k, config)
        phase = np.where(valid_phase(sample), sample.wrapped_phase, np.nan)
        top, bottom = axes[2 * (k // cols), k % cols], axes[2 * (k // cols) + 1, k % cols]
        top.imshow(phase, cmap="hsv", vmin=-np.pi, vmax=np.pi, interpolation="nearest")
        kinds = ", ".join(s["kind"] for s in sample.sources) or "no deformation"
        p = sample.params
        top.set_title(
            f"{kinds}\n{sample.pixel_size_m:.0f} m, atm {p['turbulence_rms_cm']:.1f} cm, "
            f"{p['stratified_cm_per_km']:+.1f} cm/km, {p['looks']} looks",
            fontsize=6,
        )
        bottom.imshow(sample.label, vmin=0, vmax=1, cmap="gray", interpolation="nearest")
        bottom.imshow(np.where(sample.unusable, 1.0, np.nan), cmap="Blues", vmin=0, vmax=1.5, alpha=0.5)
    fig.suptitle(f"on-the-fly training samples {seed}..{seed + n - 1}: phase; label (white), unusable (blue)")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return out
