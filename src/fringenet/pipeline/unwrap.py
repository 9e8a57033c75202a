"""Stage: unwrap one wrapped interferogram (GeoTIFF out) or every pair of a stack (NetCDF out).

Coherence comes from, in order: ``coherence_path``, a ``coherence`` variable of the product, a
LiCSAR sibling (``*.geo.cc.tif`` beside ``*.geo.diff_pha.tif``); failing all three, it is
estimated from the phase itself and the output says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from fringenet.errors import InputError
from fringenet.io.schema import is_stack
from fringenet.pipeline.radar import quiet_pixel_grids


@dataclass(frozen=True)
class UnwrapOutput:
    """The written file, the unwrapped Dataset and notes on fallbacks used."""

    path: Path
    dataset: xr.Dataset
    notes: tuple[str, ...]


def unwrap_dataset(
    ds: xr.Dataset, method: str = "snaphu", nlooks: float = 1.0
) -> tuple[xr.Dataset, list[str]]:
    """Add ``unwrapped_phase`` to a pair or stack Dataset holding ``wrapped_phase`` (no file I/O)."""
    from tqdm import tqdm

    from fringenet.insar.unwrap import unwrap

    source = ds.encoding.get("source", "product")
    if "wrapped_phase" not in ds:
        raise InputError(
            source, f"no 'wrapped_phase' variable to unwrap (has {sorted(map(str, ds.data_vars))})"
        )
    wrapped = ds["wrapped_phase"].values.astype(np.float64)
    if np.isnan(wrapped).all():
        raise InputError(source, "the wrapped phase is NaN everywhere")
    coherence = ds["coherence"].values if "coherence" in ds else None
    phases = wrapped if is_stack(ds) else wrapped[None]
    cohs = None if coherence is None else (coherence if is_stack(ds) else coherence[None])
    out = np.empty_like(phases)
    for i in tqdm(
        range(phases.shape[0]), desc=f"unwrapping ({method})", unit="pair", disable=len(phases) == 1
    ):
        result = unwrap(phases[i], None if cohs is None else cohs[i], method=method, nlooks=nlooks)
        out[i] = result.unwrapped
    notes = (
        [] if coherence is not None else ["no coherence given: estimated from the phase (pseudo-coherence)"]
    )
    unwrapped = out if is_stack(ds) else out[0]
    dims = ds["wrapped_phase"].dims
    result_ds = ds.assign(unwrapped_phase=(dims, unwrapped.astype(np.float32), {"units": "rad"}))
    result_ds["unwrapped_phase"].attrs.update(
        {"long_name": "unwrapped interferometric phase", "unwrap_method": method}
    )
    return result_ds, notes


@quiet_pixel_grids
def run_unwrap(
    path: str | Path,
    out: str | Path,
    *,
    method: str = "snaphu",
    coherence_path: str | Path | None = None,
    nlooks: float = 1.0,
    variable: str | None = None,
    lookup: str | Path | None = None,
) -> UnwrapOutput:
    """Read a wrapped product, unwrap it, and write the unwrapped phase to ``out``.

    ``variable`` is passed to :func:`fringenet.io.open.open_product` (a generic GeoTIFF name). ``lookup``
    geocodes a single radar-geometry interferogram's result to ``<out stem>_geo.tif`` on a lon/lat grid
    (see :mod:`fringenet.io.lookup`).
    """
    from fringenet.io.atomic import writable_folder
    from fringenet.io.geotiff import write_geotiff
    from fringenet.io.netcdf import write_netcdf
    from fringenet.io.open import open_product

    path, out = Path(path), Path(out)
    writable_folder(out.parent, out, create=False)  # before the work
    ds = open_product(path, variable=variable)
    coherence_file = Path(coherence_path) if coherence_path else _licsar_coherence(path)
    if coherence_file is not None and "coherence" not in ds:
        ds = _attach_coherence(ds, coherence_file)
    from fringenet.pipeline.radar import RADAR_NOTE, is_radar_geometry, radar_lookup

    read_notes = [*ds.encoding.get("notes", []), *([RADAR_NOTE] if is_radar_geometry(ds) else [])]
    geo_out = out.with_name(f"{out.stem}_geo.tif")
    if lookup is not None and is_stack(ds):
        raise InputError(lookup, "--lookup geocodes a single interferogram's unwrapped phase, not a stack's")
    geocoding = radar_lookup(
        ds, lookup, read_notes, f"unwrapped phase also on a lon/lat grid ({geo_out.name})"
    )
    ds, notes = unwrap_dataset(ds, method=method, nlooks=nlooks)
    notes[:0] = read_notes
    if is_stack(ds):
        written = write_netcdf(ds, out)
    else:
        written = write_geotiff(ds, out, variable="unwrapped_phase")
        if geocoding is not None:
            from fringenet.io.lookup import write_geocoded

            write_geocoded(np.asarray(ds["unwrapped_phase"].values, dtype=np.float32), geocoding, geo_out)
    return UnwrapOutput(written, ds, tuple(notes))


def _licsar_coherence(path: Path) -> Path | None:
    if path.name.endswith(".geo.diff_pha.tif"):
        sibling = path.with_name(path.name.replace(".geo.diff_pha.tif", ".geo.cc.tif"))
        if sibling.is_file():
            return sibling
    return None


def _attach_coherence(ds: xr.Dataset, coherence_file: Path) -> xr.Dataset:
    from fringenet.io.open import open_product
    from fringenet.io.stack import grid_difference, grid_of_dataset

    coh = open_product(coherence_file)
    if "coherence" not in coh:
        raise InputError(coherence_file, "holds no coherence layer")
    diff = grid_difference(grid_of_dataset(ds), grid_of_dataset(coh))
    if diff:
        raise InputError(coherence_file, f"{diff} (the phase's)")
    return ds.assign(coherence=(ds["wrapped_phase"].dims, coh["coherence"].values, coh["coherence"].attrs))
