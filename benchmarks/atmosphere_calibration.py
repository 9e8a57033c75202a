"""Atmosphere calibration: generated atmosphere-only interferograms beside the far field of real ones.

Compares what :mod:`fringenet.simulate.realistic` draws for its hard negatives with what real
interferograms show where nothing deforms:

- **structure function** ``sqrt(D(r))`` of the LOS delay (cm) against separation ``r`` (km), with
  ``D(r) = E[(d(x + r) - d(x))^2]`` over random pixel pairs in random directions, after removing a
  plane (orbit ramp) from each field;
- **phase-gradient statistics** of the wrapped phase: quantiles of ``|grad phi|`` (rad/px) of the raw
  phase and of its 5 x 5 complex multilook (where atmosphere, not noise, sets the fringe rate), and
  the share of pixels that the 5 x 5 phase-gradient rule of ``benchmarks/generalisation.py`` would call
  fringes (>= 0.15 rad/px with phasor consistency >= 0.8): what makes atmosphere a false alarm.

Real references (``../shared/data``; each skipped with a message where absent): the far field of the
LiCSAR coseismic pairs (valid pixels beyond 0.4 of the scene size from the centre, outside the
``|LOS - plane| > λ/4`` label; 100 m pixels, Sentinel-1), and the 17 PyRate ENVISAT pairs over NSW
outside the subsidence bowl (``|unw - median| > π``; ~90 m pixels). Generated: atmosphere-only samples
of ``RealisticConfig`` at 90-100 m pixels, 256 px (the distribution is the training one; only the
pixel spacing is matched to the real data). Real data is only looked at here, never trained on.

    python benchmarks/atmosphere_calibration.py                 # table
    python benchmarks/atmosphere_calibration.py --write-docs    # + docs/simulator.md and the figure
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_block import write_block
from generalisation import RULE_RATE_RAD_PX, gradient_rule

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DOCS = ROOT / "docs" / "simulator.md"
FIGURE = ROOT / "docs" / "images" / "simulator" / "calibration.png"
START, END = "<!-- calibration:start -->", "<!-- calibration:end -->"
SENTINEL1_WAVELENGTH_M = 0.05546576
ENVISAT_WAVELENGTH_M = 0.0562356424
LAGS_KM = np.geomspace(0.2, 40.0, 16)
REPORT_LAGS_KM = (1.0, 5.0, 20.0)
FAR_FIELD_RADIUS = 0.4


@dataclass
class Field:
    """One delay field (LOS, metres) and its wrapped phase, with the pixels that count."""

    name: str
    group: str
    delay_m: NDArray[np.float64]
    wrapped: NDArray[np.float64]
    ok: NDArray[np.bool_]
    pixel_km: float
    extra: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------------- statistics


def deramp(values: NDArray[np.float64], ok: NDArray[np.bool_]) -> NDArray[np.float64]:
    """``values`` minus the least-squares plane through its ``ok`` pixels."""
    rows, cols = np.indices(values.shape)
    design = np.c_[np.ones(int(ok.sum())), rows[ok], cols[ok]]
    coef = np.linalg.lstsq(design, values[ok], rcond=None)[0]
    return values - (coef[0] + coef[1] * rows + coef[2] * cols)


def structure_function(
    delay_m: NDArray[np.float64], ok: NDArray[np.bool_], pixel_km: float, rng: np.random.Generator,
    lags_km: NDArray[np.float64] = LAGS_KM, pairs: int = 20_000,
) -> NDArray[np.float64]:  # fmt: skip
    """``sqrt(D(r))`` (cm) at each lag (NaN where the field is too small for 200 pairs)."""
    idx = np.flatnonzero(ok)
    shape = ok.shape
    out = np.full(len(lags_km), np.nan)
    for k, lag in enumerate(lags_km):
        length = lag / pixel_km
        if length < 1 or length > 0.9 * max(shape):
            continue
        start = rng.choice(idx, pairs)
        angle = rng.uniform(0, np.pi, pairs)
        r0, c0 = np.unravel_index(start, shape)
        r1 = np.rint(r0 + length * np.sin(angle)).astype(int)
        c1 = np.rint(c0 + length * np.cos(angle)).astype(int)
        inside = (r1 >= 0) & (r1 < shape[0]) & (c1 >= 0) & (c1 < shape[1])
        r0, c0, r1, c1 = r0[inside], c0[inside], r1[inside], c1[inside]
        both = ok[r1, c1]
        if both.sum() < 200:
            continue
        diff = delay_m[r0[both], c0[both]] - delay_m[r1[both], c1[both]]
        out[k] = 100.0 * math.sqrt(float(np.mean(diff**2)))
    return out


def gradient_statistics(
    wrapped: NDArray[np.float64], ok: NDArray[np.bool_]
) -> dict[str, NDArray[np.float64]]:
    """``|grad phi|`` (rad/px) of the raw and the 5 x 5 multilooked phase, and the rule's fringe pixels."""
    z = np.where(ok, np.exp(1j * np.nan_to_num(wrapped)), 0)
    looked = ndimage.uniform_filter(z.real, 5) + 1j * ndimage.uniform_filter(z.imag, 5)
    out: dict[str, NDArray[np.float64]] = {}
    for key, values in (("raw", z), ("multilooked", looked)):
        gx = np.angle(values[:, 1:] * np.conj(values[:, :-1]))[:-1, :]
        gy = np.angle(values[1:, :] * np.conj(values[:-1, :]))[:, :-1]
        both = ok[:-1, :-1] & ok[1:, :-1] & ok[:-1, 1:]
        out[key] = np.hypot(gx, gy)[both]
    out["rule"] = gradient_rule(wrapped, ok)[ok].astype(np.float64)
    return out


