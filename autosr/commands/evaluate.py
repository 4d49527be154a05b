"""`autosr_evaluate`: evaluation (placeholder until its issue lands)."""
from __future__ import annotations

import argparse
from typing import Optional, Sequence

from autosr.commands.common import command, not_available


@command("autosr_evaluate")
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="autosr_evaluate", description="AutoSR evaluation (not available yet).")
    parser.parse_args(argv)
    return not_available("autosr_evaluate", "evaluation")
