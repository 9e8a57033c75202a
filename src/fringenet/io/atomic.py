"""Write-then-rename, so a reader never sees a half-written output file or Zarr store."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path

from fringenet.errors import InputError


@contextmanager
def atomic_path(path: str | PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; move it onto ``path`` only if the block succeeds.

    Works for single files and for directories (Zarr stores). The temporary name keeps the
    suffix of ``path`` so that drivers choosing a format by extension still work. On failure
    the temporary file or directory is removed and ``path`` is left untouched.

    An existing ``path`` is replaced only by output of its own kind (a file by a file, a folder
    by a folder) and only with ``overwrite``; otherwise :class:`~fringenet.errors.InputError`
    is raised and ``path`` is left untouched.

    Examples
    --------
    >>> with atomic_path("out.tif") as tmp:  # doctest: +SKIP
    ...     write_something(tmp)
    """
    target = Path(path)
    if not overwrite:
        _refuse_existing(target)  # before the writer runs, so a refusal costs no work
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:10]}.tmp{target.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"the writer produced no output at {tmp}")
        if not overwrite:
            _refuse_existing(target)  # again: something may have appeared while writing
        _refuse_other_kind(tmp, target)
        _replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


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
