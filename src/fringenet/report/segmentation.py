"""Figures and tables comparing segmentations of deforming areas (model and baselines)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.patches import Patch
from numpy.typing import ArrayLike, NDArray

from fringenet.errors import InputError
from fringenet.evaluate.metrics import SIZE_CLASSES, ThresholdSweep
from fringenet.io.atomic import atomic_path
from fringenet.report.quicklook import new_figure, plot_wrapped_phase

OVERLAY_COLOURS: dict[str, tuple[float, float, float]] = {
    "TP": (0.13, 0.63, 0.20),
    "FP": (0.85, 0.12, 0.10),
    "FN": (1.00, 0.60, 0.00),
    "invalid": (0.60, 0.60, 0.60),
    "TN": (1.00, 1.00, 1.00),
}
"""RGB colours of the prediction overlay: true positive green, false positive red, false negative
orange, invalid grey, true negative white."""


def plot_pr_curves(
    sweeps: Mapping[str, ThresholdSweep],
    path: str | PathLike[str],
    chosen: Mapping[str, float] | None = None,
    *,
    title: str = "pixel precision-recall",
    dpi: int = 110,
) -> Path:
    """Save precision-recall curves (one line per method) as a PNG.

    Parameters
    ----------
    sweeps
        Method name -> :class:`~fringenet.evaluate.metrics.ThresholdSweep`.
    path
        Output PNG (written atomically).
    chosen
        Method name -> chosen threshold; a marker is drawn at the sweep point whose threshold is
        nearest to it.
    """
    if not sweeps:
        raise InputError("plot_pr_curves", "no sweeps to plot")
    chosen = chosen or {}
    fig = new_figure(1, panel_size_in=4.5, title=title)
    ax = fig.axes[0]
    for name, sweep in sweeps.items():
        recall, precision = np.asarray(sweep.recall), np.asarray(sweep.precision)
        # thresholds above every score give (0, 0) by the 0/0 convention; a line to the origin
        # would suggest a trade-off that does not exist
        keep = (recall > 0) | (precision > 0)
        (line,) = ax.plot(recall[keep], precision[keep], lw=1.5, label=name)
        if name in chosen:
            i = int(np.argmin(np.abs(np.asarray(sweep.thresholds) - chosen[name])))
            ax.plot(
                recall[i],
                precision[i],
                "o",
                color=line.get_color(),
                markeredgecolor="k",
                label=f"{name} @ {chosen[name]:.3g}",
            )
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return out


def overlay_rgb(
    labels: NDArray[np.bool_], pred: NDArray[np.bool_], valid: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """``(H, W, 3)`` RGB image of one patch coloured by :data:`OVERLAY_COLOURS`."""
    rgb = np.empty((*labels.shape, 3))
    rgb[...] = OVERLAY_COLOURS["TN"]
    rgb[labels & pred] = OVERLAY_COLOURS["TP"]
    rgb[~labels & pred] = OVERLAY_COLOURS["FP"]
    rgb[labels & ~pred] = OVERLAY_COLOURS["FN"]
    rgb[~valid] = OVERLAY_COLOURS["invalid"]
    return rgb


def _patches(name: str, array: ArrayLike, dtype: Any) -> NDArray[Any]:
    a = np.asarray(array, dtype=dtype)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise InputError(name, f"expected shape (N, H, W) or (H, W) (got {a.shape})")
    return a


def plot_examples(
    phase: ArrayLike,
    labels: ArrayLike,
    pred: ArrayLike,
    valid: ArrayLike,
    path: str | PathLike[str],
    titles: Sequence[str] | None = None,
    max_examples: int = 6,
    *,
    dpi: int = 90,
) -> Path:
    """Save example patches: wrapped phase (left) and prediction vs label overlay (right).

    The patches with the most labelled valid pixels are shown first (ties in patch order).

    Parameters
    ----------
    phase
        Wrapped phase (rad), ``(N, H, W)``; invalid pixels are left blank.
    labels, pred, valid
        Boolean masks of the same shape.
    path
        Output PNG (written atomically).
    titles
        One title per patch (``N`` strings); default ``"patch <index>"``.
    max_examples
        Number of patches (rows) shown at most.
    """
    ph = _patches("phase", phase, np.float64)
    lab = _patches("labels", labels, bool)
    p = _patches("pred", pred, bool)
    v = _patches("valid", valid, bool)
    shapes = {"phase": ph.shape, "labels": lab.shape, "pred": p.shape, "valid": v.shape}
    if len(set(shapes.values())) > 1:
        raise InputError("plot_examples", f"arrays differ in shape: {shapes}")
    if ph.shape[0] == 0 or max_examples < 1:
        raise InputError("plot_examples", "nothing to plot (no patches or max_examples < 1)")
    if titles is not None and len(titles) != ph.shape[0]:
        raise InputError("titles", f"need one per patch ({ph.shape[0]}), got {len(titles)}")

    n_labelled = np.count_nonzero(lab & v, axis=(1, 2))
    order = np.argsort(-n_labelled, kind="stable")[:max_examples]
    panel = 3.2
    fig = new_figure(2, panel_size_in=panel)
    # new_figure gives one row; swap its axes for an (examples x 2) grid on the same canvas
    for ax in list(fig.axes):
        ax.remove()
    axes = fig.subplots(len(order), 2, squeeze=False)
    fig.set_size_inches(2 * panel + 0.6, panel * len(order) + 0.6)
    for row, i in zip(axes, order, strict=True):
        name = titles[i] if titles is not None else f"patch {i}"
        plot_wrapped_phase(row[0], np.where(v[i], ph[i], np.nan), title=f"{name}: wrapped phase")
        row[1].imshow(overlay_rgb(lab[i], p[i], v[i]), interpolation="nearest")
        row[1].set_title(f"{name}: prediction ({n_labelled[i]} labelled px)", fontsize=9)
        row[1].set_xticks([])
        row[1].set_yticks([])
    handles = [Patch(facecolor=c, edgecolor="k", label=k) for k, c in OVERLAY_COLOURS.items()]
    axes[0][1].legend(handles=handles, fontsize=7, loc="upper right", framealpha=0.8)
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return out


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{float(value):.3f}"


def metrics_markdown(results: Mapping[str, Mapping[str, Any]]) -> str:
    """A markdown table with one row per method.

    Parameters
    ----------
    results
        Method name -> dict shaped like
        :func:`~fringenet.evaluate.metrics.segmentation_metrics` output. A ``threshold`` of None
        (binary baselines) and by-size classes without patches are shown as "–".

    Returns
    -------
    str
        Header, separator and one row per method (values to 3 decimals), newline-terminated.
    """
    header = [
        "method",
        "threshold",
        "precision",
        "recall",
        "F1",
        "IoU",
        "object recall",
        "object precision",
        *(f"IoU {c}" for c in SIZE_CLASSES),
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for method, r in results.items():
        pixel, objects, by_size = r.get("pixel", {}), r.get("objects", {}), r.get("by_size", {})
        size_iou = []
        for c in SIZE_CLASSES:
            cls = by_size.get(c, {})
            size_iou.append(_fmt(cls["pixel"]["iou"]) if cls.get("n_patches") else "–")
        cells = [
            str(method).replace("|", "\\|"),
            _fmt(r.get("threshold")),
            _fmt(pixel.get("precision")),
            _fmt(pixel.get("recall")),
            _fmt(pixel.get("f1")),
            _fmt(pixel.get("iou")),
            _fmt(objects.get("recall")),
            _fmt(objects.get("precision")),
            *size_iou,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
