"""Mask Net benchmark: unusable-phase masks from the Mask Net vs Otsu's threshold on coherence.

Simulated part: held-out pairs (seeds far from the training scenes 0..159 of
``configs/masknet-dataset.yaml``, same scenario mix, hard negatives included) whose true decorrelation
mask is known (true coherence < 0.2, water, layover/shadow). Both methods see the biased 5x5 sample
coherence, as they would on a real product; pixel IoU, precision, recall and F1 are summed over all
scenes, and IoU is also given per scenario. Also scored: the Mask Net given no coherence (estimated
from the phase) and, with --model-amplitude, a variant that also reads the amplitude.

Real part (skipped when ../shared/data is absent): PyRate's ENVISAT small test stack (17 pairs,
re-wrapped unwrapped phase, GAMMA coherence, no amplitude). No true mask exists there; the table gives
each method's unusable share per pair, their agreement and a check of the coherence files (the
correlation of neighbouring pixels), and a figure shows wrapped phase, coherence, the Otsu mask and
the Mask Net masks (with the file's coherence, and with coherence estimated from the phase) of one pair.

    python benchmarks/masknet.py --model runs/masknet/model --out benchmarks/output/masknet
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.colors import ListedColormap
from numpy.typing import NDArray

import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)
from fringenet.data.config import SimulatedSource
from fringenet.evaluate.metrics import PixelCounts, pixel_counts
from fringenet.io.atomic import atomic_path
from fringenet.models.bundle import BundleInfo, load_bundle
from fringenet.models.masknet import otsu_unusable, predict_unusable
from fringenet.models.segmentation import count_parameters
from fringenet.pipeline.dataset import simulated_scenes
from fringenet.report.quicklook import new_figure, plot_coherence, plot_wrapped_phase

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PYRATE = SHARED / "pyrate_small_test"
ENVISAT_WAVELENGTH_M = 0.0562356424
MASK_CMAP = ListedColormap(["#e6dfc3", "#1f4e9c"]).with_extremes(bad="white")  # usable, unusable, no data
EMPTY = PixelCounts(0, 0, 0, 0)


def held_out_source(args: argparse.Namespace) -> SimulatedSource:
    """The training dataset's scene mix, with seeds it never saw."""
    return SimulatedSource(
        n_scenes=args.scenes, scenario="mixed", hard_negative_fraction=0.3, height=args.scene_size,
        width=args.scene_size, seed=args.seed, label="decorrelation", coherence="sample",
    )  # fmt: skip


def simulated_benchmark(
    models: dict[str, tuple[torch.nn.Module, BundleInfo]], args: argparse.Namespace
) -> tuple[dict[str, PixelCounts], dict[str, dict[str, PixelCounts]], dict[str, float]]:
    """Pixel counts per method (all scenes, and per scenario) and Mask Net throughput (Mpx/s)."""
    totals: dict[str, PixelCounts] = defaultdict(lambda: EMPTY)
    by_scenario: dict[str, dict[str, PixelCounts]] = defaultdict(lambda: defaultdict(lambda: EMPTY))
    seconds: dict[str, float] = defaultdict(float)
    pixels = 0
    for scene in simulated_scenes(held_out_source(args)):
        scenario = scene.region.split("-", 1)[1]
        phase = np.asarray(scene.layers.wrapped_phase, dtype=np.float64)
        coherence = np.asarray(scene.layers.coherence, dtype=np.float64)
        amplitude = np.asarray(scene.layers.amplitude, dtype=np.float64)
        label, valid = scene.label > 0, scene.valid
        masks = {"Otsu on coherence": otsu_unusable(coherence)}
        for name, (model, info) in models.items():
            tic = time.perf_counter()
            masks[name] = predict_unusable(model, info, phase, coherence, amplitude)[0]
            seconds[name] += time.perf_counter() - tic
            if "log_amplitude" not in info.channels:
                masks[f"{name}, coherence from phase"] = predict_unusable(model, info, phase)[0]
        pixels += phase.size
        for name, mask in masks.items():
            counts = pixel_counts(mask, label, valid)
            totals[name] += counts
            by_scenario[scenario][name] += counts
    rate = {name: pixels / 1e6 / max(s, 1e-9) for name, s in seconds.items()}
    return dict(totals), {k: dict(v) for k, v in by_scenario.items()}, rate


