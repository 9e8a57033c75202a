"""What a time-series model looked at for one place (``fringenet explain``).

The window (the bundle's patch size) centred on a pixel is run through the temporal network with
its attention kept (:meth:`fringenet.models.temporal.TemporalNet.set_capture`). For the token tile
that holds the pixel, two figures and their numbers are written:

- ``attention_time.png``: how much each step (interferogram, or date for the coherence
  transformer) contributes to the tile's pooled token, and the last block's attention over time
  averaged over the querying steps;
- ``attention_space.png``: the last block's attention of the tile over the other tiles of the
  window (averaged over steps), beside the wrapped phase of the longest-span pair and the model
  probability;
- ``attention.json``: the numbers behind both.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle
from numpy.typing import NDArray

from fringenet.detect.temporal import (
    BundleArg,
    check_scene_window,
    prepare_stack,
    resolve_temporal_bundle,
)
from fringenet.errors import InputError
from fringenet.io.atomic import atomic_path
from fringenet.models.temporal import FactorisedBlock


@dataclass
class TargetAttention:
    """Attention of a temporal model for the tile holding pixel ``(row, col)``.

    ``window`` is ``(row0, col0, size)`` in scene pixels; ``tile`` the tile's index in the row-major
    grid of ``grid`` tiles of ``patch`` px; ``steps`` names each real step ``"YYYY-MM-DD..YYYY-MM-DD"``;
    ``pool_weights`` and ``time_attention`` are ``(S,)`` over those steps (the pooling weights sum
    to 1); ``space_attention`` is ``grid`` (tile rows, tile cols), summing to 1; ``phase`` (rad) and
    ``probability`` are ``(size, size)`` maps of the window.
    """

    row: int
    col: int
    window: tuple[int, int, int]
    patch: int
    grid: tuple[int, int]
    tile: int
    steps: list[str]
    pool_weights: NDArray[np.float64]
    time_attention: NDArray[np.float64]
    space_attention: NDArray[np.float64]
    phase: NDArray[np.float64]
    phase_pair: str
    probability: NDArray[np.float32]
    notes: list[str]

    @property
    def tile_box(self) -> tuple[int, int]:
        """Top-left pixel ``(row, col)`` of the tile within the window."""
        gr, gc = divmod(self.tile, self.grid[1])
        return gr * self.patch, gc * self.patch


def _step_label(pair: NDArray[np.datetime64]) -> str:
    a, b = (str(np.datetime64(d, "D")) for d in pair)
    return a if a == b else f"{a}..{b}"  # date steps (coherence transformer) carry one date


def _origin(centre: int, size: int, window: int) -> int:
    return int(np.clip(centre - window // 2, 0, size - window))


@torch.no_grad()
def target_attention(
    bundle: BundleArg, ds: xr.Dataset, *, row: int, col: int, window: int | None = None
) -> TargetAttention:
    """Run the temporal model on the window centred on ``(row, col)`` (clipped to the scene) and
    collect its attention for the tile holding that pixel.

    Raises
    ------
    InputError
        Not a temporal bundle or not a usable stack (see :func:`fringenet.detect.temporal.prepare_stack`),
        the pixel outside the scene, or a window that does not fit.
    """
    net, info, spec = resolve_temporal_bundle(bundle)
    stack = prepare_stack(ds, spec)
    window = window or info.patch_size
    check_scene_window(stack, window, 0)
    height, width = stack.shape
    if not (0 <= row < height and 0 <= col < width):
        raise InputError(
            stack.source, f"pixel (row {row}, col {col}) lies outside the {height} x {width} scene"
        )
    r0, c0 = _origin(row, height, window), _origin(col, width, window)
    phase, coherence = stack.read(r0, c0, window, window)
    inputs = stack.inputs(phase, coherence, r0, c0)
    tensors = {
        k: torch.from_numpy(np.ascontiguousarray(v[None]))
        for k, v in (("steps", inputs.steps), ("time", inputs.time), ("step_mask", inputs.step_mask),
                     ("terrain", inputs.terrain))
    }  # fmt: skip
    device = next(net.parameters()).device
    net.set_capture(True)
    try:
        out = net(**{k: v.to(device) for k, v in tensors.items()})
        block = net.blocks[-1]
        assert isinstance(block, FactorisedBlock)
        last = block.attention
        pool = net.pool_weights
    finally:
        net.set_capture(False)
    assert pool is not None
    p = spec.patch
    grid = (window // p, window // p)
    tile = ((row - r0) // p) * grid[1] + (col - c0) // p
    real = np.flatnonzero(inputs.step_mask)
    pool_w = pool[0, tile].float().cpu().numpy().astype(np.float64)[real]
    time_att = last["time"][0, tile].float().cpu().numpy().astype(np.float64)  # (S, S): query, key
    space_att = last["space"][0, :, tile].float().cpu().numpy().astype(np.float64)  # (S, N)
    probability = torch.sigmoid(out["logits"].float())[0, 0].cpu().numpy()
    k = stack.longest_pair
    pair = f"{stack.reference_dates[k]}..{stack.secondary_dates[k]}"
    return TargetAttention(
        row, col, (r0, c0, window), p, grid, int(tile), [_step_label(inputs.step_dates[s]) for s in real],
        pool_w, time_att[np.ix_(real, real)].mean(axis=0), space_att[real].mean(axis=0).reshape(grid),
        phase[k], pair, probability, list(dict.fromkeys([*stack.notes, *inputs.notes])),
    )  # fmt: skip


def _mark_tile(ax: Axes, att: TargetAttention) -> None:
    tr, tc = att.tile_box
    ax.add_patch(Rectangle((tc - 0.5, tr - 0.5), att.patch, att.patch, fill=False, ec="k", lw=1.5))
    ax.plot([att.col - att.window[1]], [att.row - att.window[0]], "k+", ms=8)


def _save(fig: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return path


def plot_time_attention(att: TargetAttention, path: str | PathLike[str]) -> Path:
    """Bar charts of the tile's pooling weight and mean time attention per step; saved as PNG."""
    from fringenet.report.quicklook import new_figure

    n = len(att.steps)
    fig = new_figure(
        2, panel_size_in=min(8.0, max(3.2, 0.3 * n + 1.5)), title=f"time attention, tile {att.tile}"
    )
    x = np.arange(n)
    for ax, values, title in (
        (fig.axes[0], att.pool_weights, "pooling weight per step"),
        (fig.axes[1], att.time_attention, "last block: time attention (mean over queries)"),
    ):
        ax.bar(x, values, color="tab:blue")
        ax.set_xticks(x, att.steps, rotation=90, fontsize=6)
        ax.set_ylabel("weight", fontsize=8)
        ax.set_title(title, fontsize=9)
    return _save(fig, Path(path))


