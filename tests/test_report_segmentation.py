"""Segmentation report: PR curves, example overlays and the metrics table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fringenet.errors import InputError
from fringenet.evaluate.metrics import segmentation_metrics, threshold_sweep
from fringenet.report.segmentation import (
    OVERLAY_COLOURS,
    metrics_markdown,
    overlay_rgb,
    plot_examples,
    plot_pr_curves,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _patches() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    labels = np.zeros((3, 32, 32), bool)
    labels[0, 4:10, 4:10] = True
    labels[2, 8:24, 8:24] = True
    scores = np.clip(0.6 * labels + rng.random(labels.shape) * 0.5, 0, 1)
    valid = np.ones_like(labels)
    valid[:, :, :2] = False
    return scores, labels, valid


def _is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_MAGIC


def test_plot_pr_curves_writes_png(tmp_path: Path) -> None:
    scores, labels, valid = _patches()
    sweeps = {
        "model": threshold_sweep(scores, labels, valid),
        "random": threshold_sweep(np.random.default_rng(1).random(labels.shape), labels, valid),
    }
    out = plot_pr_curves(sweeps, tmp_path / "figs" / "pr.png", chosen={"model": 0.5})
    assert out == tmp_path / "figs" / "pr.png" and _is_png(out)
    assert [p.name for p in out.parent.iterdir()] == ["pr.png"]  # no temporary left behind
    with pytest.raises(InputError):
        plot_pr_curves({}, tmp_path / "empty.png")


def test_plot_examples_writes_png(tmp_path: Path) -> None:
    scores, labels, valid = _patches()
    phase = np.random.default_rng(0).uniform(-np.pi, np.pi, labels.shape)
    out = plot_examples(phase, labels, scores >= 0.5, valid, tmp_path / "ex.png", max_examples=2)
    assert _is_png(out)
    with pytest.raises(InputError, match="titles"):
        plot_examples(phase, labels, labels, valid, tmp_path / "bad.png", titles=["a"])


def test_overlay_colours() -> None:
    labels = np.array([[1, 1, 0, 0, 1]], bool)
    pred = np.array([[1, 0, 1, 0, 1]], bool)
    valid = np.array([[1, 1, 1, 1, 0]], bool)
    rgb = overlay_rgb(labels, pred, valid)
    names = ["TP", "FN", "FP", "TN", "invalid"]
    assert [tuple(rgb[0, i]) for i in range(5)] == [OVERLAY_COLOURS[n] for n in names]


def test_metrics_markdown_rows_and_formatting() -> None:
    scores, labels, valid = _patches()
    results = {
        "model": segmentation_metrics(scores, labels, valid, threshold=0.5),
        "low_coherence_otsu": segmentation_metrics(labels.copy(), labels, valid, threshold=None),
    }
    table = metrics_markdown(results)
    lines = table.strip().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("| method | threshold | precision | recall | F1 | IoU |")
    assert lines[0].rstrip().endswith("| IoU small | IoU medium | IoU large |")
    model = [c.strip() for c in lines[2].strip("|").split("|")]
    assert model[0] == "model" and model[1] == "0.500"
    assert model[5] == f"{results['model']['pixel']['iou']:.3f}"
    binary = [c.strip() for c in lines[3].strip("|").split("|")]
    assert binary[1] == "–" and binary[5] == "1.000"
    # two labelled patches: terciles put one in small, one in large, none in medium
    assert binary[8:] == ["1.000", "–", "1.000"]