# ------------------------------------------------------------------------------------------ fields


def coseismic_fields(root: Path = SHARED) -> tuple[list[Field], list[str]]:
    fields, missing = [], []
    for name in ("greece", "afghanistan"):
        folder = root / "coseismic" / name
        if not (folder / f"{name}.unw").exists():
            missing.append(f"{folder} not found: skipped")
            continue
        par = {}
        for line in (folder / f"{name}.par").read_text().splitlines():
            key, _, value = line.partition(":")
            par[key.strip()] = float(value.split()[0])
        shape = (int(par["ifg_length"]), int(par["ifg_width"]))
        diff = np.fromfile(folder / f"{name}.diff", dtype="<f4").reshape(shape).astype(np.float64)
        los = np.fromfile(folder / f"{name}.unw", dtype="<f4").reshape(shape).astype(np.float64)
        valid = np.isfinite(diff) & (diff != 0) & np.isfinite(los) & (los != 0)
        rows, cols = np.indices(shape)
        distance = np.hypot(rows - (shape[0] - 1) / 2, cols - (shape[1] - 1) / 2)
        far = valid & (distance > FAR_FIELD_RADIUS * max(shape))
        residual = deramp(np.where(valid, los, 0.0), far)
        far &= np.abs(residual) <= SENTINEL1_WAVELENGTH_M / 4  # outside the label
        fields.append(
            Field(name, "coseismic far field", deramp(residual, far), diff, far, par["x_spacing"] / 1e3)
        )
    return fields, missing


def nsw_fields(root: Path = SHARED) -> tuple[list[Field], list[str]]:
    folder = root / "pyrate_small_test" / "tif"
    if not folder.is_dir():
        return [], [f"{folder} not found: skipped"]
    import rasterio

    fields = []
    for path in sorted(folder.glob("*_unw.tif")):
        with rasterio.open(path) as src:
            unw = src.read(1).astype(np.float64)
            transform = src.transform
        ok = np.isfinite(unw) & (unw != 0)
        ok &= np.abs(unw - np.median(unw[ok])) <= np.pi  # outside the bowl
        lat = transform.f + transform.e * unw.shape[0] / 2
        pixel_km = 0.5 * (abs(transform.a) * math.cos(math.radians(lat)) + abs(transform.e)) * 111.32
        delay = deramp(np.where(ok, unw, 0.0), ok) * ENVISAT_WAVELENGTH_M / (4 * np.pi)
        wrapped = np.angle(np.exp(1j * unw))
        fields.append(Field(path.stem, "NSW (17 ENVISAT pairs)", delay, wrapped, ok, pixel_km))
    return fields, []


TRAINING_CONFIGS = (
    ROOT / "configs" / "detector-generated.yaml",
    ROOT / "configs" / "detector-generated-256.yaml",
)
"""The shipped detector's two training stages: their generators are the ones compared."""


def generated_fields(n: int, seed: int, train_config: Path) -> list[Field]:
    import yaml

    from fringenet.simulate.realistic import RealisticConfig, sample_interferogram, valid_phase

    generator = dict(yaml.safe_load(train_config.read_text()).get("generator", {}))
    generator.update(size=256, pixel_size_m=(90.0, 100.0), negative_fraction=1.0)
    config = RealisticConfig.model_validate(generator)
    group = f"generated, {train_config.stem}"
    fields = []
    for k in range(n):
        s = sample_interferogram(seed * 10**6 + k, config)
        ok = valid_phase(s)
        delay = s.atmosphere_phase.astype(np.float64) * s.wavelength_m / (4 * np.pi)
        everywhere = np.ones_like(ok)
        fields.append(
            Field(f"generated {k}", group, deramp(delay, everywhere),
                  s.wrapped_phase.astype(np.float64), ok, s.pixel_size_m / 1e3)
        )  # fmt: skip
    return fields


# ------------------------------------------------------------------------------------ report


@dataclass
class Summary:
    group: str
    n: int
    sf_median: NDArray[np.float64]
    sf_low: NDArray[np.float64]
    sf_high: NDArray[np.float64]
    raw: NDArray[np.float64]
    looked: NDArray[np.float64]
    rule: float


