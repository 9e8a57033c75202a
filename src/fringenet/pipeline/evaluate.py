"""Stage runner of ``fringenet evaluate``: a trained bundle and its baselines scored on one split.

The decision threshold of every score (the model's probability, the phase-gradient baseline) is
chosen on the validation split as the one maximising IoU, then fixed for the evaluated split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fringenet.data.normalise import normalise
from fringenet.data.samples import channel_positions
from fringenet.data.store import PatchDataset, open_patch_dataset
from fringenet.errors import InputError
from fringenet.evaluate.baselines import BASELINES, run_baseline
from fringenet.evaluate.metrics import ThresholdSweep, best_threshold, segmentation_metrics, threshold_sweep
from fringenet.io.atomic import atomic_path


@dataclass(frozen=True)
class EvaluateOutput:
    """What :func:`run_evaluate` wrote and measured."""

    out_dir: Path
    results: dict[str, dict[str, Any]]
    markdown: str
    notes: list[str]


@dataclass(frozen=True)
class SplitArrays:
    """Raw patches of one split: ``image (N, C, P, P)`` with the dataset's channels, label, valid."""

    indices: NDArray[np.int64]
    image: NDArray[np.float32]
    label: NDArray[np.bool_]
    valid: NDArray[np.bool_]


def read_split(dataset: PatchDataset, split: str) -> SplitArrays:
    """Every patch of a split in memory."""
    indices = dataset.indices(split)
    image, label, valid = dataset.read_many(indices)
    return SplitArrays(indices, image, label > 0, valid > 0)


def model_probabilities(
    model: Any, info: Any, dataset: PatchDataset, arrays: SplitArrays
) -> NDArray[np.float32]:
    """The bundle's probabilities on a split (normalised with the bundle's own statistics)."""
    from fringenet.models.predict import predict_probabilities

    positions = channel_positions(dataset, info.channels, "model bundle")
    images = normalise(arrays.image[:, positions], arrays.valid, info.normalisation, info.channels)
    return predict_probabilities(model, images)


def _baseline_inputs(dataset: PatchDataset, arrays: SplitArrays) -> dict[str, NDArray[np.float32]]:
    return {c: arrays.image[:, k] for k, c in enumerate(dataset.channels)}


def run_evaluate(
    bundle_or_run: str | Path, dataset_path: str | Path, out: str | Path, *, split: str = "test",
    min_coverage: float = 0.25, examples: int = 6,
) -> EvaluateOutput:  # fmt: skip
    """Score a model bundle (or a run folder holding ``model/``) and the baselines on ``split``.

    Writes ``metrics.json``, ``metrics.md``, ``pr_curve.png`` and ``examples.png`` to ``out``.
    """
    from fringenet.models.bundle import load_bundle
    from fringenet.report.segmentation import metrics_markdown, plot_examples, plot_pr_curves

    path = Path(bundle_or_run)
    bundle = path / "model" if (path / "model" / "bundle.json").exists() else path
    model, info = load_bundle(bundle)
    dataset = open_patch_dataset(dataset_path)
    channel_positions(dataset, info.channels, "model bundle")
    if split == "val":
        raise InputError(dataset.path, "evaluate on 'test' (or 'train'): 'val' chooses the thresholds")
    val, test = read_split(dataset, "val"), read_split(dataset, split)
    notes: list[str] = []
    scores_val = {"model": model_probabilities(model, info, dataset, val)}
    scores_test = {"model": model_probabilities(model, info, dataset, test)}
    binary: dict[str, NDArray[np.bool_]] = {}
    inputs_val, inputs_test = _baseline_inputs(dataset, val), _baseline_inputs(dataset, test)
    for name, baseline in BASELINES.items():
        missing = [c for c in baseline.channels if c not in dataset.channels]
        if missing:
            notes.append(f"baseline {name} skipped: the dataset has no {', '.join(missing)} channel")
            continue
        if baseline.kind == "score":
            scores_val[name] = run_baseline(name, inputs_val, val.valid)
            scores_test[name] = run_baseline(name, inputs_test, test.valid)
        else:
            binary[name] = run_baseline(name, inputs_test, test.valid)
    results: dict[str, dict[str, Any]] = {}
    sweeps: dict[str, ThresholdSweep] = {}
    chosen: dict[str, float] = {}
    for name in scores_val:
        threshold = best_threshold(threshold_sweep(scores_val[name], val.label, val.valid))
        chosen[name] = threshold
        sweeps[name] = threshold_sweep(scores_test[name], test.label, test.valid)
        results[name] = segmentation_metrics(
            scores_test[name], test.label, test.valid, threshold, min_coverage
        )
    for name, pred in binary.items():
        results[name] = segmentation_metrics(pred, test.label, test.valid, None, min_coverage)
    model_iou = results["model"]["pixel"]["iou"]
    beaten_by = [n for n in results if n != "model" and results[n]["pixel"]["iou"] >= model_iou]
    if beaten_by:
        notes.append(f"the model does not beat baseline(s) {beaten_by} on pixel IoU")
    table = metrics_markdown(results)
    summary = {
        "split": split,
        "dataset": str(dataset.path.resolve()),
        "bundle": str(bundle.resolve()),
        "model": info.model.model_dump(),
        "channels": info.channels,
        "threshold_rule": "maximum IoU on the validation split, then fixed",
        "object_rule": f"an object is found when predictions cover >= {min_coverage:g} of its valid pixels; "
        f"a predicted object is correct when >= {min_coverage:g} of it lies on labelled pixels",
        "size_rule": "terciles of labelled pixels per patch (pixel metrics) and of object area (object recall)",
        "n_patches": {"val": int(val.indices.size), split: int(test.indices.size)},
        "results": results,
        "baselines": {n: BASELINES[n].description for n in results if n in BASELINES},
        "notes": notes,
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    with atomic_path(out / "metrics.md") as tmp:
        tmp.write_text(table + "".join(f"\n- {n}" for n in notes) + "\n")
    plot_pr_curves(sweeps, out / "pr_curve.png", chosen)
    if {"cos_phase", "sin_phase"} <= set(dataset.channels):
        ic, is_ = dataset.channels.index("cos_phase"), dataset.channels.index("sin_phase")
        phase = np.arctan2(test.image[:, is_], test.image[:, ic])
    else:
        phase = np.zeros(test.label.shape, dtype=np.float32)
    pred = scores_test["model"] >= chosen["model"]
    plot_examples(phase, test.label, pred, test.valid, out / "examples.png", max_examples=examples)
    return EvaluateOutput(out, results, table, notes)
