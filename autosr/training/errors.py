"""Errors of the training stage; each message says what is wrong and what to do."""
from __future__ import annotations

from autosr.errors import AutoSRError


class TrainingError(AutoSRError):
    """A training run cannot start or continue (bad fold, missing preprocessing, bad trainer name, …)."""


__all__ = ["TrainingError"]
