"""Benchmark: fringenet's SBAS velocity against PyRate's on PyRate's ENVISAT small test stack.

Run from the repository root: ``.venv/bin/python benchmarks/pyrate_sbas.py [--figure PATH.png]``.
Needs ``../shared/data``.

PyRate converts ROI_PAC phase to mm with ``phase * 1000 * wavelength / (4 pi)`` (no sign flip,
``pyrate/core/shared.py::convert_radians_to_mm``), so its rates are positive for range increase
(motion away from the satellite). fringenet uses ``-wavelength / (4 pi) * phase`` (positive towards
the satellite), hence our velocity is the negative of PyRate's. Peak rates are reported in our
convention (subsidence negative). PyRate also removes orbital planes, a reference phase, APS and
DEM error before its fit, so both maps are compared after removing a best-fit plane and the mean.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from fringenet.insar.sbas import invert_sbas
from fringenet.io.stack import open_stack_folder

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pyrate_small_test"
ENVISAT_WAVELENGTH_M = 0.0562356424
BOWL_RADIUS_PX = 4


def remove_plane(values: np.ndarray) -> np.ndarray:
    """``values`` minus its least-squares plane ``a + b x + c y`` (which also removes the mean)."""
    yy, xx = np.mgrid[: values.shape[0], : values.shape[1]]
    ok = np.isfinite(values)
    design = np.c_[np.ones(ok.sum()), xx[ok], yy[ok]]
    coef, *_ = np.linalg.lstsq(design, values[ok], rcond=None)
    return values - (coef[0] + coef[1] * xx + coef[2] * yy)


def compare(per_ifg_plane: bool = False, figure: Path | None = None) -> dict[str, float]:
    """Run SBAS on the stack and compare with PyRate; rates in mm/yr, our sign convention."""
    stack = open_stack_folder(
        DATA / "tif", "geo_*_unw.tif", "unwrapped_phase", nodata=0.0, wavelength_m=ENVISAT_WAVELENGTH_M
    )
    phase = stack["unwrapped_phase"].values.astype(np.float64)
    if per_ifg_plane:  # a crude stand-in for PyRate's per-interferogram orbital plane fit
        phase = np.stack([remove_plane(p) for p in phase])
    timings = []
    for _ in range(3):  # best of 3: the first call pays one-off import/warm-up costs
        start = time.perf_counter()
        result = invert_sbas(
            phase,
            stack["reference_date"].values,
            stack["secondary_date"].values,
            wavelength_m=ENVISAT_WAVELENGTH_M,
        )
        timings.append(time.perf_counter() - start)
    ours = remove_plane(result.velocity * 1000.0)
    theirs = remove_plane(-np.load(DATA / "linrate" / "linear_rate.npy"))  # to our convention
    ok = np.isfinite(ours) & np.isfinite(theirs)
    if figure is not None:
        from fringenet.report.velocity import plot_velocity_comparison

        plot_velocity_comparison(
            {
                "PyRate linear rate (sign flipped)": theirs,
                "fringenet SBAS": ours,
                "difference": ours - theirs,
            },
            figure,
            title="ENVISAT, Southern Coalfield NSW: LOS velocity after plane removal",
            scale=1.0,  # already mm/yr
        )
    # the bowl: around PyRate's fastest pixel
    by, bx = np.unravel_index(np.nanargmin(theirs), theirs.shape)
    window = (
        slice(by - BOWL_RADIUS_PX, by + BOWL_RADIUS_PX + 1),
        slice(bx - BOWL_RADIUS_PX, bx + BOWL_RADIUS_PX + 1),
    )
    return {
        "pearson_r": float(np.corrcoef(ours[ok], theirs[ok])[0, 1]),
        "peak_ours_mm_yr": float(np.nanmin(ours[window])),
        "peak_pyrate_mm_yr": float(np.nanmin(theirs[window])),
        "rms_diff_mm_yr": float(np.sqrt(np.mean((ours[ok] - theirs[ok]) ** 2))),
        "valid_fraction": float(np.isfinite(result.velocity).mean()),
        "bowl_row": float(by),
        "bowl_col": float(bx),
        "sbas_seconds": min(timings),
    }


def main() -> int:
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found")
        return 0
    figure = Path(sys.argv[sys.argv.index("--figure") + 1]) if "--figure" in sys.argv else None
    rows = {"raw stack": compare(False, figure), "per-ifg plane removed": compare(True)}
    keys = list(next(iter(rows.values())))
    print(f"{'metric':<20}" + "".join(f"{name:>24}" for name in rows))
    for key in keys:
        print(f"{key:<20}" + "".join(f"{r[key]:>24.3f}" for r in rows.values()))
    print(
        "(rates in mm/yr after removing a best-fit plane from each map; our sign: negative = away from satellite)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
