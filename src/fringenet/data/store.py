"""The on-disk patch dataset: a folder with a Zarr store of patches, a patch table and a description.

Layout of ``DATASET/``::

    patches.zarr/   image (N, C, P, P) float32, label (N, P, P) uint8, valid (N, P, P) uint8,
                    chunked one patch per chunk so training reads only the patches it draws
    patches.csv     one row per patch: region, scene, group, split, row, col, labelled/valid pixels,
                    CRS and affine transform of the patch
    dataset.json    channels, patch size, normalisation statistics (training split), split table,
                    build config, provenance and notes
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import zarr
from numpy.typing import NDArray

from fringenet.data.patches import Patches
from fringenet.errors import InputError

ARRAYS = ("image", "label", "valid")


class PatchWriter:
    """Append patches scene by scene to a new dataset folder (use inside ``atomic_path``)."""

    def __init__(self, path: Path, channels: tuple[str, ...], patch_size: int) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.channels = channels
        self.size = patch_size
        self.group = zarr.open_group(self.path / "patches.zarr", mode="w")
        c, p = len(channels), patch_size
        self.arrays = {
            "image": self.group.create_array(
                "image", shape=(0, c, p, p), chunks=(1, c, p, p), dtype="float32"
            ),
            "label": self.group.create_array("label", shape=(0, p, p), chunks=(1, p, p), dtype="uint8"),
            "valid": self.group.create_array("valid", shape=(0, p, p), chunks=(1, p, p), dtype="uint8"),
        }
        self.rows: list[dict[str, Any]] = []

    def append(self, patches: Patches, **meta: Any) -> None:
        """Add one scene's patches; ``meta`` (region, scene, crs, transform, ...) is copied to each row.

        ``meta['transform']`` is the scene's affine ``(a, b, c, d, e, f)``; each row gets the
        transform of its own patch.
        """
        if patches.image.shape[0] == 0:
            return
        self.arrays["image"].append(patches.image, axis=0)
        self.arrays["label"].append(patches.label, axis=0)
        self.arrays["valid"].append(patches.valid, axis=0)
        a, b, c, d, e, f = meta.pop("transform")
        for k in range(patches.image.shape[0]):
            r, col = int(patches.rows[k]), int(patches.cols[k])
            self.rows.append(
                {
                    **meta,
                    "row": r,
                    "col": col,
                    "labelled_px": int(patches.label[k].sum()),
                    "valid_px": int(patches.valid[k].sum()),
                    "transform": json.dumps([a, b, c + a * col + b * r, d, e, f + d * col + e * r]),
                }
            )

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def finish(self, table: pd.DataFrame, info: dict[str, Any]) -> None:
        """Write the patch table and the description."""
        table.to_csv(self.path / "patches.csv", index_label="index")
        (self.path / "dataset.json").write_text(json.dumps(info, indent=2, default=str))


@dataclass
class DatasetFolder:
    """A dataset folder opened for reading: its description, row table and Zarr arrays (read lazily)."""

    path: Path
    info: dict[str, Any]
    table: pd.DataFrame
    arrays: dict[str, Any] = field(repr=False)
    unit: ClassVar[str] = "rows"
    """What a row is called in messages."""

    def indices(self, split: str) -> NDArray[np.int64]:
        """Row indices of a split; an empty split is an error naming the dataset."""
        sel = np.flatnonzero(self.table["split"].to_numpy() == split)
        if sel.size == 0:
            counts = self.table["split"].value_counts().to_dict()
            raise InputError(
                self.path, f"split '{split}' has no {self.unit} ({self.unit} per split: {counts})"
            )
        return sel.astype(np.int64)


@dataclass
class PatchDataset(DatasetFolder):
    """A patch dataset; arrays are read patch by patch from Zarr."""

    unit: ClassVar[str] = "patches"

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.info["channels"])

    @property
    def statistics(self) -> dict[str, dict[str, float]]:
        return dict(self.info["normalisation"])

    @property
    def patch_size(self) -> int:
        return int(self.info["patch_size"])

    def read(self, index: int) -> tuple[NDArray[np.float32], NDArray[np.uint8], NDArray[np.uint8]]:
        """``image (C, P, P)``, ``label (P, P)`` and ``valid (P, P)`` of one patch (raw units)."""
        return (
            np.asarray(self.arrays["image"][index]),
            np.asarray(self.arrays["label"][index]),
            np.asarray(self.arrays["valid"][index]),
        )

    def read_many(
        self, indices: NDArray[np.int64]
    ) -> tuple[NDArray[np.float32], NDArray[np.uint8], NDArray[np.uint8]]:
        """The same as :meth:`read` for several patches, stacked along a first axis."""
        idx = np.asarray(indices, dtype=np.int64)
        return tuple(np.asarray(self.arrays[name].get_orthogonal_selection((idx,))) for name in ARRAYS)  # type: ignore[return-value]


def read_dataset_folder(
    path: Path, store: str, table: str, arrays: tuple[str, ...], kind: str
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Any]]:
    """``dataset.json``, the row table and the Zarr arrays of a dataset folder, checked to agree.

    Clear errors name the folder: missing, not this ``kind`` of dataset (which files are absent),
    unreadable, or a table whose rows do not match the arrays.
    """
    if not path.is_dir():
        raise InputError(path, "no such dataset folder")
    missing = [n for n in (store, table, "dataset.json") if not (path / n).exists()]
    if missing:
        raise InputError(path, f"not a fringenet {kind} dataset (missing {', '.join(missing)})")
    try:
        info = json.loads((path / "dataset.json").read_text())
        rows = pd.read_csv(path / table, index_col="index")
        group = zarr.open_group(path / store, mode="r")
        opened: dict[str, Any] = {name: group[name] for name in arrays}
    except (OSError, ValueError, KeyError) as err:
        raise InputError(path, f"unreadable {kind} dataset ({err})") from err
    n = opened[arrays[0]].shape[0]
    if len(rows) != n or any(opened[a].shape[0] != n for a in arrays):
        raise InputError(path, f"{kind} table has {len(rows)} rows but the store holds {n}")
    return info, rows, opened


def open_patch_dataset(path: str | PathLike[str]) -> PatchDataset:
    """Open a dataset folder written by ``fringenet dataset build``; clear errors if it is not one."""
    path = Path(path)
    info, table, arrays = read_dataset_folder(path, "patches.zarr", "patches.csv", ARRAYS, "patch")
    return PatchDataset(path, info, table, arrays)