def plot_space_attention(att: TargetAttention, path: str | PathLike[str]) -> Path:
    """The tile's space attention (upsampled to the window) beside the phase and probability; PNG."""
    from fringenet.report.quicklook import PHASE_CMAP, new_figure

    r0, c0, size = att.window
    fig = new_figure(3, title=f"window rows {r0}-{r0 + size - 1}, cols {c0}-{c0 + size - 1}")
    axes = list(fig.axes)
    upsampled = np.kron(att.space_attention, np.ones((att.patch, att.patch)))
    panels: tuple[tuple[NDArray[Any], str, str, float | None, float | None, str], ...] = (
        (upsampled, "last block: space attention", "viridis", None, None, "weight"),
        (att.phase, f"wrapped phase {att.phase_pair}", PHASE_CMAP, -np.pi, np.pi, "rad"),
        (att.probability, "model probability", "magma", 0.0, 1.0, ""),
    )
    for ax, (image, title, cmap, lo, hi, unit) in zip(axes, panels, strict=True):
        shown = ax.imshow(image, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        fig.colorbar(shown, ax=ax, shrink=0.8, label=unit)
        _mark_tile(ax, att)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, Path(path))


def attention_record(att: TargetAttention) -> dict[str, Any]:
    """The numbers of :class:`TargetAttention` as JSON-ready values (the maps left out but the attention)."""
    record = asdict(att)
    for name in ("phase", "probability"):
        record.pop(name)
    r0, c0, size = att.window
    tr, tc = att.tile_box
    record["window"] = {"row0": r0, "col0": c0, "size": size}
    record["tile"] = {
        "index": att.tile, "grid_row": att.tile // att.grid[1], "grid_col": att.tile % att.grid[1],
        "rows": [r0 + tr, r0 + tr + att.patch], "cols": [c0 + tc, c0 + tc + att.patch],
    }  # fmt: skip
    record["probability_at_pixel"] = float(att.probability[att.row - r0, att.col - c0])
    for name in ("pool_weights", "time_attention", "space_attention"):
        record[name] = np.asarray(record[name]).tolist()
    return record


