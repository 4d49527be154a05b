"""What every command shares: logging set-up, turning AutoSR errors into one clear message, the data-folder
options (``--raw``/``--preprocessed``/``--results``) and ``--device``."""
from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import logging
import os
import re
import sys
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from autosr.errors import AutoSRError


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (pytest and tqdm swap it), not the one at start-up."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # logging.StreamHandler.__init__ assigns it
        pass


def setup_logging(verbose: bool = False, log_file: Optional[str] = None) -> None:
    """Plain messages on stderr (INFO, or DEBUG with ``verbose``), optional log file."""
    root = logging.getLogger()
    if getattr(root, "_autosr_configured", False):
        return
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    h = _StderrHandler()
    h.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(h)
    root._autosr_configured = True  # type: ignore[attr-defined]
    logging.getLogger("PIL").setLevel(logging.WARNING)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)


_OS_HINTS = {
    errno.ENOSPC: "free space or choose a folder on another disk",
    errno.EDQUOT: "free space or choose a folder on another disk",
    errno.EROFS: "choose a folder on a writable disk",
    errno.EACCES: "check the permissions of the file and its folder, or choose another folder",
    errno.EPERM: "check the permissions of the file and its folder, or choose another folder",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
    errno.EISDIR: "a folder stands where a file is expected: check the path",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n)",
}

# Libraries that wrap the OS error in their own exception (SimpleITK's writers, torch.save) keep the
# OS's wording in the text; recognise it so the user gets the same one line.
_WRAPPED = [(re.compile(p, re.IGNORECASE), e) for p, e in (
    (r"no space left on device", errno.ENOSPC), (r"disk quota exceeded", errno.EDQUOT),
    (r"read-only file system", errno.EROFS), (r"permission denied", errno.EACCES))]


def os_error_message(exc: BaseException) -> Optional[str]:
    """One line for an operating-system failure (which file, what the OS said, what to do), else ``None``."""
    if isinstance(exc, OSError) and exc.errno is not None:
        where = exc.filename if exc.filename is not None else ""
        if exc.filename2 is not None:
            where = f"{where} -> {exc.filename2}"
        text = exc.strerror or os.strerror(exc.errno)
        hint = _OS_HINTS.get(exc.errno, "check the path and the disk")
        return f"{where}: {text}; {hint}" if where else f"{text}; {hint}"
    if isinstance(exc, (RuntimeError, OSError)):
        msg = " ".join(str(exc).split())
        for pattern, code in _WRAPPED:
            if pattern.search(msg):
                files = [f.rstrip(":.,") for f in re.findall(r"(/[^\s'\"]+)", msg)
                         if not re.search(r"\.(cxx|hxx|cpp|h|txx)(:\d+)*:?$", f)]
                where = f"{files[-1]}: " if files else ""
                return f"{where}{os.strerror(code)}; {_OS_HINTS[code]}"
    if isinstance(exc, MemoryError):
        return "out of memory; close other programs, or lower --memory_mb / the batch size"
    return None


def command(prog: str) -> Callable:
    """Decorate a ``main(argv) -> int`` so AutoSR errors print ``prog: error: …`` and exit non-zero.

    Exit codes: 0 success, 1 an AutoSR error (bad input) or an operating-system failure (disk full,
    read-only or forbidden folder: one line naming the file, never a traceback), 130 interrupted (Ctrl-C).
    The data-folder variables that ``--raw``/``--preprocessed``/``--results`` set are put back when
    ``main`` returns, so a command called from Python (the demo, tests) leaves no trace in the next.
    """
    def wrap(fn: Callable[[Optional[Sequence[str]]], int]) -> Callable[[Optional[Sequence[str]]], int]:
        @functools.wraps(fn)
        def main(argv: Optional[Sequence[str]] = None) -> int:
            setup_logging()
            with _folder_variables_restored():
                return _run(prog, fn, argv)
        return main
    return wrap


