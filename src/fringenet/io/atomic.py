"""Write-then-rename, so a reader never sees a half-written output file or Zarr store."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path

from fringenet.errors import InputError, OutputError

#: Names of what :func:`atomic_path` leaves behind when its process is killed: the temporary
#: ``.{stem}.{10 hex}.tmp{suffix}`` and the ``.{name}.{10 hex}.old`` copy of a folder being replaced;
#: the SQLite sidecars (``-journal``, ``-wal``, ``-shm``) of a temporary GeoPackage are matched too.
TEMPORARY_NAME = re.compile(r"^\.(?P<stem>.+)\.[0-9a-f]{10}\.(?:tmp(?:\.[^.]+)?|old)$")
_SIDECAR = re.compile(r"-(?:journal|wal|shm)$")


@contextmanager
def atomic_path(path: str | PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; move it onto ``path`` only if the block succeeds.

    Works for single files and for directories (Zarr stores). The temporary name keeps the
    suffix of ``path`` so that drivers choosing a format by extension still work. On failure
    the temporary file or directory is removed and ``path`` is left untouched.

    An existing ``path`` is replaced only by output of its own kind (a file by a file, a folder
    by a folder) and only with ``overwrite``; otherwise :class:`~fringenet.errors.InputError`
    is raised and ``path`` is left untouched. A folder that cannot be written and the writer's
    own OS errors (permission, disk full) raise :class:`~fringenet.errors.OutputError` naming
    ``path``, never the temporary.

    Examples
    --------
    >>> with atomic_path("out.tif") as tmp:  # doctest: +SKIP
    ...     write_something(tmp)
    """
    target = Path(path)
    if not overwrite:
        _refuse_existing(target)  # before the writer runs, so a refusal costs no work
    writable_folder(target.parent, target)
    tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:10]}.tmp{target.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"the writer produced no output at {tmp}")
        if not overwrite:
            _refuse_existing(target)  # again: something may have appeared while writing
        _refuse_other_kind(tmp, target)
        _replace(tmp, target)
    except BaseException as err:
        _remove(tmp)
        clear = _naming_target(err, tmp, target)
        if clear is None:
            raise
        raise clear from err


def writable_folder(
    folder: str | PathLike[str], target: str | PathLike[str] | None = None, *, create: bool = True
) -> Path:
    """Create ``folder`` (and its parents) and check that it can be written.

    Raises :class:`~fringenet.errors.OutputError` naming ``target`` (default: ``folder``) when a
    file stands where the folder should be or the folder is read-only. Without ``create`` only
    checks, so that a run can fail before its work without leaving an empty folder.
    """
    folder = Path(folder)
    named = folder if target is None else Path(target)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path.cwd())
    if not existing.is_dir():
        where = "is an existing file" if existing == named else f"cannot be written: {existing} is a file"
        raise OutputError(named, f"{where}, not a folder (give a folder path)")
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(named, f"cannot be written ({err.strerror or err})") from err
        existing = folder
    if not _writable(existing):
        raise OutputError(named, f"cannot be written (no write permission in {existing})")
    return folder


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def remove_stale_temporaries(folder: str | PathLike[str], output: str | None = None) -> list[Path]:
    """Remove what :func:`atomic_path` left in ``folder`` when its process was killed and return it.

    Only names of fringenet's own pattern (:data:`TEMPORARY_NAME`) are touched, and with ``output``
    (a file name, e.g. ``"inventory.gpkg"``) only the temporaries of that output.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = []
    for path in sorted(folder.iterdir()):
        found = TEMPORARY_NAME.match(_SIDECAR.sub("", path.name))
        if found and (output is None or found["stem"] in (Path(output).stem, output)):
            _remove(path)
            stale.append(path)
    return stale


def _naming_target(err: BaseException, tmp: Path, target: Path) -> InputError | None:
    """A writer's error as one naming ``target`` instead of its temporary; None keeps ``err``."""

    def untemp(text: str) -> str:
        return text.replace(str(tmp), str(target)).replace(tmp.name, target.name)

    if isinstance(err, InputError):
        if tmp.name not in str(err):
            return None
        source = target if err.source in (None, str(tmp)) else err.source
        return InputError(source, untemp(err.problem))
    if isinstance(err, OSError):  # also rasterio's RasterioIOError
        reason = err.strerror if err.strerror and err.filename else str(err)
        return OutputError(target, f"cannot be written ({untemp(reason)})")
    return None


def _refuse_existing(target: Path) -> None:
    if target.exists() or target.is_symlink():
        raise InputError(target, "exists already; refusing to overwrite it (choose another path)")


def _refuse_other_kind(tmp: Path, target: Path) -> None:
    # A folder given where a file is written (or the reverse) is the user's own data, not an
    # earlier output: replacing it would delete a whole folder. is_dir follows symlinks, so a
    # link to a folder counts as a folder.
    if not (target.exists() or target.is_symlink()) or target.is_dir() == tmp.is_dir():
        return
    if target.is_dir():
        problem = "is an existing folder; refusing to replace it with a file (give a file path)"
    else:
        problem = "is an existing file; refusing to replace it with a folder (give another path)"
    raise InputError(target, problem)


def _replace(tmp: Path, target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        # os.replace cannot overwrite a non-empty directory: move the old one aside first so
        # there is never a moment without a complete store at ``target``'s name for long.
        backup = target.with_name(f".{target.name}.{uuid.uuid4().hex[:10]}.old")
        os.replace(target, backup)
        try:
            os.replace(tmp, target)
        except BaseException:
            os.replace(backup, target)
            raise
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.replace(tmp, target)


def _remove(tmp: Path) -> None:
    if tmp.is_dir() and not tmp.is_symlink():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.unlink(missing_ok=True)
