"""Products in and out: readers, writers and the data model (see ``fringenet.io.schema``).

Every reader returns a fringenet Dataset; every writer writes atomically (temporary name, then
rename); bad input raises :class:`fringenet.errors.InputError` naming the file and the problem.
"""

from fringenet.io.atomic import atomic_path
from fringenet.io.binary import read_binary, read_binary_folder
from fringenet.io.dates import parse_pair_dates
from fringenet.io.geotiff import read_geotiff, read_licsar_folder, write_geotiff
from fringenet.io.labels import rasterize_inventory, read_inventory
from fringenet.io.mintpy import (
    read_mintpy_ifgram_stack,
    read_mintpy_timeseries,
    read_mintpy_velocity,
    write_mintpy_timeseries,
    write_mintpy_velocity,
)
from fringenet.io.netcdf import read_netcdf, read_snap_netcdf, write_netcdf
from fringenet.io.open import describe, open_product
from fringenet.io.schema import VARIABLES, is_stack, make_dataset, make_timeseries_dataset, wavelength_of
from fringenet.io.stack import open_stack_folder, read_gamma_float, stack_from_datasets
from fringenet.io.zarr_store import read_zarr, write_zarr

__all__ = [
    "VARIABLES",
    "atomic_path",
    "describe",
    "is_stack",
    "make_dataset",
    "make_timeseries_dataset",
    "open_product",
    "open_stack_folder",
    "parse_pair_dates",
    "rasterize_inventory",
    "read_binary",
    "read_binary_folder",
    "read_gamma_float",
    "read_geotiff",
    "read_inventory",
    "read_licsar_folder",
    "read_mintpy_ifgram_stack",
    "read_mintpy_timeseries",
    "read_mintpy_velocity",
    "read_netcdf",
    "read_snap_netcdf",
    "read_zarr",
    "stack_from_datasets",
    "wavelength_of",
    "write_geotiff",
    "write_mintpy_timeseries",
    "write_mintpy_velocity",
    "write_netcdf",
    "write_zarr",
]
