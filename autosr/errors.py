"""Exceptions that reach the user: each message says which file, what is wrong and what to do."""
from __future__ import annotations

import contextlib
import os
from typing import Iterable, Iterator, List


class AutoSRError(Exception):
    """Base class of errors shown to the user as one clear message (no traceback) by the CLI."""


class DatasetError(AutoSRError):
    """A dataset folder, dataset.json or dataset reference is wrong."""


class ImageReadError(AutoSRError):
    """An image file or DICOM series cannot be read."""


class ProblemsError(AutoSRError):
    """Several problems found in one pass (integrity checks); one line per problem."""

    def __init__(self, headline: str, problems: Iterable[str]):
        self.headline = headline
        self.problems: List[str] = list(problems)
        super().__init__(headline + "\n" + "\n".join(f"  - {p}" for p in self.problems))


@contextlib.contextmanager
def writing(path: "os.PathLike[str] | str") -> Iterator[None]:
    """Name ``path`` in an operating-system error raised while writing it.

    A full disk surfaces in ``file.write`` or ``close`` as ``OSError(ENOSPC)`` with no file name; the
    user needs to know where AutoSR was writing, so the error is re-raised with ``path`` attached.
    """
    try:
        yield
    except OSError as exc:
        if exc.errno is not None and exc.filename is None:
            raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), os.fspath(path)) from exc
        raise
