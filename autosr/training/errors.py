"""Errors of the training stage; each message says what is wrong and what to do."""
from __future__ import annotations

from autosr.errors import AutoSRError


class TrainingError(AutoSRError):
    """A training run cannot start or continue (bad fold, missing preprocessing, bad trainer name, …)."""


class CheckpointError(AutoSRError):
    """A checkpoint file is missing, corrupt, or belongs to another dataset / configuration."""


__all__ = ["TrainingError", "CheckpointError"]
