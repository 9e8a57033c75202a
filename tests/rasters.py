"""Test helper: write a plain single-band GeoTIFF as a processor (ROI_PAC, GAMMA, LiCSAR) would."""

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine


def write_plain_tif(
    path: Path, data: np.ndarray, *, crs: str, transform: Affine, nodata: float | None = None
) -> Path:
    """Write ``data`` (y, x) to ``path`` with no fringenet tags."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "height": data.shape[0],
        "width": data.shape[1],
        "count": 1,
        "dtype": data.dtype,
    }
    with rasterio.open(path, "w", crs=crs, transform=transform, nodata=nodata, **profile) as dst:
        dst.write(data, 1)
    return path