def summarise(fields: list[Field], seed: int) -> Summary:
    rng = np.random.default_rng(seed)
    curves = np.array([structure_function(f.delay_m, f.ok, f.pixel_km, rng) for f in fields])
    stats = [gradient_statistics(f.wrapped, f.ok) for f in fields]
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(curves, axis=0)
            low, high = np.nanpercentile(curves, 10, axis=0), np.nanpercentile(curves, 90, axis=0)
    return Summary(
        fields[0].group, len(fields), median, low, high,
        np.concatenate([s["raw"] for s in stats]), np.concatenate([s["multilooked"] for s in stats]),
        float(np.mean([s["rule"].mean() for s in stats])),
    )  # fmt: skip


def _at(curve: NDArray[np.float64], lag: float) -> str:
    k = int(np.argmin(np.abs(np.log(LAGS_KM / lag))))
    return "–" if not np.isfinite(curve[k]) else f"{curve[k]:.2f}"


def table(summaries: list[Summary]) -> str:
    head = (
        "| data | fields | " + " | ".join(f"√D({lag:g} km) cm" for lag in REPORT_LAGS_KM)
        + " | raw \\|∇φ\\| median / p90 (rad/px) | 5x5 multilook \\|∇φ\\| median / p90 | rule fringe pixels |\n"
    )  # fmt: skip
    head += "|---" * (6 + len(REPORT_LAGS_KM) - 1) + "|\n"
    rows = []
    for s in summaries:
        sf = " | ".join(_at(s.sf_median, lag) for lag in REPORT_LAGS_KM)
        rows.append(
            f"| {s.group} | {s.n} | {sf} | {np.median(s.raw):.2f} / {np.percentile(s.raw, 90):.2f} | "
            f"{np.median(s.looked):.3f} / {np.percentile(s.looked, 90):.3f} | {100 * s.rule:.1f} % |"
        )
    return head + "\n".join(rows)


def figure(summaries: list[Summary], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    palette = iter(["#555555", "#999999", "#b2182b", "#2166ac", "#1b7837", "#e08214"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for s in summaries:
        colour = next(palette)
        ok = np.isfinite(s.sf_median)
        left.plot(LAGS_KM[ok], s.sf_median[ok], "-o", ms=3, color=colour, label=f"{s.group} (median)")
        if s.n > 2:
            left.fill_between(LAGS_KM[ok], s.sf_low[ok], s.sf_high[ok], color=colour, alpha=0.15)
        bins = np.linspace(0, 1.2, 61)
        right.hist(s.looked, bins=bins, density=True, histtype="step", color=colour, label=s.group)
    left.set(xscale="log", yscale="log", xlabel="separation (km)", ylabel="√D  LOS delay (cm)",
             title="Structure function (plane removed; band: 10-90 % of fields)")  # fmt: skip
    left.axhline(100 * SENTINEL1_WAVELENGTH_M / 4, color="k", lw=0.6, ls=":")
    left.text(LAGS_KM[0], 100 * SENTINEL1_WAVELENGTH_M / 4 * 1.08, "half a fringe", fontsize=7)
    left.legend(fontsize=7)
    right.set(yscale="log", xlabel="|∇φ| of the 5x5 multilooked wrapped phase (rad/px)", ylabel="density",
              title="Phase gradients (atmosphere + noise)")  # fmt: skip
    right.axvline(RULE_RATE_RAD_PX, color="k", lw=0.6, ls=":")
    right.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_docs(body: str, path: Path = DOCS) -> None:
    write_block(body, path, (START, END), "\n## Calibration against real interferograms\n\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=120, help="generated atmosphere-only samples")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)

    groups = [generated_fields(args.samples, args.seed, path) for path in TRAINING_CONFIGS]
    notes: list[str] = []
    cos, missing = coseismic_fields()
    notes += missing
    groups += [[f] for f in cos]
    nsw, missing = nsw_fields()
    notes += missing
    if nsw:
        groups.append(nsw)
    summaries = []
    for fields in groups:
        s = summarise(fields, args.seed)
        if len(fields) == 1:
            s.group = f"{fields[0].name} far field"
        summaries.append(s)
    body = table(summaries)
    print(body)
    for note in notes:
        print(note, file=sys.stderr)
    if args.write_docs:
        figure(summaries, FIGURE)
        text = "\n".join(
            [
                "Generated atmosphere-only samples of the shipped detector's two training stages (the generator "
                "of each config at 90-100 m pixels, 256 px, "
                f"{args.samples} samples each, seed {args.seed}) beside the far field of the real interferograms "
                "in `../shared` (coseismic pairs: beyond 0.4 of the scene size from the centre and outside the "
                "|LOS − plane| > λ/4 label; NSW: the 17 PyRate pairs outside the bowl). A plane is removed from "
                "every field first. √D is the square root of the structure function of the LOS delay; the "
                "rule column is the share of pixels the 5 x 5 phase-gradient rule of "
                "`benchmarks/generalisation.py` calls fringes. The real data is only compared with, never "
                "trained on.",
                "",
                body,
                "",
                *[f"- {n}" for n in notes],
                "Command: `python benchmarks/atmosphere_calibration.py --write-docs`.",
                "",
                "![Structure functions and phase-gradient distributions, generated and real]"
                "(images/simulator/calibration.png)",
            ]
        )
        write_docs(text)
        print(f"wrote {DOCS} and {FIGURE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
