"""Name → constructor registries (BasicSR / timm style).

Plans and command lines name networks and losses by string; a registry turns the name into an
object and, unlike a bare ``dict``, fails with a message that lists what *is* available, which
is what a user who mistyped ``--network`` or a plans key needs to see.

    NETWORKS = Registry("network")

    @NETWORKS.register()
    class MetaSR(nn.Module): ...

    net = NETWORKS.build("MetaSR", in_channels=1, width=8)
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, TypeVar

T = TypeVar("T", bound=Callable[..., Any])


class Registry:
    """A named collection of classes or factory functions."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: Dict[str, Callable[..., Any]] = {}

    def register(self, name: Optional[str] = None) -> Callable[[T], T]:
        """Decorator registering a class/function under ``name`` (default: its ``__name__``)."""

        def deco(obj: T) -> T:
            key = name or obj.__name__
            existing = self._items.get(key)
            # Re-importing a module (e.g. importlib.reload in a notebook) re-registers the same
            # object; only a *different* object under a taken name is a real clash.
            if existing is not None and existing is not obj and _qualname(existing) != _qualname(obj):
                raise KeyError(f"{self.kind} {key!r} is already registered (by {_qualname(existing)})")
            self._items[key] = obj
            return obj

        return deco

    def names(self) -> List[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"

    def get(self, name: str) -> Callable[..., Any]:
        """The registered object for ``name``; ``KeyError`` listing valid names otherwise.

        ``module:Name`` or ``path/to/file.py:Name`` imports an object from outside AutoSR, so
        plans can name a user's network without editing the package.
        """
        if is_import_spec(name):
            return import_object(name)
        try:
            return self._items[name]
        except KeyError:
            close = difflib.get_close_matches(str(name), self.names(), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise KeyError(f"unknown {self.kind} {name!r}. Valid {self.kind} names: "
                           f"{', '.join(self.names()) or '(none registered)'}.{hint}") from None

    def build(self, name: str, **kwargs: Any) -> Any:
        """Instantiate ``name`` with ``kwargs``, checked against its signature first.

        Raises ``KeyError`` (unknown name) or ``TypeError`` naming the unexpected or missing
        keyword arguments and listing the valid ones.
        """
        obj = self.get(name)
        sig = inspect.signature(obj)
        params = sig.parameters
        takes_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        valid = [n for n, p in params.items()
                 if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
        if not takes_var_kw:
            unknown = sorted(set(kwargs) - set(valid))
            if unknown:
                raise TypeError(f"{self.kind} {name!r} got unexpected keyword argument(s) {unknown}. "
                                f"Valid keyword arguments: {', '.join(valid)}")
        missing = [n for n in valid if params[n].default is inspect.Parameter.empty and n not in kwargs]
        if missing:
            raise TypeError(f"{self.kind} {name!r} is missing required keyword argument(s) {missing}. "
                            f"Valid keyword arguments: {', '.join(valid)}")
        return obj(**kwargs)


def is_import_spec(name: str) -> bool:
    """True for ``module:Name`` / ``file.py:Name`` (but not a Windows drive such as ``C:``)."""
    return ":" in name and not (len(name) > 1 and name[1] == ":" and name.count(":") == 1)


def import_module_or_file(spec: str):
    """Import ``spec`` as a dotted module name, or from a ``.py`` file path (cached by path)."""
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        path = Path(spec).expanduser().resolve()
        if not path.is_file():
            raise KeyError(f"{path}: file does not exist")
        name = f"autosr_user_{path.stem}_{abs(hash(str(path)))}"
        if name not in sys.modules:
            mod_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(mod_spec)  # type: ignore[arg-type]
            sys.modules[name] = module
            try:
                mod_spec.loader.exec_module(module)  # type: ignore[union-attr]
            except BaseException:
                del sys.modules[name]
                raise
        return sys.modules[name]
    try:
        return importlib.import_module(spec)
    except ImportError as exc:
        raise KeyError(f"cannot import module {spec!r}: {exc}") from None


def import_object(spec: str) -> Any:
    """The object named by ``module:Name`` or ``path/to/file.py:Name``; ``KeyError`` if absent."""
    module_spec, _, attr = spec.rpartition(":")
    obj = getattr(import_module_or_file(module_spec), attr, None)
    if obj is None:
        raise KeyError(f"{attr!r} not found in {module_spec!r}")
    return obj


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


NETWORKS = Registry("network")
#: Feature extractors of a generator (``(B, C, h, w) → (B, width, h, w)``), chosen by ``network.body``.
BODIES = Registry("body")
#: Upsamplers of a generator (LR features → SR image at a scale), chosen by ``network.upsampler``.
UPSAMPLERS = Registry("upsampler")
LOSSES = Registry("loss")

__all__ = ["Registry", "NETWORKS", "BODIES", "UPSAMPLERS", "LOSSES", "import_object", "import_module_or_file",
           "is_import_spec"]
