"""Figures of a monitoring run: the detection map and one displacement time series per target."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray

from fringenet.conventions import DAYS_PER_YEAR
from fringenet.errors import InputError
from fringenet.evaluate.baselines import SLOW_MOTION_Z
from fringenet.report.quicklook import PHASE_CMAP, new_figure

OUTLINE_COLOR = "red"
MAP_PANEL_IN = 3.6
"""Width of one detection-map panel (inches); three panels at 90 dpi stay under 1000 px."""
# a white halo keeps red outlines and labels readable on dark and light backgrounds alike
_HALO = [patheffects.withStroke(linewidth=2.6, foreground="white")]

Extent = tuple[float, float, float, float]


def plot_detection_map(
    wrapped_phase: ArrayLike | None,
    coherence: ArrayLike | None,
    probability: ArrayLike | None,
    polygons_xy: Sequence[ArrayLike],
    labels: Sequence[str | None],
    extent: Extent | None = None,
    title: str | None = None,
    *,
    slow_motion_z: ArrayLike | None = None,
) -> Figure:
    """Side-by-side panels of the scene with every detection outlined and labelled.

    Parameters
    ----------
    wrapped_phase, coherence, probability
        ``(H, W)`` wrapped phase (rad, cyclic colormap), coherence (0-1, grey) and deformation
        probability (0-1); a None layer is left out (at least one is needed).
    polygons_xy
        Exterior rings, each ``(N, 2)`` of ``(x, y)`` in the coordinates of ``extent`` (pixel column/row
        when ``extent`` is None).
    labels
        One label per ring (the target_id); None or "" draws the outline without text.
    extent
        ``(left, right, bottom, top)`` of the images in map coordinates, as for ``imshow``.
    title
        Figure title.
    slow_motion_z
        ``(H, W)`` z-score of the slow-motion stage (stacks): a fourth panel, signed, clipped at
        twice the stage's detection threshold.
    """
    panels = [
        (name, layer)
        for name, layer in (
            ("wrapped phase", wrapped_phase),
            ("coherence", coherence),
            ("probability", probability),
            ("slow-motion z", slow_motion_z),
        )
        if layer is not None
    ]
    if not panels:
        raise InputError(
            "detection map", "no layer to draw (wrapped phase, coherence and probability all missing)"
        )
    if len(labels) != len(polygons_xy):
        raise InputError("detection map", f"{len(labels)} labels for {len(polygons_xy)} polygons")
    fig = new_figure(len(panels), panel_size_in=MAP_PANEL_IN, title=title)
    # fit the figure height to the scene's aspect so wide scenes do not leave tall empty margins
    height, width = np.shape(panels[0][1])[:2]
    if extent is not None:
        width, height = abs(extent[1] - extent[0]), abs(extent[3] - extent[2])
    aspect = height / width if width > 0 and height > 0 else 1.0
    fig.set_size_inches(
        MAP_PANEL_IN * len(panels), float(np.clip(MAP_PANEL_IN * 0.8 * aspect, 1.5, 8.0)) + 0.6
    )
    axes = list(fig.axes)  # colorbars add axes as we go
    for ax, (name, layer) in zip(axes, panels, strict=True):
        array = np.asarray(layer, dtype=np.float64)
        kwargs: dict[str, Any] = {"interpolation": "nearest", "extent": extent}
        if name == "wrapped phase":
            image = ax.imshow(array, cmap=PHASE_CMAP, vmin=-np.pi, vmax=np.pi, **kwargs)
            unit = "rad"
        elif name == "coherence":
            image = ax.imshow(array, cmap="gray", vmin=0.0, vmax=1.0, **kwargs)
            unit = ""
        elif name == "slow-motion z":
            limit = 2.0 * SLOW_MOTION_Z
            image = ax.imshow(array, cmap="RdBu_r", vmin=-limit, vmax=limit, **kwargs)
            unit = "z"
        else:
            image = ax.imshow(array, cmap="viridis", vmin=0.0, vmax=1.0, **kwargs)
            unit = ""
        cbar = fig.colorbar(image, ax=ax, shrink=0.9, pad=0.02, fraction=0.05)
        cbar.set_label(unit, fontsize=8)
        cbar.ax.tick_params(labelsize=7)
        _draw_outlines(ax, polygons_xy, labels)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def _draw_outlines(ax: Axes, polygons_xy: Sequence[ArrayLike], labels: Sequence[str | None]) -> None:
    # drawing must not stretch the view beyond the image
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    for ring, label in zip(polygons_xy, labels, strict=True):
        xy = np.asarray(ring, dtype=np.float64)
        if xy.ndim != 2 or xy.shape[0] < 2:
            continue
        ax.plot(xy[:, 0], xy[:, 1], color=OUTLINE_COLOR, linewidth=1.1, path_effects=_HALO)
        if label:
            # label above the ring's top edge, centred, so it does not hide the fringes inside
            top = xy[:, 1].max() if ylim[1] > ylim[0] else xy[:, 1].min()
            ax.annotate(
                label,
                (float(xy[:, 0].mean()), float(top)),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=6.5,
                color=OUTLINE_COLOR,
                fontweight="bold",
                path_effects=_HALO,
                annotation_clip=False,
            )
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)


def linear_fit(
    dates: ArrayLike, displacement: ArrayLike, velocity_per_yr: float | None = None
) -> tuple[float, float]:
    """Slope (per year) and intercept (at the first date) of a line through a displacement series.

    With ``velocity_per_yr`` given (finite), only the intercept is fitted (least squares with that slope);
    otherwise both. NaN samples are ignored; fewer than two finite samples give ``(nan, nan)``.
    """
    t = _years_since_first(dates)
    d = np.asarray(displacement, dtype=np.float64)
    ok = np.isfinite(t) & np.isfinite(d)
    if velocity_per_yr is not None and np.isfinite(velocity_per_yr):
        if not ok.any():
            return float("nan"), float("nan")
        return float(velocity_per_yr), float(np.mean(d[ok] - velocity_per_yr * t[ok]))
    if ok.sum() < 2 or np.ptp(t[ok]) == 0:
        return float("nan"), float("nan")
    slope, intercept = np.polyfit(t[ok], d[ok], 1)
    return float(slope), float(intercept)


def _years_since_first(dates: ArrayLike) -> NDArray[np.float64]:
    days = np.asarray(dates, dtype="datetime64[ns]")
    if days.size == 0:
        return np.zeros(0)
    return (days - days.min()) / np.timedelta64(1, "D") / DAYS_PER_YEAR


def plot_target_series(
    dates: ArrayLike,
    displacement_m: ArrayLike,
    displacement_std_m: ArrayLike | None,
    velocity_m_per_yr: float | None,
    velocity_std_m_per_yr: float | None,
    title: str,
) -> Figure:
    """LOS displacement (mm, + towards the satellite) against date with its 1-sigma band and linear fit.

    Parameters
    ----------
    dates
        ``(T,)`` acquisition dates (anything ``numpy.datetime64`` accepts).
    displacement_m, displacement_std_m
        ``(T,)`` displacement and its standard deviation (m); the band is left out when the std is None.
    velocity_m_per_yr, velocity_std_m_per_yr
        Mean velocity and its std (m/yr), shown in the title and used as the slope of the fit line;
        without a velocity the line is a least-squares fit of the series.
    title
        Figure title (e.g. the target_id); the velocity in mm/yr is appended.
    """
    t = np.asarray(dates, dtype="datetime64[ns]")
    d_mm = np.asarray(displacement_m, dtype=np.float64) * 1000.0
    if t.ndim != 1 or d_mm.shape != t.shape:
        raise InputError("time series", f"{t.shape} dates for displacement of shape {d_mm.shape}")
    order = np.argsort(t)
    t, d_mm = t[order], d_mm[order]

    fig = new_figure(1, title=None)
    fig.set_size_inches(7.0, 2.8)
    ax = fig.axes[0]
    if displacement_std_m is not None:
        s_mm = np.asarray(displacement_std_m, dtype=np.float64)[order] * 1000.0
        ax.fill_between(t, d_mm - s_mm, d_mm + s_mm, color="tab:blue", alpha=0.25, linewidth=0, label="±1σ")
    ax.plot(t, d_mm, "o-", color="tab:blue", markersize=3, linewidth=1.0, label="displacement")
    v_mm = None if velocity_m_per_yr is None else velocity_m_per_yr * 1000.0
    slope, intercept = linear_fit(t, d_mm, v_mm)
    if np.isfinite(slope) and t.size:
        line = intercept + slope * _years_since_first(t)
        ax.plot(t, line, "--", color="tab:red", linewidth=1.2, label="linear fit")
    ax.axhline(0.0, color="0.6", linewidth=0.6)
    ax.set_ylabel("LOS displacement (mm)\n+ towards satellite", fontsize=8)
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.tick_params(labelsize=7)
    ax.grid(True, linewidth=0.4, alpha=0.5)
    ax.legend(fontsize=7, loc="best", frameon=False)
    ax.set_title(f"{title}: {_velocity_text(slope, velocity_m_per_yr, velocity_std_m_per_yr)}", fontsize=9)
    return fig


def _velocity_text(fit_slope_mm: float, velocity: float | None, std: float | None) -> str:
    if velocity is not None and np.isfinite(velocity):
        text = f"velocity {velocity * 1000.0:+.1f}"
        if std is not None and np.isfinite(std):
            text += f" ± {std * 1000.0:.1f}"
        return text + " mm/yr"
    if np.isfinite(fit_slope_mm):
        return f"fitted velocity {fit_slope_mm:+.1f} mm/yr"
    return "velocity unknown"