def metrics_table(totals: dict[str, PixelCounts]) -> str:
    head = "| method | IoU | precision | recall | F1 |\n|---|---:|---:|---:|---:|\n"
    rows = (
        f"| {name} | {c.iou:.3f} | {c.precision:.3f} | {c.recall:.3f} | {c.f1:.3f} |\n"
        for name, c in totals.items()
    )
    return head + "".join(rows)


def scenario_table(by_scenario: dict[str, dict[str, PixelCounts]], methods: list[str]) -> str:
    head = "| scenario | unusable share | " + " | ".join(f"IoU {m}" for m in methods) + " |\n"
    head += "|---|---:|" + "---:|" * len(methods) + "\n"
    rows = []
    for scenario in sorted(by_scenario):
        counts = by_scenario[scenario]
        first = counts[methods[0]]
        share = (first.tp + first.fn) / max(first.tp + first.fp + first.fn + first.tn, 1)
        cells = " | ".join(f"{counts[m].iou:.3f}" for m in methods)
        rows.append(f"| {scenario} | {share:.2f} | {cells} |\n")
    return head + "".join(rows)


# ------------------------------------------------------------------------------------------- real


def pyrate_pairs() -> list[tuple[str, NDArray[np.float64], NDArray[np.float64]]]:
    """``(pair, wrapped phase, coherence)`` of every PyRate pair; 0 (no data) becomes NaN in both."""
    from fringenet.conventions import wrap
    from fringenet.io.open import open_product
    from fringenet.io.stack import read_gamma_float

    ds = open_product(PYRATE / "tif", nodata=0.0, wavelength_m=ENVISAT_WAVELENGTH_M)
    shape = (ds.sizes["y"], ds.sizes["x"])
    out = []
    for k, pair in enumerate(ds["pair"].values):
        reference, secondary = str(pair).replace("-", "_").split("_")
        coherence = read_gamma_float(PYRATE / "coherence" / f"{reference}-{secondary}_utm.unw.cc", shape)
        coherence = np.where(coherence > 0, coherence, np.nan).astype(np.float64)
        phase = np.asarray(wrap(np.asarray(ds["unwrapped_phase"].values[k], dtype=np.float64)))
        missing = ~np.isfinite(phase) | ~np.isfinite(coherence)
        phase[missing], coherence[missing] = np.nan, np.nan
        out.append((str(pair), phase, coherence))
    return out


def mask_iou(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0


def neighbour_correlation(values: NDArray[np.float64]) -> float:
    """Correlation of horizontally adjacent pixels: about 0 for i.i.d. noise, near 1 for a real coherence
    map (its estimation window makes neighbours share most of their samples)."""
    a, b = values[:, :-1], values[:, 1:]
    both = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[both], b[both])[0, 1])


