"""Writing one target's time series: a plain CSV and a self-describing NetCDF."""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from affine import Affine

from fringenet.conventions import LOS_SIGN_CONVENTION
from fringenet.errors import InputError
from fringenet.io.atomic import atomic_path
from fringenet.io.netcdf import write_netcdf
from fringenet.io.schema import VARIABLES, as_ns_array, coords_from_transform, georeference
from fringenet.measure.crop import window_transform
from fringenet.measure.target import TargetMeasurement

CSV_COLUMNS = ("date", "displacement_m", "displacement_std_m")


def _jsonable(value: Any) -> Any:
    """Plain Python values (NetCDF attrs are written as JSON text when not scalar)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))


def target_dataset(m: TargetMeasurement, *, crs: Any = None, transform: Affine | None = None) -> xr.Dataset:
    """The target's series and crop velocity map as an xarray Dataset (no file I/O).

    ``transform`` is the affine transform of the **scene** grid when ``m.window`` is set (the
    crop's transform is derived from it), else of the crop itself. Without a transform, ``y``/``x``
    hold scene pixel rows/columns (crop-relative when ``m.window`` is unknown).
    """
    height, width = m.velocity_map.shape
    row0, col0 = (m.window[0], m.window[2]) if m.window is not None else (0, 0)
    if transform is not None:
        crop_transform = window_transform(transform, m.window) if m.window is not None else transform
        y, x = coords_from_transform(crop_transform, height, width)
    else:
        y, x = np.arange(height) + row0, np.arange(width) + col0
    vspec = VARIABLES["los_velocity"]
    ds = xr.Dataset(
        {
            "displacement_m": (
                "date",
                m.displacement_m,
                {"units": "m", "long_name": f"median LOS displacement of the target, {LOS_SIGN_CONVENTION}"},
            ),
            "displacement_std_m": (
                "date",
                m.displacement_std_m,
                {"units": "m", "long_name": "standard error of the median (1.2533 * 1.4826 * MAD / sqrt(n))"},
            ),
            "los_velocity": (
                ("y", "x"),
                m.velocity_map,
                {"units": vspec.units, "long_name": vspec.long_name},
            ),
            "target_mask": (("y", "x"), m.target_mask.astype(np.uint8), {"units": "1"}),
            "reference_area": (("y", "x"), m.reference_area.astype(np.uint8), {"units": "1"}),
        },
        coords={"date": as_ns_array(m.dates), "y": y, "x": x},
        attrs={
            "target_id": m.target_id,
            "velocity_m_per_yr": float(m.velocity_m_per_yr),
            "velocity_std_m_per_yr": float(m.velocity_std_m_per_yr),
            "velocity_pixel_median_m_per_yr": float(m.velocity_pixel_median_m_per_yr),
            "n_pixels": int(m.n_pixels),
            "n_dates": int(m.n_dates),
            "unwrapper": m.unwrapper,
            "reference_px": int(m.reference_px),
            "reference_info": _jsonable(m.reference_info),
            "window": list(m.window) if m.window is not None else "unknown",
            "units": "m",
            "sign_convention": "positive towards the satellite",
            "los_convention": LOS_SIGN_CONVENTION,
            "wavelength_m": float(m.wavelength_m),
            "notes": "; ".join(m.notes),
        },
    )
    if transform is not None:
        ds = georeference(ds, crop_transform, crs)
    return ds


def write_target_series(
    m: TargetMeasurement,
    out_dir: str | PathLike[str],
    *,
    crs: Any = None,
    transform: Affine | None = None,
) -> tuple[Path, Path]:
    """Write ``out_dir/<target_id>.csv`` (date, displacement_m, displacement_std_m) and ``<target_id>.nc``.

    The CSV has one header row and no comment lines; all metadata (velocity, its uncertainty,
    unwrapper, reference, sign convention) lives in the NetCDF attrs (see :func:`target_dataset`
    for the meaning of ``transform``). Both files are written atomically.
    """
    if not m.target_id or Path(m.target_id).name != m.target_id:
        raise InputError("target_id", f"must be a plain file name stem (got {m.target_id!r})")
    out = Path(out_dir)
    csv_path, nc_path = out / f"{m.target_id}.csv", out / f"{m.target_id}.nc"
    table = pd.DataFrame(
        {
            "date": np.datetime_as_string(m.dates.astype("datetime64[D]"), unit="D"),
            "displacement_m": m.displacement_m,
            "displacement_std_m": m.displacement_std_m,
        },
        columns=list(CSV_COLUMNS),
    )
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    write_netcdf(target_dataset(m, crs=crs, transform=transform), nc_path)
    return csv_path, nc_path
