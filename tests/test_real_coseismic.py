"""The shipped detector on real coseismic Sentinel-1 interferograms it never saw (issue 11).

Label: the unwrapped LOS of the LiCSAR product relative to a plane fitted to the far field (pixels
beyond 0.4 of the scene size from the centre), above half a fringe. The detector sees the wrapped
phase only, with no coherence layer, at its bundle's own threshold. The bounds sit below what the
shipped detector measures (docs/benchmarks.md) so a regression shows, and are never used to choose
anything: this is evaluation data.
"""

from __future__ import annotations

import numpy as np
import pytest

import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)
from fringenet.detect import ArraySource, predict_scene
from fringenet.models.bundle import load_bundle
from fringenet.models.shipped import shipped_bundle
from shared_data import COSEISMIC, needs_coseismic

SENTINEL1_WAVELENGTH_M = 0.05546576


def coseismic(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Wrapped phase, valid pixels, label and far field (outside the label) of one LiCSAR pair."""
    folder = COSEISMIC / name
    par = dict(
        line.split(":", 1) for line in (folder / f"{name}.par").read_text().splitlines() if ":" in line
    )
    shape = (int(par["ifg_length"]), int(par["ifg_width"]))
    diff = np.fromfile(folder / f"{name}.diff", dtype="<f4").reshape(shape)
    los = np.fromfile(folder / f"{name}.unw", dtype="<f4").reshape(shape).astype(np.float64)
    valid = np.isfinite(diff) & (diff != 0) & np.isfinite(los) & (los != 0)
    rows, cols = np.indices(shape)
    far = valid & (np.hypot(rows - (shape[0] - 1) / 2, cols - (shape[1] - 1) / 2) > 0.4 * max(shape))
    design = np.c_[np.ones(int(far.sum())), rows[far], cols[far]]
    coef = np.linalg.lstsq(design, los[far], rcond=None)[0]
    label = valid & (np.abs(los - (coef[0] + coef[1] * rows + coef[2] * cols)) > SENTINEL1_WAVELENGTH_M / 4)
    return diff, valid, label, far & ~label


@needs_coseismic
@pytest.mark.parametrize("name", ["greece", "afghanistan"])
def test_shipped_detector_flags_coseismic_fringes_not_the_far_field(
    name: str, one_torch_thread: None
) -> None:
    model = load_bundle(shipped_bundle("detector"))
    diff, _, label, far = coseismic(name)
    source = ArraySource(diff, pixel_size_m=100.0, zero_is_nodata=True, name=name)
    flagged = np.nan_to_num(predict_scene(model, source), nan=0.0) >= model[1].threshold
    label_share = flagged[label].mean()
    far_share = flagged[far].mean()
    assert label_share >= 0.08, f"{name}: {label_share:.1%} of the label flagged"
    assert far_share <= 0.02, f"{name}: {far_share:.1%} of the far field flagged"
