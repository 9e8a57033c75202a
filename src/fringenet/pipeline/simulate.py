"""Stage: simulate a labelled pair or stack and write it as products a user can open anywhere.

Layout of ``out_dir``::

    simulation.nc              every variable, CRS, dates, objects (fringenet NetCDF)
    labels.geojson             the simulated objects (type, bbox, polygon, velocity)
    config.yaml                the exact configuration (re-running it gives the same bytes)
    <variable>.tif             one GeoTIFF per variable (a pair), or
    <variable>/<YYYYMMDD_YYYYMMDD>.tif   one folder per per-pair variable (a stack), and
    static/<variable>.tif      the static variables of a stack (dem, slope, ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import xarray as xr

from fringenet.errors import InputError
from fringenet.io.schema import PAIR_DIM, VARIABLES, is_stack

Mode = Literal["pair", "stack"]


@dataclass(frozen=True)
class SimulateOutput:
    """Files written by :func:`run_simulate`, and the simulated Dataset."""

    dataset: xr.Dataset
    netcdf: Path
    labels: Path
    geotiffs: tuple[Path, ...]


def run_simulate(
    config: object, out_dir: str | Path, mode: Mode = "pair", overwrite: bool = False
) -> SimulateOutput:
    """Simulate with ``config`` (a :class:`~fringenet.simulate.config.SimulationConfig`) and write ``out_dir``."""
    from fringenet.config import write_yaml_config
    from fringenet.io.netcdf import write_netcdf
    from fringenet.simulate.config import SimulationConfig
    from fringenet.simulate.scene import objects_geodataframe, simulate_pair, simulate_stack

    if not isinstance(config, SimulationConfig):
        raise InputError("config", f"expected a SimulationConfig, got {type(config).__name__}")
    out = Path(out_dir)
    netcdf = out / "simulation.nc"
    if netcdf.exists() and not overwrite:
        raise InputError(out, "already holds a simulation; choose another folder or pass --overwrite")
    out.mkdir(parents=True, exist_ok=True)

    ds = simulate_stack(config) if mode == "stack" else simulate_pair(config)
    geotiffs = write_variable_geotiffs(ds, out)
    labels = _write_geojson(objects_geodataframe(ds), out / "labels.geojson")
    write_yaml_config(config, out / "config.yaml")
    write_netcdf(ds, netcdf)
    return SimulateOutput(ds, netcdf, labels, tuple(geotiffs))


def write_variable_geotiffs(ds: xr.Dataset, out: Path) -> list[Path]:
    """One GeoTIFF per variable; per-pair variables of a stack get a folder of per-pair files."""
    from fringenet.io.geotiff import write_geotiff

    paths: list[Path] = []
    for name in ds.data_vars:
        if name not in VARIABLES:
            continue
        da = ds[name]
        if is_stack(ds) and PAIR_DIM in da.dims:
            folder = out / str(name)
            folder.mkdir(exist_ok=True)
            for label in ds[PAIR_DIM].values:
                paths.append(
                    write_geotiff(da.sel({PAIR_DIM: label}), folder / f"{label}.tif", variable=str(name))
                )
        else:
            folder = out / "static" if is_stack(ds) else out
            folder.mkdir(exist_ok=True)
            paths.append(write_geotiff(da, folder / f"{name}.tif", variable=str(name)))
    return paths


def _write_geojson(frame: object, path: Path) -> Path:
    from fringenet.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        # the layer name is the GeoJSON "name" member: the final stem, not the temporary's
        frame.to_file(tmp, layer=path.stem, driver="GeoJSON")  # type: ignore[attr-defined]
    return path
