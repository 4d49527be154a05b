"""Trainer classes by name: ``-tr MetaSRTrainer``, ``-tr my_pkg.trainers:MyTrainer`` or
``-tr /path/to/file.py:MyTrainer``, so variants need no edit of AutoSR (unlike nnU-Net, whose
trainers must live inside the installed package)."""
from __future__ import annotations

from typing import Type

from autosr.registry import Registry, import_object, is_import_spec
from autosr.training.errors import TrainingError

#: Built-in trainers register here with ``@TRAINERS.register()``.
TRAINERS = Registry("trainer")


def get_trainer_class(name: str) -> Type:
    """The trainer class for ``name``: a registered name or ``module:Class`` / ``file.py:Class``."""
    import autosr.training.trainer  # noqa: F401  (registers the built-in trainers)

    if is_import_spec(name):
        try:
            cls = import_object(name)
        except KeyError as exc:
            raise TrainingError(f"trainer {name!r}: {exc.args[0]}") from None
        if not isinstance(cls, type):
            raise TrainingError(f"trainer {name!r} is not a class")
        return cls
    try:
        return TRAINERS.get(name)
    except KeyError as exc:
        raise TrainingError(f"{exc.args[0]} A trainer outside AutoSR can be given as module:Class "
                            f"or path/to/file.py:Class.") from None


__all__ = ["TRAINERS", "get_trainer_class"]