def real_benchmark(model: torch.nn.Module, info: BundleInfo, out: Path, shown_pair: str | None) -> str:
    """Per-pair unusable shares and agreement on PyRate's stack, and a side-by-side figure of one pair."""
    rows: list[str] = []
    notes: list[str] = []
    results: dict[str, dict[str, Any]] = {}
    for pair, phase, coherence in pyrate_pairs():
        finite = np.isfinite(phase)
        masks = {
            "otsu": otsu_unusable(coherence) & finite,
            "net": predict_unusable(model, info, phase, coherence, notes=notes)[0] & finite,
            "net_phase": predict_unusable(model, info, phase, notes=notes)[0] & finite,
        }
        results[pair] = {"phase": phase, "coherence": coherence, **masks}
        share = {k: float(m[finite].mean()) for k, m in masks.items()}
        rows.append(
            f"| {pair} | {1 - finite.mean():.2f} | {np.nanmedian(coherence):.2f} | "
            f"{neighbour_correlation(coherence):+.3f} | {share['otsu']:.2f} | {share['net']:.2f} | "
            f"{mask_iou(masks['otsu'], masks['net']):.2f} | {share['net_phase']:.2f} |\n"
        )
    head = (
        "| pair | no data | median coherence | coherence neighbour corr. | Otsu unusable | Mask Net unusable "
        "| agreement (IoU) | Mask Net, coherence from phase: unusable |\n|---|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    pair = shown_pair or next(iter(results))
    r = results[pair]
    fig = new_figure(5, title=f"PyRate ENVISAT {pair}: unusable phase (blue; white = no data)")
    ax = fig.axes
    plot_wrapped_phase(ax[0], r["phase"], "wrapped phase (re-wrapped)")
    plot_coherence(ax[1], r["coherence"], "coherence (GAMMA .cc)")
    titles = (("otsu", "Otsu on coherence"), ("net", "Mask Net"), ("net_phase", "Mask Net, coh. from phase"))
    for a, (key, title) in zip(ax[2:], titles, strict=True):
        shown = np.where(np.isfinite(r["phase"]), r[key].astype(float), np.nan)
        a.imshow(shown, cmap=MASK_CMAP, vmin=0, vmax=1, interpolation="nearest")
        a.set_title(f"{title}: {np.nanmean(shown):.0%}", fontsize=9)
        a.set_xticks([])
        a.set_yticks([])
    with atomic_path(out / f"pyrate_{pair}.png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    extra = "".join(f"\n- {n}" for n in sorted(set(notes)))
    return head + "".join(rows) + extra + f"\n\nfigure: {out / f'pyrate_{pair}.png'}\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, required=True, help="Mask Net bundle (RUN/model).")
    parser.add_argument("--model-amplitude", type=Path, help="Optional variant bundle with log_amplitude.")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/output/masknet"))
    parser.add_argument("--scenes", type=int, default=40, help="Held-out simulated scenes.")
    parser.add_argument("--scene-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=100_000, help="Seed of the first held-out scene.")
    parser.add_argument("--real-pair", help="PyRate pair shown in the figure (default: the first).")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    models = {"Mask Net": load_bundle(args.model)}
    if args.model_amplitude is not None:
        models["Mask Net + amplitude"] = load_bundle(args.model_amplitude)
    lines = ["# Mask Net benchmark\n"]
    for name, path in (("Mask Net", args.model), ("Mask Net + amplitude", args.model_amplitude)):
        if path is None:
            continue
        model, info = models[name]
        size_mb = (path / "model.safetensors").stat().st_size / 1e6
        lines.append(
            f"- {name}: {info.model.architecture}/{info.model.encoder}, channels {', '.join(info.channels)}, "
            f"{count_parameters(model) / 1e6:.2f} M parameters, {size_mb:.1f} MB, threshold {info.threshold:.2f}, "
            f"validation IoU {info.provenance.get('val_iou', float('nan')):.3f}\n"
        )
    totals, by_scenario, rate = simulated_benchmark(models, args)
    lines.append(
        f"\n## Simulated held-out pairs ({args.scenes} scenes of {args.scene_size} px, seeds "
        f"{args.seed}..{args.seed + args.scenes - 1}; truth = true decorrelation mask)\n\n"
    )
    lines.append(metrics_table(totals))
    lines.append("\n" + scenario_table(by_scenario, list(totals)))
    lines.append(
        "\nMask Net inference (2 threads, whole 256 px scenes): "
        + ", ".join(f"{n} {r:.2f} Mpx/s" for n, r in rate.items())
        + "\n"
    )
    if PYRATE.is_dir():
        model, info = models["Mask Net"]
        if "log_amplitude" in info.channels:
            lines.append("\n## Real scene\n\nskipped: the PyRate stack has no amplitude for this bundle\n")
        else:
            lines.append("\n## Real scene: PyRate ENVISAT small test stack (no true mask)\n\n")
            lines.append(real_benchmark(model, info, args.out, args.real_pair) + "\n")
    else:
        lines.append(f"\n## Real scene\n\nskipped: {PYRATE} not found\n")
    text = "".join(lines)
    with atomic_path(args.out / "masknet.md") as tmp:
        tmp.write_text(text)
    print(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
