"""Generalisation benchmark: deformation detectors on data that fringenet's own simulator did not make.

Data set A: independent synthetic interferograms (``benchmarks/independent_scenes.py``: troposim
atmosphere, okada-wrapper dislocations, analytic Mogi and Knothe bowls, own terrain and multilook
noise; no code of ``fringenet.simulate`` or ``fringenet.data``), half deforming, half hard negatives,
half with a coherence layer. Cached in ``build/generalisation/``.

Data set B (skipped with a message where ``../shared/data`` is absent): the LiCSAR coseismic pairs
(Greece 2021, Afghanistan 2022; label ``|LOS - far-field median| > λ/4`` from the unwrapped LOS) and the
re-wrapped PyRate ENVISAT pair with the strongest subsidence bowl (label ``|unw - median| > π``).

Methods, each with a threshold fixed in advance (never chosen on these data): every detector bundle
(``--model NAME=PATH``, the shipped detector and, when ``build/models/old-detector`` exists, the
detector from before issue 11) at its bundle's own threshold; the non-learned phase-gradient rule
(5 x 5 consistent fringe rate >= 0.15 rad/px with phasor consistency >= 0.8); the classical
stacked-gradient + Otsu chain (``fringenet.evaluate.baselines.stacked_gradient_otsu`` on the pair).

Scoring: pixel IoU and F1 pooled over the scenes of a data set (TP/FP/FN summed over valid pixels); a
deforming scene is detected when >= 20 % of its label is flagged; a scene without deformation is a false
alarm when > 1 % of its valid pixels are flagged.

    python benchmarks/generalisation.py --quick                 # 20 scenes, smoke run
    python benchmarks/generalisation.py --write-docs            # 200 scenes, docs/benchmarks.md + figure
    python benchmarks/generalisation.py --model new=runs/det/model
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import independent_scenes as independent
from docs_block import write_block

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CACHE = ROOT / "build" / "generalisation"
OLD_DETECTOR = ROOT / "build" / "models" / "old-detector"
DOCS = ROOT / "docs" / "benchmarks.md"
FIGURE = ROOT / "docs" / "images" / "generalisation" / "examples.png"
START, END = "<!-- generalisation:start -->", "<!-- generalisation:end -->"
SECTION = "## Generalisation: independent simulator and real interferograms"

SENTINEL1_WAVELENGTH_M = independent.WAVELENGTH_M
ENVISAT_WAVELENGTH_M = 0.0562356424
DETECTED_LABEL_FRACTION = 0.2
"""A deforming scene is detected when at least this share of its label is flagged."""
FALSE_ALARM_FRACTION = 0.01
"""A scene without deformation is a false alarm when more than this share of its valid pixels is flagged."""
FAR_FIELD_RADIUS = 0.4
"""Coseismic far field: valid pixels farther than this fraction of the scene size from the centre."""
RULE_WINDOW = 5
RULE_RATE_RAD_PX = 0.15
"""Phase-gradient rule: minimum consistent fringe rate (rad/px, about one fringe per 40 px), fixed a priori."""
RULE_CONSISTENCY = 0.8
"""Phase-gradient rule: minimum mean resultant length of the 5 x 5 gradient phasors, fixed a priori
(about what a phase-difference noise of 0.6 rad leaves; decorrelation noise stays far below)."""


# ------------------------------------------------------------------------------------------ cases


@dataclass
class Case:
    """One scored interferogram: what a method sees, and the truth."""

    name: str
    kind: str
    wrapped_phase: NDArray[np.float32]
    coherence: NDArray[np.float32] | None
    label: NDArray[np.bool_]
    valid: NDArray[np.bool_]
    pixel_size_m: float
    wavelength_m: float
    far_field: NDArray[np.bool_] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def deforming(self) -> bool:
        return self.kind in ("deforming", "real")

    @property
    def with_coherence(self) -> bool:
        return self.coherence is not None


def case_of(scene: independent.Scene) -> Case:
    valid = scene.valid
    return Case(
        scene.name, scene.kind, scene.wrapped_phase, scene.coherence, scene.label & valid, valid,
        scene.pixel_size_m, scene.wavelength_m, meta=scene.meta,
    )  # fmt: skip


def _par(path: Path) -> dict[str, float]:
    out = {}
    for line in path.read_text().splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            out[key.strip()] = float(value.split()[0])
    return out


def coseismic_case(name: str, root: Path = SHARED, reference: str = "median") -> Case:
    """A LiCSAR coseismic pair, flipped north-up; label from the unwrapped LOS relative to the far field:
    its median (the benchmark's rule) or, with ``reference="plane"``, a plane fitted to it."""
    folder = root / "coseismic" / name
    par = _par(folder / f"{name}.par")
    shape = (int(par["ifg_length"]), int(par["ifg_width"]))
    diff = np.fromfile(folder / f"{name}.diff", dtype="<f4").reshape(shape)[::-1].copy()
    los = np.fromfile(folder / f"{name}.unw", dtype="<f4").reshape(shape)[::-1].astype(np.float64)
    has_phase = np.isfinite(diff) & (diff != 0)
    valid = has_phase & np.isfinite(los) & (los != 0)
    rows, cols = np.indices(shape)
    distance = np.hypot(rows - (shape[0] - 1) / 2.0, cols - (shape[1] - 1) / 2.0)
    far = valid & (distance > FAR_FIELD_RADIUS * max(shape))
    if reference == "plane":
        design = np.c_[np.ones(int(far.sum())), rows[far], cols[far]]
        coef = np.linalg.lstsq(design, los[far], rcond=None)[0]
        background = coef[0] + coef[1] * rows + coef[2] * cols
    else:
        background = np.full(shape, np.median(los[far]))
    label = valid & (np.abs(los - background) > SENTINEL1_WAVELENGTH_M / 4.0)
    spread = float(np.std(los[far] - background[far]))
    return Case(
        name, "real", diff, None, label, valid, float(par["x_spacing"]), SENTINEL1_WAVELENGTH_M,
        far_field=far & ~label,
        meta={"source": f"coseismic/{name}", "reference": reference, "far_field_std_m": spread},
    )  # fmt: skip


def nsw_case(root: Path = SHARED) -> Case:
    """The PyRate pair with the largest bowl label, re-wrapped; label ``|unw - median| > π``.

    The pair is chosen by the size of that label alone (no method's output is involved)."""
    import rasterio

    best: tuple[int, str, NDArray[np.float64], Any] | None = None
    for path in sorted((root / "pyrate_small_test" / "tif").glob("*.tif")):
        with rasterio.open(path) as src:
            unw = src.read(1).astype(np.float64)
            transform = src.transform
        unw[unw == 0] = np.nan
        n = int(np.sum(np.abs(unw - np.nanmedian(unw)) > np.pi))
        if best is None or n > best[0]:
            best = (n, path.name, unw, transform)
    assert best is not None
    _, name, unw, transform = best
    valid = np.isfinite(unw)
    label = valid & (np.abs(unw - np.nanmedian(unw)) > np.pi)
    wrapped = np.where(valid, np.angle(np.exp(1j * unw)), np.nan).astype(np.float32)
    lat = transform.f + transform.e * unw.shape[0] / 2.0
    pixel = 0.5 * (abs(transform.a) * 111_320.0 * math.cos(math.radians(lat)) + abs(transform.e) * 111_320.0)
    pair = name.removeprefix("geo_").removesuffix("_unw.tif")
    return Case(
        f"nsw {pair}", "real", wrapped, None, label, valid, pixel, ENVISAT_WAVELENGTH_M,
        far_field=valid & ~label, meta={"source": f"pyrate_small_test/tif/{name}", "pair": pair},
    )  # fmt: skip


def real_cases(root: Path = SHARED, reference: str = "median") -> tuple[list[Case], list[str]]:
    """Data set B, and a message for each part that is missing."""
    cases, missing = [], []
    for name in ("greece", "afghanistan"):
        if (root / "coseismic" / name / f"{name}.diff").exists():
            cases.append(coseismic_case(name, root, reference))
        else:
            missing.append(f"{root / 'coseismic' / name} not found: skipped")
    if (root / "pyrate_small_test" / "tif").is_dir():
        cases.append(nsw_case(root))
    else:
        missing.append(f"{root / 'pyrate_small_test' / 'tif'} not found: skipped")
    return cases, missing


# ---------------------------------------------------------------------------------------- methods


@dataclass
class Method:
    name: str
    run: Callable[[Case], NDArray[np.bool_]]
    description: str


def _box_mean(values: NDArray[np.float64], ok: NDArray[np.bool_], window: int) -> NDArray[np.float64]:
    num = ndimage.uniform_filter(np.where(ok, values, 0.0), window, mode="constant")
    den = ndimage.uniform_filter(ok.astype(np.float64), window, mode="constant")
    return np.divide(num, den, out=np.full(values.shape, np.nan), where=den >= 0.5)


def gradient_rule(
    wrapped_phase: NDArray[np.floating],
    valid: NDArray[np.bool_],
    rate_rad_px: float = RULE_RATE_RAD_PX,
    consistency: float = RULE_CONSISTENCY,
    window: int = RULE_WINDOW,
) -> NDArray[np.bool_]:
    """Non-learned rule: pixels whose ``window`` x ``window`` box holds a consistent fringe pattern.

    Per axis the wrapped phase differences become unit phasors, averaged over the box (at least half of
    its differences valid): the angle of the mean is the local fringe rate, its length the consistency
    (1 for clean fringes, about ``1/window`` for pure noise). Flagged: rate magnitude >= ``rate_rad_px``
    and mean consistency of both axes >= ``consistency``.
    """
    phase = np.where(valid, wrapped_phase, np.nan).astype(np.float64)
    rates, lengths = [], []
    for axis in (0, 1):
        diff = np.full(phase.shape, np.nan)
        d = np.diff(phase, axis=axis)
        if axis == 0:
            diff[:-1] = d
        else:
            diff[:, :-1] = d
        ok = np.isfinite(diff)
        re = _box_mean(np.cos(np.where(ok, diff, 0.0)), ok, window)
        im = _box_mean(np.sin(np.where(ok, diff, 0.0)), ok, window)
        rates.append(np.arctan2(im, re))
        lengths.append(np.hypot(re, im))
    rate = np.hypot(rates[0], rates[1])
    length = 0.5 * (lengths[0] + lengths[1])
    with np.errstate(invalid="ignore"):
        return valid & (rate >= rate_rad_px) & (length >= consistency)


def rule_method() -> Method:
    return Method(
        "phase-gradient rule (5x5 consistency)",
        lambda case: gradient_rule(case.wrapped_phase, case.valid),
        f"5 x 5 consistent wrapped-phase gradient >= {RULE_RATE_RAD_PX} rad/px with phasor consistency "
        f">= {RULE_CONSISTENCY} (both fixed a priori)",
    )


def stacked_otsu_method() -> Method:
    from fringenet.evaluate.baselines import stacked_gradient_otsu

    def run(case: Case) -> NDArray[np.bool_]:
        phase = np.where(case.valid, case.wrapped_phase, np.nan)[None]
        weights = None if case.coherence is None else np.where(case.valid, case.coherence, 0.0)[None]
        return stacked_gradient_otsu(phase, weights, usable=case.valid)

    return Method(
        "stacked gradient + Otsu",
        run,
        "coherence-weighted phase-gradient stack of the single pair, 9 x 9 smoothed, Otsu threshold",
    )


def bundle_path(path: Path) -> Path:
    return path / "model" if (path / "model" / "bundle.json").exists() else path


def _probability(model: Any, case: Case, window: int | None = None) -> NDArray[np.float64]:
    from fringenet.detect import ArraySource, predict_scene

    source = ArraySource(
        case.wrapped_phase, pixel_size_m=case.pixel_size_m, wavelength_m=case.wavelength_m,
        coherence=case.coherence, zero_is_nodata=True, name=case.name,
    )  # fmt: skip
    with warnings.catch_warnings():  # all-NaN coherence of no-data pixels in stack channels
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(predict_scene(model, source, window=window, overlap=32), dtype=np.float64)


def _shown(path: Path) -> str:
    shown = path.resolve()
    return (shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown).as_posix()


def detector_method(name: str, path: Path, mask: Path | None = None, window: int | None = None) -> Method:
    """A detector bundle, loaded once, flagged at its own threshold, scanned with ``window`` px windows
    (default: the bundle's); with ``mask``, minus what that Mask Net bundle calls unusable at its
    threshold (as ``fringenet detect`` does by default)."""
    from fringenet.detect.filters import detection_mask
    from fringenet.models.bundle import load_bundle

    model = load_bundle(bundle_path(path))
    masknet = load_bundle(bundle_path(mask)) if mask is not None else None
    threshold, grow = float(model[1].threshold), model[1].grow_threshold

    def run(case: Case) -> NDArray[np.bool_]:
        flags = detection_mask(_probability(model, case, window), threshold, grow)
        if masknet is not None:
            flags &= np.nan_to_num(_probability(masknet, case), nan=1.0) < float(masknet[1].threshold)
        return flags

    text = f"bundle `{_shown(path)}` at its threshold {threshold:g}"
    if grow is not None:
        text += f" grown over connected pixels >= {grow:g}"
    if window is not None:
        text += f", {window} px windows"
    if masknet is not None:
        text += f", minus the unusable pixels of the Mask Net `{_shown(mask)}` (threshold {masknet[1].threshold:g})"
    return Method(name, run, text)


def default_methods(
    models: Sequence[tuple[str, Path, int | None]],
    masknet: Path | None = None,
    *,
    candidates_only: bool = False,
) -> list[Method]:
    """The candidate bundles (and the shipped detector with the candidate Mask Net ``masknet``); unless
    ``candidates_only``, also the shipped models, the previous detector and the non-learned baselines."""
    import torch

    import fringenet.models.segmentation  # noqa: F401  (the torchvision shim before smp/timm load)
    from fringenet.models.shipped import shipped_bundle

    torch.set_num_threads(2)
    detector = Path(shipped_bundle("detector"))
    methods = [detector_method(name, path, window=window) for name, path, window in models]
    if masknet is not None:
        methods.append(detector_method(f"shipped detector + Mask Net `{_shown(masknet)}`", detector, masknet))
    if candidates_only:
        return methods
    methods.append(detector_method("shipped detector (detect's default)", detector))
    methods.append(
        detector_method(
            "shipped detector + Mask Net (monitor's default)", detector, Path(shipped_bundle("masknet"))
        )
    )
    if OLD_DETECTOR.is_dir():
        methods.append(detector_method("previous detector (before issue 11)", OLD_DETECTOR))
    methods += [rule_method(), stacked_otsu_method()]
    return methods


# ---------------------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class SceneScore:
    """Counts of one method on one scene (over its valid pixels)."""

    name: str
    kind: str
    deforming: bool
    with_coherence: bool
    tp: int
    fp: int
    fn: int
    label_px: int
    valid_px: int
    flagged_px: int
    far_field_px: int = 0
    far_field_flagged_px: int = 0
    seconds: float = 0.0

    @property
    def label_flagged(self) -> float:
        return self.tp / self.label_px if self.label_px else math.nan

    @property
    def flagged(self) -> float:
        return self.flagged_px / self.valid_px if self.valid_px else 0.0

    @property
    def far_field_flagged(self) -> float:
        return self.far_field_flagged_px / self.far_field_px if self.far_field_px else math.nan

    @property
    def detected(self) -> bool:
        return self.deforming and self.label_px > 0 and self.tp >= DETECTED_LABEL_FRACTION * self.label_px

    @property
    def false_alarm(self) -> bool:
        return not self.deforming and self.flagged_px > FALSE_ALARM_FRACTION * self.valid_px


def score_scene(
    flags: NDArray[np.bool_],
    label: NDArray[np.bool_],
    valid: NDArray[np.bool_],
    *,
    name: str = "",
    kind: str = "",
    deforming: bool,
    with_coherence: bool = False,
    far_field: NDArray[np.bool_] | None = None,
    seconds: float = 0.0,
) -> SceneScore:
    """Counts over ``valid`` pixels: flags and label outside them are ignored."""
    f = np.asarray(flags, dtype=bool) & valid
    t = np.asarray(label, dtype=bool) & valid
    far = np.zeros_like(f) if far_field is None else np.asarray(far_field, dtype=bool) & valid
    return SceneScore(
        name, kind, deforming, with_coherence, int(np.sum(f & t)), int(np.sum(f & ~t)), int(np.sum(~f & t)),
        int(t.sum()), int(valid.sum()), int(f.sum()), int(far.sum()), int(np.sum(f & far)), seconds,
    )  # fmt: skip


@dataclass(frozen=True)
class Pooled:
    iou: float
    f1: float
    detected: int
    deforming: int
    false_alarms: int
    negatives: int
    seconds: float

    @property
    def recall(self) -> float:
        return self.detected / self.deforming if self.deforming else math.nan

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.negatives if self.negatives else math.nan


def pool(scores: Sequence[SceneScore]) -> Pooled:
    """Pixel IoU and F1 from TP/FP/FN summed over scenes; scene recall and false alarms counted."""
    tp = sum(s.tp for s in scores)
    fp = sum(s.fp for s in scores)
    fn = sum(s.fn for s in scores)
    iou = tp / (tp + fp + fn) if tp + fp + fn else math.nan
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan
    return Pooled(
        iou, f1, sum(s.detected for s in scores), sum(s.deforming for s in scores),
        sum(s.false_alarm for s in scores), sum(not s.deforming for s in scores),
        float(np.mean([s.seconds for s in scores])) if scores else math.nan,
    )  # fmt: skip


def score_case(flags: NDArray[np.bool_], case: Case, *, seconds: float = 0.0) -> SceneScore:
    """:func:`score_scene` of ``flags`` against one benchmark case."""
    return score_scene(
        flags,
        case.label,
        case.valid,
        name=case.name,
        kind=case.kind,
        deforming=case.deforming,
        with_coherence=case.with_coherence,
        far_field=case.far_field,
        seconds=seconds,
    )


def evaluate(
    methods: Sequence[Method], cases: Sequence[Case], keep: Sequence[str] = (), progress: str = ""
) -> tuple[dict[str, list[SceneScore]], dict[str, dict[str, NDArray[np.bool_]]]]:
    """Scores of every method on every case, and the flags of the cases named in ``keep`` (for figures)."""
    scores: dict[str, list[SceneScore]] = {m.name: [] for m in methods}
    kept: dict[str, dict[str, NDArray[np.bool_]]] = {}
    for k, case in enumerate(cases):
        for method in methods:
            start = time.perf_counter()
            flags = method.run(case)
            seconds = time.perf_counter() - start
            scores[method.name].append(score_case(flags, case, seconds=seconds))
            if case.name in keep:
                kept.setdefault(case.name, {})[method.name] = flags & case.valid
        if progress and (k + 1) % 20 == 0:
            print(f"{progress}: {k + 1}/{len(cases)} scenes", file=sys.stderr, flush=True)
    return scores, kept


# ---------------------------------------------------------------------------------------- tables


def _f(value: float, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _pct(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.1f} %"


def _count(k: int, n: int) -> str:
    return f"{k}/{n} ({100 * k / n:.0f} %)" if n else "–"


def synthetic_table(scores: dict[str, list[SceneScore]]) -> str:
    head = (
        "| method | IoU | F1 | scene recall | false alarms | IoU coh / no coh | recall coh / no coh "
        "| false alarms coh / no coh | s/scene |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for name, s in scores.items():
        p = pool(s)
        c = pool([x for x in s if x.with_coherence])
        n = pool([x for x in s if not x.with_coherence])
        rows.append(
            f"| {name} | {_f(p.iou)} | {_f(p.f1)} | {_count(p.detected, p.deforming)} | "
            f"{_count(p.false_alarms, p.negatives)} | {_f(c.iou)} / {_f(n.iou)} | {_f(c.recall, 2)} / "
            f"{_f(n.recall, 2)} | {_f(c.false_alarm_rate, 2)} / {_f(n.false_alarm_rate, 2)} | {p.seconds:.2f} |"
        )
    return head + "\n".join(rows)


def breakdown_table(scores: dict[str, list[SceneScore]], cases: Sequence[Case]) -> str:
    """False-alarm rate per hard-negative kind and recall per (first) deformation source type."""
    first = {c.name: (c.meta.get("sources") or [{"type": "-"}])[0]["type"] for c in cases}
    types = [t for t in independent.DEFORMATION_KINDS if any(v == t for v in first.values())]
    kinds = list(independent.NEGATIVE_KINDS)
    head = "| method | " + " | ".join([f"FA {k}" for k in kinds] + [f"recall {t}" for t in types]) + " |\n"
    head += "|---" * (1 + len(kinds) + len(types)) + "|\n"
    rows = []
    for name, s in scores.items():
        cells = []
        for k in kinds:
            sel = [x for x in s if x.kind == k]
            cells.append(f"{sum(x.false_alarm for x in sel)}/{len(sel)}")
        for t in types:
            sel = [x for x in s if x.deforming and first[x.name] == t]
            cells.append(f"{sum(x.detected for x in sel)}/{len(sel)}")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return head + "\n".join(rows)


def real_table(scores: dict[str, list[SceneScore]]) -> str:
    names = [s.name for s in next(iter(scores.values()))]
    head = "| method | IoU | F1 | scenes detected | " + " | ".join(
        f"{n}: label / far field flagged" for n in names
    )
    head += " | s/scene |\n" + "|---" * (5 + len(names)) + "|\n"
    rows = []
    for method, s in scores.items():
        p = pool(s)
        cells = [f"{_pct(x.label_flagged)} / {_pct(x.far_field_flagged)}" for x in s]
        rows.append(
            f"| {method} | {_f(p.iou)} | {_f(p.f1)} | {p.detected}/{p.deforming} | "
            + " | ".join(cells)
            + f" | {p.seconds:.2f} |"
        )
    return head + "\n".join(rows)


# ---------------------------------------------------------------------------------------- figure


def gallery(
    cases: Sequence[Case], kept: dict[str, dict[str, NDArray[np.bool_]]], methods: Sequence[str], path: Path
) -> None:
    """Rows: scenes; columns: wrapped phase, label, each method's flags (white = no data)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    mask_cmap = ListedColormap(["#efe9d6", "#b2182b"]).with_extremes(bad="white")
    label_cmap = ListedColormap(["#efe9d6", "#1f4e9c"]).with_extremes(bad="white")
    cols = 2 + len(methods)
    fig, axes = plt.subplots(len(cases), cols, figsize=(2.1 * cols, 2.2 * len(cases)), squeeze=False)
    for r, case in enumerate(cases):
        phase = np.where(case.valid, case.wrapped_phase, np.nan)
        panels: list[tuple[str, NDArray[Any], Any]] = [("wrapped phase", phase, "twilight"),
                                                       ("label", case.label, label_cmap)]  # fmt: skip
        panels += [(m, kept.get(case.name, {}).get(m, np.zeros_like(case.label)), mask_cmap) for m in methods]
        for c, (title, image, cmap) in enumerate(panels):
            ax = axes[r, c]
            data = np.where(case.valid, image.astype(np.float32), np.nan)
            ax.imshow(data, cmap=cmap, interpolation="nearest", vmin=-np.pi if c == 0 else 0,
                      vmax=np.pi if c == 0 else 1)  # fmt: skip
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=7)
        kind = case.kind if case.kind != "real" else "real"
        extra = ", ".join(s["type"] for s in case.meta.get("sources", []))
        coh = "coherence" if case.with_coherence else "phase only"
        axes[r, 0].set_ylabel(f"{case.name}\n{kind} {extra}\n{case.pixel_size_m:.0f} m, {coh}", fontsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ------------------------------------------------------------------------------------------- docs


def markdown(
    args: argparse.Namespace, methods: Sequence[Method], synthetic: str, breakdown: str, real: str | None,
    real_cases_: Sequence[Case], notes: Sequence[str], n_scenes: int, seconds: float, figure: Path | None,
    real_plane: str | None = None, plane_cases: Sequence[Case] = (),
) -> str:  # fmt: skip
    lines = [
        "Data set A: "
        f"{n_scenes} synthetic wrapped interferograms (seed {args.seed}) from `benchmarks/independent_scenes.py`, "
        "which shares no code with `fringenet.simulate` (nor `fringenet.data`): turbulent troposphere from the "
        "`troposim` package (0-4 cm one-way, sampled spectral slope, anisotropic in half the scenes), "
        "troposim's power-law stratified delay scaled to a coefficient of either sign, linear + quadratic ramps; "
        "analytic Mogi sources, Okada dislocations from `okada-wrapper` (strike-slip, thrust, normal, dykes, "
        "sills; buried and surface-rupturing) and Knothe-style mining bowls, 0.7-10 fringes peak LOS on "
        "Sentinel-1 geometry (incidence 30-45 deg, ascending/descending); spectral-synthesis terrain; a smooth "
        "coherence field (0.2-0.95, low-coherence patches) with own circular-Gaussian multilook phase noise; "
        "water as NaN, 0 or unmasked noise. 256 x 256 px (a few 384 x 384) at 30, 60 or 90 m. Half deform "
        "(label: |LOS| > λ/4), half are hard negatives (strong turbulence, terrain-following stratified fringes, "
        "decorrelated areas, water); half come with a coherence layer, half are phase only.",
        "",
        "Data set B: the LiCSAR coseismic pairs of `../shared/data/coseismic` (label: |LOS − far-field "
        "median| > λ/4 from the unwrapped LOS; far field = valid pixels beyond 0.4 of the scene size from the centre; "
        "the far-field column gives the flagged share of far-field pixels outside the label) and the PyRate "
        "NSW pair with the largest bowl label (re-wrapped single pair; label |unw − median| > π; its far-field "
        "column is the rest of the scene).",
        "",
        "Rules: pixel IoU and F1 pooled over the scenes of a data set (TP/FP/FN summed over valid pixels); a "
        f"deforming scene is detected when ≥ {DETECTED_LABEL_FRACTION:.0%} of its label is flagged; a scene "
        f"without deformation is a false alarm when > {FALSE_ALARM_FRACTION:.0%} of its valid pixels are "
        "flagged. Every threshold is fixed before the run: each bundle's own threshold, the rule's physical "
        "values, Otsu.",
        "",
        "Methods: " + "; ".join(f"**{m.name}**: {m.description}" for m in methods) + ".",
        "",
        f"### A: independent synthetic scenes ({n_scenes})",
        "",
        synthetic,
        "",
        "Per hard-negative kind (false alarms) and per deformation type of the scene's first source (detected):",
        "",
        breakdown,
        "",
    ]
    if real is not None:
        pair = next((c.meta["pair"] for c in real_cases_ if "pair" in c.meta), None)
        lines += ["### B: real interferograms", "", real, ""]
        for c in real_cases_:
            share = c.label.sum() / max(1, c.valid.sum())
            text = f"- {c.name}: label {100 * share:.0f} % of {int(c.valid.sum())} valid pixels"
            if "far_field_std_m" in c.meta:
                text += (
                    f"; far-field LOS spread (std about the {c.meta['reference']}) "
                    f"{100 * c.meta['far_field_std_m']:.1f} cm against half a fringe of "
                    f"{100 * SENTINEL1_WAVELENGTH_M / 4:.2f} cm"
                )
            lines.append(text + ".")
        if real_plane is not None:
            lines += [
                "",
                "The far-field median leaves the orbital ramp and long-wavelength atmosphere of the `.unw` in the "
                "label (about half of each coseismic scene is labelled, far field included). The same pairs with "
                "the label relative to a plane fitted to the far field (ramp removed):",
                "",
                real_plane,
                "",
            ]
            for c in plane_cases:
                share = c.label.sum() / max(1, c.valid.sum())
                lines.append(
                    f"- {c.name}: label {100 * share:.0f} % of the valid pixels; far-field LOS spread about the "
                    f"plane {100 * c.meta['far_field_std_m']:.1f} cm."
                )
        if pair:
            lines.append(f"- NSW pair: `{pair}`, the single re-wrapped pair with the largest |unw − median| > π "
                         "area (not a chain sum).")  # fmt: skip
        lines.append("")
    lines += [f"- {n}" for n in notes]
    lines += [
        "",
        f"Command: `python benchmarks/generalisation.py{' --write-docs' if args.write_docs else ''}` "
        f"({seconds / 60:.1f} min on 2 CPU cores).",
    ]
    if figure is not None:
        try:
            rel = figure.resolve().relative_to(DOCS.parent.resolve())
            lines += ["", f"![Examples: wrapped phase, label and each method's flags]({rel.as_posix()})"]
        except ValueError:
            pass
    return "\n".join(lines)


GENERALISATION_INTRO = (
    f"\n{SECTION} (`benchmarks/generalisation.py`)\n\n"
    "Issue 11: detectors scored on data that fringenet's own simulator did not make, so learning its "
    "quirks earns nothing. The tables below are rewritten by `python benchmarks/generalisation.py "
    "--write-docs`.\n\n"
)


def write_docs(
    body: str,
    path: Path = DOCS,
    *,
    markers: tuple[str, str] = (START, END),
    intro: str = GENERALISATION_INTRO,
) -> None:
    """Replace the block between ``markers`` in ``path`` with ``body`` (:func:`docs_block.write_block`)."""
    write_block(body, path, markers, intro)


# ------------------------------------------------------------------------------------------- main


def parse_model(text: str) -> tuple[str, Path, int | None]:
    """``NAME=PATH`` or ``NAME=PATH@WINDOW`` (scan with WINDOW px windows instead of the bundle's)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH[@WINDOW], got {text!r}")
    name, path = text.split("=", 1)
    path, _, window = path.partition("@")
    if window and not window.isdigit():
        raise argparse.ArgumentTypeError(f"window must be a whole number of pixels, got {window!r}")
    return name, Path(path), int(window) if window else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", action="append", type=parse_model, default=[], metavar="NAME=PATH[@WINDOW]"
    )
    parser.add_argument("--quick", action="store_true", help="20 scenes (smoke run)")
    parser.add_argument("--n-scenes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--figure", type=Path, default=FIGURE)
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--no-real", action="store_true", help="skip data set B")
    parser.add_argument(
        "--masknet",
        type=Path,
        metavar="PATH",
        help="also score the shipped detector with this Mask Net bundle",
    )
    parser.add_argument(
        "--candidates-only", action="store_true", help="score only the --model bundles (model selection)"
    )
    args = parser.parse_args(argv)
    n_scenes = 20 if args.quick else args.n_scenes
    start = time.perf_counter()

    t0 = time.perf_counter()
    scenes = independent.load_scenes(n_scenes, args.seed, args.cache)
    cases = [case_of(s) for s in scenes]
    print(f"data set A: {len(cases)} scenes in {time.perf_counter() - t0:.1f} s (cache {args.cache})",
          file=sys.stderr)  # fmt: skip
    methods = default_methods(args.model, args.masknet, candidates_only=args.candidates_only)
    names = [m.name for m in methods]

    examples = _examples(cases)
    scores, kept = evaluate(methods, cases, keep=[c.name for c in examples], progress="data set A")
    synthetic, breakdown = synthetic_table(scores), breakdown_table(scores, cases)
    print(f"\n### A: independent synthetic scenes ({len(cases)})\n\n{synthetic}\n\n{breakdown}\n")

    notes: list[str] = []
    real: str | None = None
    real_plane: str | None = None
    planes: list[Case] = []
    reals: list[Case] = []
    real_scores: dict[str, list[SceneScore]] = {}
    if not args.no_real:
        reals, notes = real_cases(reference="median")
        for note in notes:
            print(note, file=sys.stderr)
        if reals:
            real_scores, real_kept = evaluate(methods, reals, keep=[c.name for c in reals])
            kept.update(real_kept)
            real = real_table(real_scores)
            print(f"### B: real interferograms\n\n{real}\n")
            planes = [c for c in real_cases(reference="plane")[0] if c.meta.get("reference") == "plane"]
            plane_scores, _ = evaluate(methods, planes, keep=[])
            real_plane = real_table(plane_scores)
            print(f"### B, coseismic label relative to a far-field plane\n\n{real_plane}\n")
            for c in reals:
                print(
                    f"{c.name}: {int(c.label.sum())} label px of {int(c.valid.sum())} valid", file=sys.stderr
                )
    seconds = time.perf_counter() - start
    figure = None
    if args.figure:
        figure = args.figure
        gallery(examples + reals, kept, names, figure)
        print(f"figure: {figure}", file=sys.stderr)
    _dump(args.cache / f"results-seed{args.seed}-n{len(cases)}.json", scores, real_scores)
    if args.write_docs:
        body = markdown(
            args, methods, synthetic, breakdown, real, reals, notes, len(cases), seconds, figure,
            real_plane, planes,
        )  # fmt: skip
        write_docs(body)
        print(f"wrote {DOCS}", file=sys.stderr)
    print(f"total {seconds:.0f} s", file=sys.stderr)
    return 0


def _examples(cases: Sequence[Case]) -> list[Case]:
    """A few scenes for the gallery: the first deforming scene with and without coherence, the first
    strong-turbulence and terrain-following negatives."""
    picks: list[Case] = []
    for want in (("deforming", True), ("deforming", False), ("turbulence", None), ("stratified", None)):
        for c in cases:
            if c.kind == want[0] and (want[1] is None or c.with_coherence == want[1]) and c not in picks:
                picks.append(c)
                break
    return picks


def _dump(path: Path, *groups: dict[str, list[SceneScore]]) -> None:
    out = []
    for group in groups:
        for method, scores in group.items():
            for s in scores:
                out.append({"method": method, **{k: getattr(s, k) for k in SceneScore.__dataclass_fields__}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    raise SystemExit(main())
