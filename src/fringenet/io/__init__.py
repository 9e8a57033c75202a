"""Products in and out: readers, writers and the data model (see ``fringenet.io.schema``).

Every reader returns a fringenet Dataset; every writer writes atomically (temporary name, then
rename); bad input raises :class:`fringenet.errors.InputError` naming the file and the problem.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
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

# Submodules load on first use: importing one light submodule (e.g. fringenet.io.atomic) must not
# import the whole package (torch, zarr, h5py, the simulator), which cost a small scene seconds.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "atomic": ["atomic_path"],
        "binary": ["read_binary", "read_binary_folder"],
        "dates": ["parse_pair_dates"],
        "geotiff": ["read_geotiff", "read_licsar_folder", "write_geotiff"],
        "labels": ["rasterize_inventory", "read_inventory"],
        "mintpy": [
            "read_mintpy_ifgram_stack",
            "read_mintpy_timeseries",
            "read_mintpy_velocity",
            "write_mintpy_timeseries",
            "write_mintpy_velocity",
        ],
        "netcdf": ["read_netcdf", "read_snap_netcdf", "write_netcdf"],
        "open": ["describe", "open_product"],
        "schema": ["VARIABLES", "is_stack", "make_dataset", "make_timeseries_dataset", "wavelength_of"],
        "stack": ["open_stack_folder", "read_gamma_float", "stack_from_datasets"],
        "zarr_store": ["read_zarr", "write_zarr"],
    },
)
