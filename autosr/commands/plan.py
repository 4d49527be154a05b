"""`autosr_plan_and_preprocess`: planning and preprocessing (placeholder until its issue lands)."""
from __future__ import annotations

import argparse
from typing import Optional, Sequence

from autosr.commands.common import command, not_available


@command("autosr_plan_and_preprocess")
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="autosr_plan_and_preprocess", description="AutoSR planning and preprocessing (not available yet).")
    parser.parse_args(argv)
    return not_available("autosr_plan_and_preprocess", "planning and preprocessing")

fingerprint_main = main
plan_main = main
preprocess_main = main
