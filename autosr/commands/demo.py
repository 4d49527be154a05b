"""``autosr_demo`` (``make demo``): the whole pipeline on real anatomy in one command."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from autosr.commands.common import add_device_option, check_device, command


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="autosr_demo",
        description="Download a real T1 MRI (the MNI152 template inside nilearn's PyPI wheel), then run "
                    "autosr_convert → autosr_plan_and_preprocess → autosr_train (short CPU configuration) → "
                    "autosr_predict at 2.5× → autosr_evaluate, printing where everything went.")
    p.add_argument("--workdir", type=Path, default=Path("autosr_demo"),
                   help="folder for data, models and results (default ./autosr_demo); re-running reuses it")
    p.add_argument("-s", "--scale", type=float, default=2.5, help="prediction scale (default 2.5)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the 2d_cpu plan's)")
    add_device_option(p)
    p.add_argument("--fresh", action="store_true", help="delete the work folder first and start over")
    return p


@command("autosr_demo")
def main(argv: Optional[Sequence[str]] = None) -> int:
    from autosr.demo import run_demo
    args = build_parser().parse_args(argv)
    check_device(args.device)  # before the download and the first step
    run_demo(args.workdir, scale=args.scale, steps=args.steps, device=args.device, fresh=args.fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
