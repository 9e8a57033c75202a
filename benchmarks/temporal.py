"""Time-series models against the classical chain, on held-out simulated stacks and on a real stack.

Simulated part: the test split of a sequence dataset (``configs/temporal-dataset.yaml``: scenes
never seen in training, hard negatives included). Every method sees the same interferograms:
all dates, each date paired with its next two (boxcar 5x5 from the simulated SLCs); the
coherence-matrix transformer sees the full sample coherence matrix of the same SLCs. Scores:
pixel IoU, precision, recall and F1 of the moving-area mask (summed over scenes), object recall /
precision, and the velocity RMSE (m/yr) over truly moving pixels. The classical chain is SNAPHU
unwrapping + coherence-weighted SBAS + a velocity threshold (the velocity whose displacement over the
stack reaches the labelling phase, pi/2): :func:`fringenet.evaluate.classical_chain.sbas_velocity_chain`.

Label efficiency: the hybrid fine-tuned from its masked-autoencoder pre-training against the same
hybrid trained from scratch, both on 10 % of the training labels (rows ``hybrid 10% ...``).

Real part (skipped when ../shared/data is absent): PyRate's ENVISAT small test stack (17 re-wrapped
interferograms, 13 dates, its DEM, coherence estimated from the phase because the stack's GAMMA
coherence files look like noise). The best model's velocity is compared with PyRate's
``linrate/linear_rate.npy`` (sign flipped to fringenet's convention, planes removed from both):
Pearson correlation over the pixels both have, and a figure.

    python benchmarks/temporal.py --runs runs --dataset data/temporal --out benchmarks/output/temporal
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)
from fringenet.conventions import phase_to_displacement
from fringenet.data.sequence_store import SequenceSamples, open_sequence_dataset
from fringenet.evaluate.classical_chain import sbas_velocity_chain
from fringenet.evaluate.metrics import object_detection, pixel_counts
from fringenet.insar.phase_linking import sample_coherence_matrix
from fringenet.io.atomic import atomic_path
from fringenet.models.bundle import load_bundle
from fringenet.models.temporal import TemporalNet
from fringenet.report.quicklook import new_figure
from fringenet.train.temporal import predict_samples

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PYRATE = SHARED / "pyrate_small_test"
ENVISAT_WAVELENGTH_M = 0.0562356424
SLOW_M_PER_YR = 0.1
"""Moving pixels slower than this (m/yr) get their own velocity RMSE: most targets, fast ones dominate the RMSE."""
MODELS = {
    "st_transformer": "temporal-st-transformer",
    "coherence_transformer": "temporal-coherence-transformer",
    "hybrid": "temporal-hybrid",
    "hybrid 10% labels, scratch": "temporal-hybrid-10pct-scratch",
    "hybrid 10% labels, MAE pre-trained": "temporal-hybrid-10pct-mae",
    "hybrid, 20 epochs (shipped)": "temporal-shipped",
}


def scores(
    mask: NDArray[np.bool_], velocity: NDArray[np.floating], truth: dict[str, NDArray[Any]], seconds: float
) -> dict[str, float]:
    """Pixel and object scores of masks ``(N, H, W)`` and the velocity RMSE (m/yr) on moving pixels."""
    label, valid = truth["label"], truth["valid"]
    counts = pixel_counts(mask, label, valid)
    objects = object_detection(mask, label, valid)
    moving = label & valid & np.isfinite(velocity)
    error = velocity[moving] - truth["velocity"][moving]
    slow = np.abs(truth["velocity"][moving]) < SLOW_M_PER_YR
    rmse = float(np.sqrt(np.mean(error**2))) if error.size else np.nan
    slow_rmse = float(np.sqrt(np.mean(error[slow] ** 2))) if slow.any() else np.nan
    return {
        "iou": counts.iou, "precision": counts.precision, "recall": counts.recall, "f1": counts.f1,
        "object_recall": objects.recall, "object_precision": objects.precision,
        "velocity_rmse_m_per_yr": rmse, "slow_velocity_rmse_m_per_yr": slow_rmse,
        "velocity_coverage": float(moving.sum() / max(int((label & valid).sum()), 1)),
        "seconds_per_stack": seconds / max(len(mask), 1),
    }  # fmt: skip


def model_rows(
    args: argparse.Namespace, truth: dict[str, NDArray[Any]], indices: NDArray[np.int64]
) -> dict[str, dict[str, float]]:
    dataset = open_sequence_dataset(args.dataset)
    rows: dict[str, dict[str, float]] = {}
    for name, folder in MODELS.items():
        bundle = args.runs / folder / "model"
        if not (bundle / "bundle.json").exists():
            print(f"skipped {name}: no bundle at {bundle}")
            continue
        model, info = load_bundle(bundle)
        assert isinstance(model, TemporalNet)
        samples = SequenceSamples(dataset, indices, model.spec)
        tic = time.perf_counter()
        pred = predict_samples(model, samples, 8, torch.device("cpu"))
        seconds = time.perf_counter() - tic
        velocity = phase_to_displacement(pred["rate"], dataset.wavelength_m)
        rows[name] = scores(pred["probability"] >= info.threshold, velocity, truth, seconds)
        rows[name]["parameters"] = sum(p.numel() for p in model.parameters())
        print(name, {k: round(v, 4) for k, v in rows[name].items()}, flush=True)
    return rows


def classical_row(
    args: argparse.Namespace, indices: NDArray[np.int64], truth: dict[str, NDArray[Any]]
) -> dict[str, float]:
    dataset = open_sequence_dataset(args.dataset)
    masks, velocities = [], []
    tic = time.perf_counter()
    for index in indices:
        sample = dataset.read(int(index))
        slc = sample["slc"]
        t = slc.shape[0]
        i, j = np.triu_indices(t, k=1)
        keep = (j - i) <= 2
        i, j = i[keep], j[keep]
        matrix = sample_coherence_matrix(slc, window=5)
        pair = np.moveaxis(matrix[:, :, i, j], -1, 0)
        days = (sample["dates"] - sample["dates"][0]).astype(np.float64)
        result = sbas_velocity_chain(
            np.angle(pair), np.abs(pair), np.stack([i, j], axis=1), days, dataset.wavelength_m,
            valid=sample["valid"] > 0,
        )  # fmt: skip
        masks.append(result.mask)
        velocities.append(result.velocity)
    seconds = time.perf_counter() - tic
    return scores(np.stack(masks), np.stack(velocities), truth, seconds)


def truth_of(args: argparse.Namespace, indices: NDArray[np.int64]) -> dict[str, NDArray[Any]]:
    dataset = open_sequence_dataset(args.dataset)
    samples = [dataset.read(int(i)) for i in indices]
    return {
        "label": np.stack([s["label"] > 0 for s in samples]),
        "valid": np.stack([s["valid"] > 0 for s in samples]),
        "velocity": np.stack([s["velocity"] for s in samples]).astype(np.float64),
    }


def remove_plane(values: NDArray[np.float64]) -> NDArray[np.float64]:
    yy, xx = np.mgrid[: values.shape[0], : values.shape[1]]
    ok = np.isfinite(values)
    coef, *_ = np.linalg.lstsq(np.c_[np.ones(ok.sum()), xx[ok], yy[ok]], values[ok], rcond=None)
    return values - (coef[0] + coef[1] * xx + coef[2] * yy)


def pyrate_part(args: argparse.Namespace, best: str, out: Path) -> dict[str, Any] | None:
    """The best model's velocity on PyRate's stack beside PyRate's own linear rate."""
    if not PYRATE.is_dir():
        print(f"skipped the real stack: {PYRATE} not found")
        return None
    from fringenet.detect.temporal import predict_stack, prepare_stack
    from fringenet.insar.sbas import invert_sbas
    from fringenet.io.geotiff import read_geotiff
    from fringenet.io.stack import open_stack_folder

    stack = open_stack_folder(
        PYRATE / "tif", "geo_*_unw.tif", "unwrapped_phase", nodata=0.0, wavelength_m=ENVISAT_WAVELENGTH_M
    )
    dem = read_geotiff(PYRATE / "dem" / "roipac_test_trimmed.tif", "dem")["dem"].values
    stack["dem"] = (("y", "x"), np.where(dem > -1000, dem, np.nan).astype(np.float32))
    model = load_bundle(args.runs / MODELS[best] / "model")[0]
    assert isinstance(model, TemporalNet)
    prepared = prepare_stack(stack, model.spec, "pyrate_small_test")
    h, w = prepared.shape
    ph, pw = -h % model.spec.patch, -w % model.spec.patch
    phase = prepared.read(0, 0, h, w)[0]
    phase = np.pad(phase, ((0, 0), (0, ph), (0, pw)), constant_values=np.nan)
    prepared.dem = np.pad(prepared.dem, ((0, ph), (0, pw)), mode="edge") if prepared.dem is not None else None
    for name in ("slope", "aspect"):
        layer = getattr(prepared, name)
        if layer is not None:
            setattr(prepared, name, np.pad(layer, ((0, ph), (0, pw)), mode="edge"))
    inputs = prepared.inputs(phase, None, 0, 0)
    probability, rate = predict_stack(model, [inputs], torch.device("cpu"))
    velocity_mm = (
        np.asarray(phase_to_displacement(rate[0, :h, :w], ENVISAT_WAVELENGTH_M), dtype=np.float64) * 1e3
    )
    probability = probability[0, :h, :w]
    unwrapped = stack["unwrapped_phase"].values.astype(np.float64)
    sbas = (
        invert_sbas(
            unwrapped,
            stack["reference_date"].values,
            stack["secondary_date"].values,
            wavelength_m=ENVISAT_WAVELENGTH_M,
        ).velocity
        * 1000.0
    )
    pyrate = -np.load(PYRATE / "linrate" / "linear_rate.npy")  # PyRate: + away from the satellite
    valid = np.isfinite(pyrate) & np.isfinite(velocity_mm) & np.all(np.isfinite(unwrapped), axis=0)

    def corr(a: NDArray[np.float64]) -> float:
        x, y = remove_plane(np.where(valid, a, np.nan)), remove_plane(np.where(valid, pyrate, np.nan))
        return float(np.corrcoef(x[valid], y[valid])[0, 1])

    result = {
        "model": best, "pixels": int(valid.sum()), "notes": prepared.notes + inputs.notes,
        "correlation_model_vs_pyrate": corr(velocity_mm),
        "correlation_fringenet_sbas_vs_pyrate": corr(sbas),
        "model_min_mm_per_yr": float(np.nanmin(velocity_mm[valid])),
        "pyrate_min_mm_per_yr": float(np.nanmin(pyrate[valid])),
        "max_probability": float(np.nanmax(probability)),
    }  # fmt: skip
    # every velocity panel minus its best-fitting plane (PyRate removed orbital planes; the others did not)
    fig = new_figure(
        4,
        title=f"PyRate ENVISAT small test stack: mean LOS velocity, r = {result['correlation_model_vs_pyrate']:.2f}",
    )
    axes = fig.axes
    shown = [remove_plane(np.where(valid, v, np.nan)) for v in (pyrate, sbas, velocity_mm)]
    lim = float(np.nanpercentile(np.abs(shown[0][valid]), 99))
    for ax, values, title in (
        (axes[0], shown[0], "PyRate linear rate (+ towards satellite)"),
        (axes[1], shown[1], "fringenet SBAS (unwrapped phase)"),
        (axes[2], shown[2], f"{best} (wrapped phase only)"),
    ):
        image = ax.imshow(values, cmap="RdBu", vmin=-lim, vmax=lim)
        ax.set_title(title, fontsize=8)
        ax.set_axis_off()
        fig.colorbar(image, ax=ax, shrink=0.8, label="mm/yr")
    image = axes[3].imshow(probability, cmap="magma", vmin=0, vmax=1)
    axes[3].set_title("moving-area probability", fontsize=8)
    axes[3].set_axis_off()
    fig.colorbar(image, ax=axes[3], shrink=0.8)
    path = args.figure
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    result["figure"] = str(path)
    return result


