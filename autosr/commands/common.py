"""What every command shares: logging set-up and turning AutoSR errors into one clear message."""
from __future__ import annotations

import errno
import functools
import logging
import os
import re
import sys
from typing import Callable, Optional, Sequence

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
    """
    def wrap(fn: Callable[[Optional[Sequence[str]]], int]) -> Callable[[Optional[Sequence[str]]], int]:
        @functools.wraps(fn)
        def main(argv: Optional[Sequence[str]] = None) -> int:
            setup_logging()
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
        return main
    return wrap


def not_available(prog: str, what: str) -> int:
    """Say plainly that a sub-feature does not exist yet (exit 2) instead of crashing."""
    print(f"{prog}: {what} is not available in this version of AutoSR yet", file=sys.stderr)
    return 2
