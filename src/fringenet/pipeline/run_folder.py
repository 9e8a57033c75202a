"""The run folder of ``detect`` and ``monitor``: one run per folder, and a clean start on overwrite.

A folder that holds a previous run's outputs is refused unless ``overwrite`` is asked for; then the
files fringenet wrote there (the names below, never other files) are removed before the new run writes,
so nothing of the old run (targets, time series, report) mixes into the new one. An inventory given
explicitly (``--inventory``, inside the folder or elsewhere) accumulates across runs and is kept.
Temporaries left by a killed run are removed at the start of every run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from fringenet.errors import InputError
from fringenet.io.atomic import remove_stale_temporaries, writable_folder

#: Files a detect, monitor or displacement run writes at the top of its folder.
RUN_FILES: tuple[str, ...] = (
    "run.json", "probability.tif", "detections.tif", "probability_geo.tif", "detections_geo.tif", "velocity.tif", "unusable.tif", "slow_motion_z.tif", "slow_motion_velocity.tif", "slow_motion_velocity_geo.tif", "detections.geojson",
    "detections.gpkg", "quicklook.nc", "inventory.gpkg", "inventory.gpkg-journal", "inventory.gpkg-wal",
    "inventory.gpkg-shm", "report.html", "east_m.tif", "north_m.tif",
)  # fmt: skip
#: Sub-folders of a run and the names of the files fringenet writes in them.
RUN_FOLDERS: dict[str, re.Pattern[str]] = {
    "masknet": re.compile(r"^(?:probability|detections)\.tif$"),
    "targets": re.compile(r"^T\d+\.(?:csv|nc)$"),
}


def previous_outputs(out: Path, keep: Iterable[Path] = ()) -> list[Path]:
    """The files of an earlier detect/monitor run in ``out``, except those in ``keep``."""
    kept = {Path(p).resolve() for p in keep}
    found = [out / name for name in RUN_FILES if (out / name).is_file()]
    for folder, names in RUN_FOLDERS.items():
        if (out / folder).is_dir():
            found += sorted(p for p in (out / folder).iterdir() if names.match(p.name) and p.is_file())
    return [p for p in found if p.resolve() not in kept]


def check_run_folder(out: Path, *, overwrite: bool, keep: Iterable[Path] = ()) -> list[Path]:
    """Refuse ``out`` if it is a file, cannot be written, or holds a previous run (without ``overwrite``).

    Returns the previous run's files, for :func:`clear_run_folder` once the input has been checked.
    """
    previous = previous_outputs(out, keep)
    if previous and not overwrite:
        names = [str(p.relative_to(out)) for p in previous[:4]] + (["..."] if len(previous) > 4 else [])
        raise InputError(
            out, f"holds a previous run's outputs ({', '.join(names)}); pass --overwrite to replace them or choose "
            "another folder",
        )  # fmt: skip
    writable_folder(out, create=False)  # before the input is read, and no empty folder on a bad input
    return previous


def clear_run_folder(out: Path, previous: Iterable[Path], elsewhere: Iterable[Path] = ()) -> list[str]:
    """Remove ``previous`` (from :func:`check_run_folder`) and stale temporaries; notes on what went.

    ``elsewhere``: outputs outside ``out`` (an explicit inventory) whose stale temporaries go too.
    """
    writable_folder(out)
    notes: list[str] = []
    removed = list(previous)
    for path in removed:
        path.unlink(missing_ok=True)
    if removed:
        notes.append(f"overwrite: removed {len(removed)} file(s) of the previous run in {out}")
    stale = [p for folder in (out, *(out / f for f in RUN_FOLDERS)) for p in remove_stale_temporaries(folder)]
    for path in elsewhere:
        stale += remove_stale_temporaries(path.parent, path.name)
    if stale:
        names = ", ".join(p.name for p in stale)
        notes.append(f"removed {len(stale)} temporary file(s) an interrupted run left behind: {names}")
    return notes