def table(rows: dict[str, dict[str, float]]) -> str:
    head = (
        "| method | IoU | F1 | precision | recall | object recall | object precision | velocity RMSE (mm/yr) "
        "| RMSE, moving < 10 cm/yr | velocity on moving px | s/stack |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    return head + "".join(
        f"| {name} | {r['iou']:.3f} | {r['f1']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} | "
        f"{r['object_recall']:.3f} | {r['object_precision']:.3f} | {1000 * r['velocity_rmse_m_per_yr']:.1f} | "
        f"{1000 * r['slow_velocity_rmse_m_per_yr']:.1f} | {r['velocity_coverage']:.2f} | "
        f"{r['seconds_per_stack']:.3f} |\n"
        for name, r in rows.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="Folder holding the training runs.")
    parser.add_argument("--dataset", type=Path, default=Path("data/temporal"), help="Sequence dataset.")
    parser.add_argument("--limit", type=int, default=None, help="Use only this many test stacks.")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/output/temporal"))
    parser.add_argument("--figure", type=Path, default=Path("docs/images/temporal_pyrate.png"))
    parser.add_argument("--skip-classical", action="store_true", help="Leave out the (slow) SNAPHU chain.")
    args = parser.parse_args()
    torch.set_num_threads(2)
    indices = open_sequence_dataset(args.dataset).indices("test")[: args.limit]
    truth = truth_of(args, indices)
    print(f"{indices.size} test stacks, {int(truth['label'].sum())} moving pixels")
    rows = model_rows(args, truth, indices)
    if not args.skip_classical:
        rows["classical: SNAPHU + SBAS + threshold"] = classical_row(args, indices, truth)
    print(table(rows))
    learned = {k: v for k, v in rows.items() if "10%" not in k and not k.startswith("classical")}
    real = pyrate_part(args, max(learned, key=lambda k: learned[k]["iou"]), args.out) if learned else None
    if real is not None:
        print(json.dumps(real, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "results.json") as tmp:
        tmp.write_text(
            json.dumps({"stacks": int(indices.size), "rows": rows, "pyrate": real}, indent=2, default=float)
        )


if __name__ == "__main__":
    main()
