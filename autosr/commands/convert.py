"""`autosr_convert`: dataset conversion (placeholder until its issue lands)."""
from __future__ import annotations

import argparse
from typing import Optional, Sequence

from autosr.commands.common import command, not_available


@command("autosr_convert")
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="autosr_convert", description="AutoSR dataset conversion (not available yet).")
    parser.parse_args(argv)
    return not_available("autosr_convert", "dataset conversion")

verify_main = main
