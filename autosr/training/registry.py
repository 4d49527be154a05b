"""Trainer classes by name: ``-tr MetaSRTrainer``, ``-tr my_pkg.trainers:MyTrainer`` or
``-tr /path/to/file.py:MyTrainer``, so variants need no edit of AutoSR (unlike nnU-Net, whose
trainers must live inside the installed package)."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Type

from autosr.registry import Registry
from autosr.training.errors import TrainingError

#: Built-in trainers register here with ``@TRAINERS.register()``.
TRAINERS = Registry("trainer")


def _load_module(spec: str):
    """Import ``spec`` as a dotted module name, or from a ``.py`` file path."""
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        path = Path(spec).expanduser().resolve()
        if not path.is_file():
            raise TrainingError(f"trainer file {path} does not exist")
        name = f"autosr_user_trainer_{abs(hash(str(path)))}"
        if name in sys.modules:
            return sys.modules[name]
        mod_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(mod_spec)  # type: ignore[arg-type]
        sys.modules[name] = module
        mod_spec.loader.exec_module(module)  # type: ignore[union-attr]
        return module
    try:
        return importlib.import_module(spec)
    except ImportError as exc:
        raise TrainingError(f"cannot import trainer module {spec!r}: {exc}") from None


def get_trainer_class(name: str) -> Type:
    """The trainer class for ``name``: a registered name or ``module:Class`` / ``file.py:Class``."""
    import autosr.training.trainer  # noqa: F401  (registers the built-in trainers)

    if ":" in name and not (len(name) > 1 and name[1] == ":" and name.count(":") == 1):  # not "C:\path"
        module_spec, _, cls_name = name.rpartition(":")
        module = _load_module(module_spec)
        cls = getattr(module, cls_name, None)
        if cls is None:
            raise TrainingError(f"trainer {cls_name!r} not found in {module_spec!r}")
        if not isinstance(cls, type):
            raise TrainingError(f"trainer {name!r} is not a class")
        return cls
    try:
        return TRAINERS.get(name)
    except KeyError as exc:
        raise TrainingError(f"{exc.args[0]} A trainer outside AutoSR can be given as module:Class "
                            f"or path/to/file.py:Class.") from None


__all__ = ["TRAINERS", "get_trainer_class"]
