"""`autosr_train`: training (placeholder until its issue lands)."""
from __future__ import annotations

import argparse
from typing import Optional, Sequence

from autosr.commands.common import command, not_available


@command("autosr_train")
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="autosr_train", description="AutoSR training (not available yet).")
    parser.parse_args(argv)
    return not_available("autosr_train", "training")
