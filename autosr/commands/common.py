"""What every command shares: logging set-up and turning AutoSR errors into one clear message."""
from __future__ import annotations

import functools
import logging
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


def command(prog: str) -> Callable:
    """Decorate a ``main(argv) -> int`` so AutoSR errors print ``prog: error: …`` and exit non-zero.

    Exit codes: 0 success, 1 an AutoSR error (bad input), 130 interrupted (Ctrl-C).
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
            except KeyboardInterrupt:
                print(f"{prog}: interrupted", file=sys.stderr)
                return 130
        return main
    return wrap


def not_available(prog: str, what: str) -> int:
    """Say plainly that a sub-feature does not exist yet (exit 2) instead of crashing."""
    print(f"{prog}: {what} is not available in this version of AutoSR yet", file=sys.stderr)
    return 2
