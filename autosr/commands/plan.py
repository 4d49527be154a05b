"""`autosr_plan_and_preprocess` and its three steps, each a thin wrapper over :mod:`autosr.preprocessing.api`:
`autosr_extract_fingerprint`, `autosr_plan_experiment`, `autosr_preprocess`.
"""
from __future__ import annotations

import argparse
import logging
from typing import Optional, Sequence

from autosr.commands.common import add_folder_options, apply_folder_options, command

logger = logging.getLogger(__name__)

EPILOG = """\
examples:
  autosr_plan_and_preprocess -d 1 -np 4 --verify_dataset_integrity
  autosr_plan_and_preprocess -d Dataset002_BraTS --no_pp            # fingerprint and plans only
  autosr_plan_and_preprocess -d 1 --gpu_memory_target 24 --clean   # re-plan from scratch for a 24 GB GPU
  AUTOSR_PLANNERS_PATH=~/my_planners autosr_plan_and_preprocess -d 1 -pl MyPlanner
edit $AUTOSR_PREPROCESSED/DatasetXXX_Name/autosrPlans.json by hand: your edits survive re-planning
(without --clean) while they stay valid. See documentation/plans.md"""


def _parser(prog: str, description: str, fingerprint: bool, plan: bool, pp: bool) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-d", "--dataset", nargs="+", required=True, metavar="ID",
                   help="dataset id(s), name(s) or DatasetXXX_Name")
    if fingerprint or pp:
        p.add_argument("-np", "--num_processes", type=int, default=2, metavar="N",
                       help="worker processes over cases (default 2)")
    if fingerprint:
        p.add_argument("--verify_dataset_integrity", action="store_true",
                       help="check the raw dataset first (every problem listed, nothing written)")
    if plan:
        p.add_argument("-pl", "--planner", default="DefaultPlanner",
                       help="planner class name, from planners/ or $AUTOSR_PLANNERS_PATH (default DefaultPlanner)")
        p.add_argument("--gpu_memory_target", type=float, default=None, metavar="GB",
                       help="GPU memory the 2d configuration may use (default 8 GB)")
    if fingerprint or plan:
        p.add_argument("--clean", action="store_true",
                       help="recompute the fingerprint and re-plan from scratch, discarding hand edits of the plans")
    if pp:
        p.add_argument("-c", "--configurations", nargs="+", default=None, metavar="CONF",
                       help="configurations to preprocess (default: all in the plans)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug messages")
    add_folder_options(p, ("raw", "preprocessed"))
    return p


def _apply_common(args: argparse.Namespace) -> None:
    """Apply -v and the folder options (every command of this module calls it first)."""
    if args.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    apply_folder_options(args)


@command("autosr_plan_and_preprocess")
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser("autosr_plan_and_preprocess", "Fingerprint, plan and preprocess AutoSR datasets.", True, True, True)
    parser.add_argument("--no_pp", action="store_true", help="stop after planning (no preprocessing)")
    args = parser.parse_args(argv)
    _apply_common(args)
    from autosr.preprocessing.api import plan_and_preprocess_many
    for plans in plan_and_preprocess_many(args.dataset, num_processes=args.num_processes,
                                          verify_dataset_integrity=args.verify_dataset_integrity,
                                          planner=args.planner, clean=args.clean, no_pp=args.no_pp,
                                          gpu_memory_target=args.gpu_memory_target,
                                          configurations=args.configurations):
        _summary(plans)
    return 0


def _summary(plans) -> None:
    for name in plans.configuration_names:
        c = plans.configuration(name)
        print(f"{plans.dataset_name} [{name}]: slices along axis {plans.slicing_axis}, patch "
              f"{'×'.join(map(str, c.patch.size))} batch {c.patch.batch_size}, scales (1, {c.scales.max:g}], "
              f"{c.training.warmup_steps}+{c.training.gan_steps} steps")
    print(f"plans: {plans.path}")


@command("autosr_extract_fingerprint")
def fingerprint_main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser("autosr_extract_fingerprint", "Compute dataset_fingerprint.json of AutoSR datasets.",
                   True, False, False).parse_args(argv)
    _apply_common(args)
    from autosr.preprocessing.api import dataset_folders, extract_fingerprints, verify
    if args.verify_dataset_integrity:
        for d in args.dataset:
            verify(d)
    fps = extract_fingerprints(args.dataset, num_processes=args.num_processes, clean=args.clean)
    for d, fp in zip(args.dataset, fps):
        print(f"{fp['dataset_name']}: {fp['num_cases']} case(s), median spacing {fp['spacing']['median']} "
              f"(array order), fingerprint in {dataset_folders(d)[2] / 'dataset_fingerprint.json'}")
    return 0


@command("autosr_plan_experiment")
def plan_main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser("autosr_plan_experiment", "Write autosrPlans.json from the dataset fingerprint.",
                   False, True, False).parse_args(argv)
    _apply_common(args)
    from autosr.preprocessing.api import plan_experiment
    for d in args.dataset:
        _summary(plan_experiment(d, planner=args.planner, gpu_memory_target=args.gpu_memory_target, clean=args.clean))
    return 0


@command("autosr_preprocess")
def preprocess_main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser("autosr_preprocess", "Crop, normalise and store the cases of planned AutoSR datasets.",
                   False, False, True).parse_args(argv)
    _apply_common(args)
    from autosr.preprocessing.api import preprocess_datasets
    folders = preprocess_datasets(args.dataset, configurations=args.configurations, num_processes=args.num_processes)
    print("preprocessed: " + ", ".join(str(f) for f in folders))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