def explain_target(
    bundle: BundleArg,
    ds: xr.Dataset,
    out_dir: str | PathLike[str],
    *,
    row: int,
    col: int,
    window: int | None = None,
) -> list[Path]:
    """Write ``attention_time.png``, ``attention_space.png`` and ``attention.json`` for pixel
    ``(row, col)`` of stack ``ds`` to ``out_dir``, each atomically; returns their paths.

    ``bundle`` is a temporal bundle folder or a loaded ``(module, BundleInfo)``; ``window`` defaults
    to the bundle's patch size. See :func:`target_attention` for the errors.
    """
    att = target_attention(bundle, ds, row=row, col=col, window=window)
    out = Path(out_dir)
    paths = [
        plot_time_attention(att, out / "attention_time.png"),
        plot_space_attention(att, out / "attention_space.png"),
    ]
    with atomic_path(out / "attention.json") as tmp:
        tmp.write_text(json.dumps(attention_record(att), indent=2))
    return [*paths, out / "attention.json"]


def target_pixel(run_dir: str | PathLike[str], target_id: str, ds: xr.Dataset) -> tuple[int, int]:
    """Pixel ``(row, col)`` of target ``target_id``'s centre in the run's detections on ``ds``'s grid.

    ``detections.geojson`` is EPSG:4326; its ``lon``/``lat`` (mean pixel centre) or else the polygon
    centroid are transformed to the stack's CRS, then to pixels by the stack's affine transform. In
    radar geometry (``detections.gpkg``, pixel coordinates) the polygon's representative point is the pixel.
    """
    from pyproj import CRS, Transformer

    from fringenet.detect.vectorise import detections_path, read_detections

    path = detections_path(run_dir)
    if path is None:
        raise InputError(run_dir, "is not a detect/monitor run folder (no detections.geojson or .gpkg)")
    table = read_detections(path)
    rows = table[table["target_id"].astype(str) == str(target_id)]
    if rows.empty:
        known = ", ".join(map(str, table["target_id"].head(10))) or "none"
        raise InputError(path, f"has no target {target_id!r} (targets: {known})")
    crs = ds.rio.crs
    if (table.crs is None) != (crs is None):
        where = ("in pixel coordinates (radar geometry)", "in map coordinates")[table.crs is not None]
        raise InputError(path, f"targets are {where}, the stack {'has a' if crs else 'has no'} CRS")
    if table.crs is None:
        point = rows.geometry.iloc[0].representative_point()
        col_f, row_f = point.x, point.y
    else:
        hit = rows.iloc[0]
        lon, lat = hit.get("lon"), hit.get("lat")
        if lon is None or lat is None or not np.isfinite([lon, lat]).all():
            centroid = rows.to_crs(CRS.from_epsg(4326)).geometry.iloc[0].representative_point()
            lon, lat = centroid.x, centroid.y
        to_stack = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_user_input(crs), always_xy=True)
        x, y = to_stack.transform(lon, lat)
        col_f, row_f = ~ds.rio.transform() * (x, y)
    row, col = int(np.floor(row_f)), int(np.floor(col_f))
    height, width = ds.sizes["y"], ds.sizes["x"]
    if not (0 <= row < height and 0 <= col < width):
        raise InputError(path, f"target {target_id} (pixel {row}, {col}) lies outside the stack's grid")
    return row, col
