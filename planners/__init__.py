"""Experiment planners: classes that turn a dataset fingerprint into plans, picked by class name.

A planner is a subclass of :class:`~autosr.planners.default_planner.DefaultPlanner` defined in a
module of this folder, or in a ``*.py`` file of a folder named by the environment variable
``AUTOSR_PLANNERS_PATH`` (several folders separated by ``os.pathsep``). ``-pl NAME`` picks one::

    from autosr.planners import get_planner
    planner_cls = get_planner("DefaultPlanner")
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import os
import pkgutil
import sys
import zlib
from pathlib import Path
from typing import Dict, List, Type

from autosr.errors import AutoSRError

logger = logging.getLogger(__name__)
ENV_VAR = "AUTOSR_PLANNERS_PATH"


class PlannerNotFoundError(AutoSRError):
    """No planner class has the requested name."""


def _classes(module, base: type, origin: str) -> Dict[str, tuple]:
    return {name: (obj, origin) for name, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, base) and obj.__module__ == module.__name__}


def _user_modules() -> List[tuple]:
    """``(module, file)`` for every ``*.py`` in the folders of ``$AUTOSR_PLANNERS_PATH``."""
    out = []
    for folder in filter(None, os.environ.get(ENV_VAR, "").split(os.pathsep)):
        if not Path(folder).is_dir():
            logger.warning("%s names %s, which is not a folder; ignored", ENV_VAR, folder)
            continue
        for path in sorted(Path(folder).glob("*.py")):
            mod_name = f"autosr_user_planners.{path.stem}_{zlib.crc32(str(path.resolve()).encode()):08x}"
            if mod_name in sys.modules:
                out.append((sys.modules[mod_name], path))
                continue
            spec = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:  # a broken user file must not hide the built-in planners
                del sys.modules[mod_name]
                logger.warning("%s: cannot import planner file (%s: %s); skipped", path, type(exc).__name__, exc)
                continue
            out.append((module, path))
    return out


def available_planners() -> Dict[str, tuple]:
    """``{class name: (class, where it is defined)}`` of every planner found."""
    from autosr.planners.default_planner import DefaultPlanner

    found: Dict[str, tuple] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.update(_classes(module, DefaultPlanner, f"{__name__}.{info.name}"))
    for module, path in _user_modules():
        for name, (cls, origin) in _classes(module, DefaultPlanner, str(path)).items():
            if name in found:
                logger.warning("planner %s in %s has the name of the one in %s; the first is used",
                               name, origin, found[name][1])
                continue
            found[name] = (cls, origin)
    return found


def get_planner(name: str) -> Type:
    """The planner class called ``name``; a clear error lists the available ones."""
    found = available_planners()
    if name not in found:
        where = f"planners/ and ${ENV_VAR}" + (f" ({os.environ[ENV_VAR]})" if os.environ.get(ENV_VAR) else " (unset)")
        raise PlannerNotFoundError(f"no planner named {name!r} in {where}. Available planners: "
                                   f"{', '.join(sorted(found))}. A planner is a subclass of DefaultPlanner "
                                   f"(see documentation/plans.md)")
    return found[name][0]


__all__ = ["get_planner", "available_planners", "PlannerNotFoundError", "ENV_VAR"]