def _run(prog: str, fn: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]]) -> int:
    """``fn(argv)`` with AutoSR and operating-system errors turned into ``prog: error: …`` (exit 1)."""
    try:
        return int(fn(argv) or 0)
    except AutoSRError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except (OSError, RuntimeError, MemoryError) as exc:
        line = os_error_message(exc)
        if line is None:
            raise
        print(f"{prog}: error: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


@contextlib.contextmanager
def _folder_variables_restored() -> Iterator[None]:
    """Put ``AUTOSR_RAW``/``_PREPROCESSED``/``_RESULTS`` back as they were when the block ends."""
    saved = {var: os.environ.get(var) for var, _ in FOLDER_OPTIONS.values()}
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def not_available(prog: str, what: str) -> int:
    """Say plainly that a sub-feature does not exist yet (exit 2) instead of crashing."""
    print(f"{prog}: {what} is not available in this version of AutoSR yet", file=sys.stderr)
    return 2


# --------------------------------------------------------------------------- data folders

#: ``--KIND`` option → (environment variable it sets, what the folder holds).
FOLDER_OPTIONS = {"raw": ("AUTOSR_RAW", "raw datasets (DatasetXXX_Name)"),
                  "preprocessed": ("AUTOSR_PREPROCESSED", "fingerprints, plans and preprocessed cases"),
                  "results": ("AUTOSR_RESULTS", "trained models and their evaluations")}


def add_folder_options(parser: argparse.ArgumentParser, kinds: Sequence[str]) -> None:
    """Add ``--raw DIR`` / ``--preprocessed DIR`` / ``--results DIR`` (those in ``kinds``) to ``parser``.

    Each defaults to its environment variable (``AUTOSR_RAW``, …); :func:`apply_folder_options`
    makes a given one take effect.
    """
    group = parser.add_argument_group("data folders (default: the environment variables)")
    for kind in kinds:
        var, what = FOLDER_OPTIONS[kind]
        group.add_argument(f"--{kind}", dest=f"{kind}_folder", metavar="DIR", default=None,
                           help=f"{what} (default ${var}, else ./autosr_data/{kind})")


def apply_folder_options(args: argparse.Namespace) -> None:
    """Make the folder options given in ``args`` the data folders of this run, before anything else runs.

    Each given option is checked (an existing folder, or one that can be created: not a file, no
    file on its path, a writable parent) and then **set as its environment variable in this
    process** (``AUTOSR_RAW``, …, as an absolute path). So every lower layer, which reads the
    folders through :mod:`autosr.paths`, and every process started from here (``torchrun``/DDP
    workers, the demo's steps) uses it, with nothing passed down by hand. Options not given leave
    the variables as they are.
    """
    for kind, (var, _) in FOLDER_OPTIONS.items():
        value = getattr(args, f"{kind}_folder", None)
        if value is None:
            continue
        folder = Path(value).expanduser().absolute()
        _check_folder(f"--{kind} {value}", folder)
        os.environ[var] = str(folder)


def _check_folder(option: str, folder: Path) -> None:
    """Raise :class:`AutoSRError` unless ``folder`` is a folder or could be made one (nothing is created here)."""
    if folder.exists():
        if not folder.is_dir():
            raise AutoSRError(f"{option}: {folder} is a file, not a folder; give a folder (it is created when missing)")
        return
    parent = folder.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise AutoSRError(f"{option}: {parent} is a file, so the folder {folder} cannot be created; check the path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise AutoSRError(f"{option}: {folder} does not exist and cannot be created ({parent} is not writable); "
                          f"create it, or choose another folder")


# --------------------------------------------------------------------------- which model

def add_model_options(parser: argparse.ArgumentParser, model_help: str, folds_help: str,
                      checkpoint_help: str) -> "argparse._ArgumentGroup":
    """The options that name a trained model (``-d`` with ``-c/-tr/-p/--system``, or ``-m``; ``-f``, ``-chk``),
    shared by the commands that use one; returns the group for a command's own model options."""
    m = parser.add_argument_group("model")
    which = m.add_mutually_exclusive_group(required=True)
    which.add_argument("-d", dest="dataset", help="dataset id or name (model under $AUTOSR_RESULTS)")
    which.add_argument("-m", dest="model_folder", help=model_help)
    m.add_argument("-f", dest="folds", nargs="+", default=None, help=folds_help)
    m.add_argument("-tr", dest="trainer", default="MetaSRTrainer", help="trainer name (default MetaSRTrainer)")
    m.add_argument("-p", dest="plans", default="autosrPlans", help="plans name (default autosrPlans)")
    m.add_argument("-c", dest="configuration", default=None,
                   help="configuration (default: the one that exists, 2d preferred over 2d_cpu)")
    m.add_argument("--system", default=None, metavar="NAME",
                   help="with -d: the model trained with autosr_train --system NAME (folder …__NAME)")
    m.add_argument("-chk", dest="checkpoint", default="checkpoint_final.pth", help=checkpoint_help)
    return m


def model_folder_of(args: argparse.Namespace, packages: bool = False) -> Path:
    """The model folder :func:`add_model_options` named: ``-d …`` resolved under the results folder, or ``-m``
    (with ``packages``, also a model zip or ``builtin:NAME``, opened by
    :func:`autosr.inference.model_package.open_model`)."""
    from autosr.inference.model_folder import resolve_model_folder
    if args.model_folder is None:
        return resolve_model_folder(args.dataset, args.trainer, args.plans, args.configuration, system=args.system)
    if packages:
        from autosr.inference.model_package import open_model
        return open_model(args.model_folder)
    return Path(args.model_folder)


# --------------------------------------------------------------------------- device

DEVICE_HELP = "auto (CUDA, then Apple MPS, then CPU; default), cpu, cuda, cuda:N (GPU number N, from 0) or mps"


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``), checked by :func:`check_device`."""
    parser.add_argument("--device", default="auto", metavar="DEVICE", help=DEVICE_HELP)


def check_device(device: str) -> None:
    """Refuse a ``--device`` this machine lacks (:class:`autosr.devices.DeviceError` naming it) before any work.

    Imports torch (lazily: ``--help`` and argument errors stay fast).
    """
    from autosr.devices import parse_device
    parse_device(device)
