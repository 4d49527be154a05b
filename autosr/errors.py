"""Exceptions that reach the user: each message says which file, what is wrong and what to do."""
from __future__ import annotations

from typing import Iterable, List


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

