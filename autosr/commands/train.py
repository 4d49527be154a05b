"""`autosr_train DATASET FOLD`: train (or validate) one fold; a thin wrapper over
:func:`autosr.training.api.train`. Multi-GPU: ``torchrun --nproc_per_node=N -m autosr.commands.train …``.
"""
from __future__ import annotations

import argparse
from typing import Any, Dict, Optional, Sequence

from autosr.commands.common import add_device_option, add_folder_options, apply_folder_options, check_device, command
from autosr.plans import parse_override

EPILOG = """\
every hyper-parameter comes from the plans (autosrPlans.json) and can be overridden:
  -o training.lr=2e-4 -o network.depth=8 -o patch.batch_size=8 -o scales.sampling=uniform
examples:
  autosr_train 1 0                                   # fold 0, 2d (GPU) or 2d_cpu (no GPU)
  autosr_train Dataset001_BrainMR all -c 2d --steps 20000
  autosr_train 1 0 --c                               # continue from checkpoint_latest.pth
  autosr_train 1 0 --overwrite                       # train a fold that holds an earlier run anew
  autosr_train 1 0 --device cuda:1                   # on the second GPU
  autosr_train 1 0 --preprocessed /data/pp --results /data/models   # folders other than $AUTOSR_*
  autosr_train 2 0 --pretrained_weights path/to/fold_0/checkpoint_final.pth   # transfer learning
  torchrun --nproc_per_node=4 -m autosr.commands.train 1 0 -c 2d
see documentation/training.md"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="autosr_train", description="Train an AutoSR (MIASSR) model on one fold.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="dataset id, name or DatasetXXX_Name")
    p.add_argument("fold", help="fold 0-4 of splits_final.json, or 'all'")
    p.add_argument("-c", "--configuration", default=None,
                   help="plans configuration (default: 2d with a GPU, 2d_cpu without)")
    p.add_argument("-tr", "--trainer", default="MetaSRTrainer",
                   help="trainer class: a registered name or module:Class / path/file.py:Class (default MetaSRTrainer)")
    p.add_argument("-p", "--plans", default="autosrPlans", help="plans name (default autosrPlans)")
    add_device_option(p)
    p.add_argument("-o", "--override", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a plans value (repeatable), e.g. -o training.lr=2e-4")
    p.add_argument("--steps", type=int, default=None,
                   help="total steps (warm-up proportion and lr schedule shape kept)")
    p.add_argument("--warmup_steps", type=int, default=None, help="L1-only warm-up steps")
    p.add_argument("--perceptual", choices=("on", "auto", "off"), default=None,
                   help="VGG19 weights of a PerceptualLoss in training.losses: on (error without them), auto (the "
                        "loss left out without them, said clearly), off (left out). Default: the plans' value")
    p.add_argument("--vgg_weights", default=None, help="VGG19 weights file (else torch hub cache, else download)")
    p.add_argument("--num_workers", type=int, default=None, help="background data workers (0: in-process)")
    p.add_argument("--deterministic", action="store_true", help="reproducible run (in-process data loading)")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--c", dest="continue_training", action="store_true",
                   help="continue from checkpoint_latest.pth of this fold")
    p.add_argument("--overwrite", action="store_true",
                   help="train a fold that holds checkpoints of an earlier run anew, deleting them (without it, "
                        "or --c, such a fold is refused)")
    p.add_argument("--pretrained_weights", default=None, metavar="CKPT",
                   help="start from another model's checkpoint (transfer learning)")
    p.add_argument("--system", default=None, metavar="NAME",
                   help="one of the papers' systems (its network and losses over the planned configuration, sizes "
                        "scaled down on CPU; own model folder ...__SYSTEM): " + system_names())
    p.add_argument("--val_only", action="store_true",
                   help="only validate the final (else latest) checkpoint; writes validation.json")
    add_folder_options(p, ("preprocessed", "results"))
    return p


def system_names() -> str:
    """Every system name and the variants, for a command's ``--help``."""
    from autosr.systems import SYSTEMS, VARIANTS  # no torch import: systems.py imports it only to count parameters
    return (", ".join(SYSTEMS) + f"; each also as SYSTEM+VARIANT, VARIANT one of {', '.join(VARIANTS[:-1])} (that "
            f"adversarial objective + VGG19 perceptual) or L1 (L1 alone)")


def overrides_from_args(args: argparse.Namespace) -> Dict[str, Any]:
    """``-o`` pairs plus the shortcut flags as dotted plans keys."""
    out: Dict[str, Any] = dict(parse_override(o) for o in args.override)
    for flag, key in (("perceptual", "training.perceptual"), ("vgg_weights", "training.vgg_weights"),
                      ("num_workers", "training.num_workers"), ("seed", "training.seed")):
        if getattr(args, flag) is not None:
            out[key] = getattr(args, flag)
    if args.deterministic:
        out["training.deterministic"] = True
    return out


@command("autosr_train")
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    apply_folder_options(args)  # before anything reads the folders; worker processes inherit them
    check_device(args.device)
    from autosr.training.api import train  # torch loads only once the arguments are fine

    folder = train(args.dataset, args.fold, configuration=args.configuration, trainer=args.trainer, plans=args.plans,
                   device=args.device, overrides=overrides_from_args(args), continue_training=args.continue_training,
                   pretrained_weights=args.pretrained_weights, val_only=args.val_only, steps=args.steps,
                   warmup_steps=args.warmup_steps, overwrite=args.overwrite, system=args.system)
    print(f"autosr_train: results in {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
