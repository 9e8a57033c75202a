"""Stage: a stack of interferograms -> LOS displacement time series and mean velocity (SBAS).

Wrapped-only stacks are unwrapped pair by pair first (SNAPHU or whirlwind); every pair is then
referenced to a common stable area and the small-baseline network is inverted per pixel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field

from fringenet.errors import InputError
from fringenet.io.schema import PAIR_DIM, is_stack, make_timeseries_dataset, wavelength_of
from fringenet.io.stack import drop_empty_pairs
from fringenet.pipeline.radar import quiet_pixel_grids


class TimeseriesConfig(BaseModel):
    """Settings of the SBAS time-series stage."""

    model_config = ConfigDict(extra="forbid")

    unwrap_method: Literal["snaphu", "whirlwind"] = Field(
        "snaphu", description="Unwrapper for stacks that hold only wrapped phase."
    )
    nlooks: float = Field(1.0, gt=0, le=10000, description="Effective number of looks of the interferograms.")
    coherence_weighting: bool = Field(
        True, description="Weight pairs by coherence (gamma^2 / (1 - gamma^2)) in the inversion."
    )
    min_coherence: float = Field(
        0.0, ge=0, le=1, description="Pixels of a pair below this coherence are left out of the inversion."
    )
    reference_yx: tuple[int, int] | None = Field(
        None, description="Row and column of a stable reference point; default: the scene median."
    )
    reference_radius: int = Field(2, ge=0, le=100, description="Half-size of the reference window (px).")


@dataclass(frozen=True)
class TimeseriesOutput:
    """What the time-series stage wrote and computed."""

    timeseries: xr.Dataset
    velocity_tif: Path | None
    timeseries_nc: Path | None
    mintpy_timeseries: Path | None
    mintpy_velocity: Path | None
    notes: tuple[str, ...]


def invert_stack(stack: xr.Dataset, config: TimeseriesConfig | None = None) -> tuple[xr.Dataset, list[str]]:
    """Invert a fringenet stack Dataset into a time series Dataset (no file I/O).

    Returns the time series (``los_displacement`` (date, y, x) in m, ``los_velocity`` and
    ``velocity_std`` (y, x) in m/yr) and notes on the fallbacks used.
    """
    from fringenet.insar.reference import point_area, reference_to_area
    from fringenet.insar.sbas import invert_sbas

    config = config or TimeseriesConfig()
    source = stack.encoding.get("source", "stack")
    if not is_stack(stack):
        raise InputError(source, "a time series needs a stack of interferograms (a 'pair' dimension)")
    if "reference_date" not in stack.coords or "secondary_date" not in stack.coords:
        raise InputError(source, "the stack has no reference/secondary dates per pair")

    notes: list[str] = []
    phase = next((n for n in ("unwrapped_phase", "wrapped_phase") if n in stack), None)
    if phase is None:
        raise InputError(source, "the stack has neither 'unwrapped_phase' nor 'wrapped_phase'")
    stack = drop_empty_pairs(stack, phase, notes)
    if stack.sizes[PAIR_DIM] == 0:
        raise InputError(source, "every pixel of every pair is NaN")
    coherence = stack["coherence"].values.astype(np.float64) if "coherence" in stack else None
    if phase == "unwrapped_phase":
        unwrapped = stack["unwrapped_phase"].values.astype(np.float64)
    else:
        from fringenet.pipeline.unwrap import unwrap_dataset

        unwrapped_ds, unwrap_notes = unwrap_dataset(stack, method=config.unwrap_method, nlooks=config.nlooks)
        unwrapped = unwrapped_ds["unwrapped_phase"].values.astype(np.float64)
        notes.extend([f"unwrapped with {config.unwrap_method}", *unwrap_notes])

    if coherence is not None and config.min_coherence > 0:
        unwrapped = np.where(coherence >= config.min_coherence, unwrapped, np.nan)
        kept = np.isfinite(unwrapped).any(axis=(1, 2))
        if not kept.any():
            raise InputError(source, f"no pixel of any pair reaches coherence {config.min_coherence:g}")
        for label in stack[PAIR_DIM].values[~kept]:
            notes.append(f"pair {label}: no pixel reaches coherence {config.min_coherence:g}; left out")
        stack, unwrapped, coherence = (
            stack.isel({PAIR_DIM: np.flatnonzero(kept)}),
            unwrapped[kept],
            coherence[kept],
        )
    area = None
    if config.reference_yx is not None:
        area = point_area(unwrapped.shape[1:], *config.reference_yx, radius=config.reference_radius)
    else:
        notes.append("reference: median of the pixels valid in every pair")
    referenced, _ = reference_to_area(unwrapped, area)

    weights = None
    if config.coherence_weighting and coherence is not None:
        gamma2 = np.clip(coherence, 0.0, 0.99) ** 2
        weights = gamma2 / (1.0 - gamma2)
    elif config.coherence_weighting:
        notes.append("no coherence in the stack: pairs weighted equally")

    result = invert_sbas(
        referenced,
        stack["reference_date"].values,
        stack["secondary_date"].values,
        wavelength_m=wavelength_of(stack),
        weights=weights,
    )
    series = make_timeseries_dataset(
        result.displacement,
        result.dates,
        like=stack,
        velocity_m_per_yr=result.velocity,
        extra={"velocity_std": result.velocity_std},
    )
    series.attrs["notes"] = "; ".join(notes)
    return series, notes


@quiet_pixel_grids
def run_timeseries(
    stack_path: str | Path,
    out_dir: str | Path,
    config: TimeseriesConfig | None = None,
    *,
    nodata: float | None = None,
    wavelength_m: float | None = None,
    variable: str | None = None,
    lookup: str | Path | None = None,
) -> TimeseriesOutput:
    """Open a stack product, invert it and write the results into ``out_dir``.

    ``nodata``, ``wavelength_m`` and ``variable`` are passed to :func:`fringenet.io.open.open_product`.
    ``lookup`` geocodes a radar-geometry stack's velocity (``velocity_geo.tif``, ``velocity_std_geo.tif``
    on a lon/lat grid; see :mod:`fringenet.io.lookup`).
    """
    from fringenet.io.atomic import writable_folder
    from fringenet.io.open import open_product

    writable_folder(out_dir, create=False)  # a file or a read-only folder fails before the work
    from fringenet.pipeline.radar import RADAR_NOTE, is_radar_geometry, radar_lookup

    stack = open_product(stack_path, nodata=nodata, wavelength_m=wavelength_m, variable=variable)
    read_notes = [*stack.encoding.get("notes", []), *([RADAR_NOTE] if is_radar_geometry(stack) else [])]
    geocoding = radar_lookup(stack, lookup, read_notes, "velocity also on a lon/lat grid (velocity_geo.tif)")
    series, notes = invert_stack(stack, config)
    output = write_timeseries(series, out_dir, [*read_notes, *notes])
    if geocoding is not None:
        from fringenet.io.lookup import write_geocoded

        for name, stem in (("los_velocity", "velocity"), ("velocity_std", "velocity_std")):
            values = np.asarray(series[name].values, dtype=np.float32)
            write_geocoded(values, geocoding, Path(out_dir) / f"{stem}_geo.tif")
    return output


def write_timeseries(series: xr.Dataset, out_dir: str | Path, notes: Sequence[str] = ()) -> TimeseriesOutput:
    """Write a time series Dataset (from :func:`invert_stack`) as GeoTIFF, NetCDF and MintPy files.

    Writes ``velocity.tif`` (m/yr), ``velocity_std.tif`` (m/yr), ``timeseries.nc`` and MintPy-style
    ``timeseries.h5`` / ``velocity.h5``; each file is written atomically. Without a CRS (radar
    geometry) the rasters keep the grid's transform and the MintPy files get no ``X_FIRST``/``Y_FIRST``,
    which MintPy would read as geocoded.
    """
    from fringenet.io.atomic import writable_folder
    from fringenet.io.geotiff import write_geotiff
    from fringenet.io.mintpy import write_mintpy_timeseries, write_mintpy_velocity
    from fringenet.io.netcdf import write_netcdf

    out = writable_folder(out_dir)
    velocity_tif = write_geotiff(series, out / "velocity.tif", variable="los_velocity")
    write_geotiff(series, out / "velocity_std.tif", variable="velocity_std")
    timeseries_nc = write_netcdf(series, out / "timeseries.nc")
    dates = list(series["date"].values)
    crs = series.rio.crs
    grid: dict[str, Any] = {
        "transform": series.rio.transform() if crs is not None else None, "crs": crs,
        "wavelength_m": wavelength_of(series),
    }  # fmt: skip
    mintpy_ts = write_mintpy_timeseries(
        out / "timeseries.h5", series["los_displacement"].values, dates, **grid
    )
    mintpy_vel = write_mintpy_velocity(
        out / "velocity.h5",
        series["los_velocity"].values,
        dates[0],
        dates[-1],
        velocity_std_m_per_yr=series["velocity_std"].values,
        **grid,
    )
    return TimeseriesOutput(series, velocity_tif, timeseries_nc, mintpy_ts, mintpy_vel, tuple(notes))
