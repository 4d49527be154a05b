"""`autosr_benchmark`: the papers' comparison table on your data in one command (documentation/reproducing.md).

    autosr_benchmark -d 1 -f 0 -c 2d_cpu --systems MIASSR EDSR RDN --steps 300
    autosr_benchmark -d 1 -f 0 --adversarial          # MIASSR Fig. 8: its four adversarial objectives
    autosr_benchmark --parameters                     # MIASSR Table 1's parameter counts at the papers' sizes
"""
from __future__ import annotations

import argparse
import logging
from typing import Optional, Sequence

from autosr.commands.common import add_device_option, add_folder_options, apply_folder_options, check_device, command
from autosr.commands.train import system_names
from autosr.errors import AutoSRError

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="autosr_benchmark",
        description="Train every listed system that has no final checkpoint yet (continuing an interrupted one), "
                    "evaluate them all on the same held-out slices, LR and scales, and write the papers' table: "
                    "benchmark.csv, benchmark.md, psnr_vs_scale.png and psnr_vs_parameters.png. Run it again to "
                    "resume: trained systems are kept.")
    p.add_argument("-d", dest="dataset", help="dataset id or name (planned and preprocessed)")
    p.add_argument("-f", dest="fold", default="0", help="fold to train and evaluate (0-4 or all; default 0)")
    p.add_argument("-c", dest="configuration", default=None,
                   help="plans configuration (default: 2d with a GPU, 2d_cpu without; CPU sizes are scaled down)")
    p.add_argument("--systems", nargs="+", default=None, metavar="NAME",
                   help="systems to compare (default: all): " + system_names())
    p.add_argument("--adversarial", action="store_true",
                   help="MIASSR Fig. 8 instead: MIASSR with WGAN-GP, WGAN, vanilla GAN and RaGAN")
    p.add_argument("--steps", type=int, default=None,
                   help="total steps of each system trained now (default: the plan's schedule)")
    p.add_argument("--warmup_steps", type=int, default=None,
                   help="L1-only warm-up steps of each system trained now (the rest of --steps is its GAN phase, for "
                        "systems with an adversarial loss)")
    p.add_argument("-o", "--override", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="plans override for every system trained now (repeatable)")
    p.add_argument("-s", dest="scales", nargs="+", type=float, default=None,
                   help="scales of the table (default 1.5 2 2.5 3 3.5 4, limited to the configuration's maximum)")
    p.add_argument("--split", choices=("val", "test"), default="val",
                   help="val: the fold's validation cases; test: imagesTs scans")
    p.add_argument("--max_slices", type=int, default=8, help="slices per case (evenly spread; default 8)")
    add_device_option(p)
    p.add_argument("-p", dest="plans", default="autosrPlans")
    p.add_argument("--output", default=None,
                   help="output folder (default $AUTOSR_RESULTS/DatasetXXX/benchmark_CONFIG_foldF)")
    p.add_argument("--parameters", action="store_true",
                   help="only print every system's parameters at its paper's size next to MIASSR's Table 1")
    add_folder_options(p, ("raw", "preprocessed", "results"))
    return p


@command("autosr_benchmark")
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from autosr.benchmark import ADVERSARIAL_SYSTEMS, check_systems, parameter_table, run_benchmark
    if args.parameters:
        print(parameter_table())
        return 0
    if args.dataset is None:
        raise AutoSRError("give -d DATASET (or --parameters)")
    apply_folder_options(args)
    check_device(args.device)
    if args.adversarial and args.systems:
        raise AutoSRError("--adversarial chooses the systems itself (MIASSR's four objectives); drop --systems")
    systems = check_systems(ADVERSARIAL_SYSTEMS if args.adversarial else args.systems) if (
        args.adversarial or args.systems) else None  # refused before anything runs
    from autosr.evaluation.engine import DEFAULT_SCALES
    from autosr.plans import parse_override
    print(parameter_table())
    out = run_benchmark(args.dataset, args.fold, configuration=args.configuration, systems=systems, steps=args.steps,
                        warmup_steps=args.warmup_steps,
                        scales=args.scales or DEFAULT_SCALES, split=args.split, max_slices=args.max_slices,
                        output=args.output, device=args.device, plans=args.plans,
                        overrides=dict(parse_override(o) for o in args.override))
    print(f"autosr_benchmark: results in {out}")
    return 0


__all__ = ["main", "build_parser"]


if __name__ == "__main__":
    raise SystemExit(main())
