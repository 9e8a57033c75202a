"""Exceptions that fringenet raises for bad input.

Every user-facing input problem is raised as :class:`InputError`, which names the offending
file (or object) and the problem in one line, so the CLI can print it without a traceback.
"""

from __future__ import annotations

from os import PathLike


class FringenetError(Exception):
    """Base class of fringenet's own exceptions."""


class InputError(FringenetError, ValueError):
    """A file or array given to fringenet cannot be used.

    Parameters
    ----------
    source
        The file path, or a short description of the in-memory object (e.g. ``"stack"``).
    problem
        What is wrong, in words a user can act on.
    """

    def __init__(self, source: str | PathLike[str] | None, problem: str) -> None:
        self.source = None if source is None else str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}" if self.source else problem)

    def __reduce__(self) -> tuple[type[InputError], tuple[str | None, str]]:
        # picklable (a Dask worker's error reaches the caller as itself): args are (source, problem)
        return type(self), (self.source, self.problem)


class NetworkError(InputError):
    """A small-baseline network cannot be inverted (e.g. it is disconnected)."""


class OutputError(InputError, OSError):
    """An output cannot be written (a file where a folder is needed, no permission, disk full).

    It names the output the user gave, never a temporary file, and is also an :class:`OSError`.
    """
