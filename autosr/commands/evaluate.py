"""`autosr_evaluate`: PSNR / SSIM / NRMSE of a trained model vs baselines, or of any predictions vs references.

    autosr_evaluate -d 1 -f 0 -s 1.5 2 2.5 3 3.5 4 --baselines bicubic
    autosr_evaluate -ref hr_scans/ -pred other_tool_output/ -o comparison/
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from fractions import Fraction
from typing import Dict, List, Optional, Sequence, Tuple

from autosr.commands.common import add_device_option, add_folder_options, apply_folder_options, check_device, command
from autosr.errors import AutoSRError

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="autosr_evaluate",
        description="Evaluate a trained AutoSR model against baselines on held-out scans (-d/-f), or compare any "
                    "predictions with references at matching geometry (-ref/-pred). Writes metrics_per_slice.csv, "
                    "metrics_per_case.csv, summary.json, metrics_vs_scale.png and examples.png; prints the summary. "
                    "See documentation/evaluation.md.")
    p.add_argument("-d", dest="dataset", help="dataset id or name")
    p.add_argument("-f", dest="fold", default=None, help="fold of the model to evaluate (0-4 or all)")
    p.add_argument("-s", dest="scales", nargs="+", default=None,
                   help="in-plane scales (default 1.5 2 2.5 3 3.5 4, limited to the model's maximum), and/or "
                        "factors per axis SX,SY,SZ with one axis refined (e.g. 1,1,4): thick slices along it made "
                        "with the plan's slice profile, restored as autosr_predict -s 1 1 4 would, against bicubic "
                        "and cubic B-spline")
    p.add_argument("--split", choices=("val", "test"), default="val",
                   help="val: the fold's validation cases (preprocessed); test: imagesTs scans")
    p.add_argument("--degradation", nargs="+", default=["planned"], metavar="NAME",
                   help="how LR is made from the held-out scans: planned (the plan's reference recipe, default), "
                        "paper (MIASSR: 3x3 Gaussian, bicubic), antialiased, area, kspace (an MR scanner's smaller "
                        "matrix), ct (CT kernel + noise), or all (planned and the families of the dataset's "
                        "modality); several give one table each (documentation/degradation.md)")
    p.add_argument("--blind", action="store_true",
                   help="do not tell a model trained with acquisition codes how each LR was made (as for a scan "
                        "of unknown origin); by default it is told, as a user who knows it would")
    p.add_argument("--baselines", nargs="*", default=["bicubic"], help="bicubic (the papers'), bspline (SimpleITK's cubic B-spline), bilinear, nearest (default bicubic)")
    p.add_argument("-tr", dest="trainer", default="MetaSRTrainer")
    p.add_argument("-p", dest="plans", default="autosrPlans")
    p.add_argument("-c", dest="configuration", default=None)
    p.add_argument("-chk", dest="checkpoint", default="checkpoint_final.pth")
    p.add_argument("--system", default=None, metavar="NAME",
                   help="the model trained with autosr_train --system NAME (folder …__NAME)")
    p.add_argument("--allow_extrapolation", action="store_true", help="evaluate scales above the trained maximum")
    p.add_argument("-ref", dest="ref", help="folder of reference (HR) scans")
    p.add_argument("-pred", dest="pred", help="folder of predictions named like the references")
    p.add_argument("--modality", choices=("MR", "CT"), default="MR",
                   help="-ref/-pred without -d: normalisation and foreground rule (default MR)")
    p.add_argument("--slicing_axis", type=int, default=None,
                   help="-ref/-pred without -d: array axis to slice along (default: the largest spacing)")
    p.add_argument("-o", dest="output", default=None,
                   help="output folder (default: the fold's evaluation_{split} folder; for -ref/-pred: "
                        "SR_FOLDER_evaluation beside SR_FOLDER)")
    p.add_argument("--max_slices", type=int, default=None, help="at most this many slices per case (evenly spread)")
    p.add_argument("--num_examples", type=int, default=3, help="example rows in examples.png")
    add_device_option(p)
    p.add_argument("--batch_size", type=int, default=8)
    add_folder_options(p, ("raw", "preprocessed", "results"))
    return p


@command("autosr_evaluate")
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    apply_folder_options(args)
    if args.ref or args.pred:
        if not (args.ref and args.pred):
            raise AutoSRError("give both -ref HR_FOLDER and -pred SR_FOLDER")
        from autosr.evaluation.evaluate import compare_folders
        pred = Path(args.pred)
        out = Path(args.output) if args.output else pred.parent / f"{pred.resolve().name}_evaluation"
        compare_folders(args.ref, pred, out, dataset=args.dataset, modality=args.modality,
                        slicing_axis=args.slicing_axis, max_slices_per_case=args.max_slices,
                        num_examples=args.num_examples)
        print(f"autosr_evaluate: results in {out}")
        return 0
    if args.dataset is None or args.fold is None:
        raise AutoSRError("give -d DATASET -f FOLD (evaluate a model) or -ref HR_FOLDER -pred SR_FOLDER")
    check_device(args.device)
    from autosr.evaluation.engine import DEFAULT_SCALES
    from autosr.evaluation.evaluate import evaluate_model
    from autosr.inference.predictor import parse_scale
    in_plane, thick = split_scales(args.scales)
    scales = [float(parse_scale(s)) for s in in_plane] if args.scales else list(DEFAULT_SCALES)
    out = evaluate_model(args.dataset, args.fold, scales=scales, split=args.split, baselines=args.baselines,
                         trainer=args.trainer, plans=args.plans, configuration=args.configuration,
                         checkpoint=args.checkpoint, output=args.output, device=args.device,
                         max_slices_per_case=args.max_slices, num_examples=args.num_examples,
                         batch_size=args.batch_size, allow_extrapolation=args.allow_extrapolation,
                         clip_scales=args.scales is None, degradation=args.degradation,
                         blind=args.blind, thick=thick, system=args.system)
    print(f"autosr_evaluate: results in {out}")
    return 0


def split_scales(values: Optional[Sequence[str]]) -> Tuple[List[str], Dict[int, List[Fraction]]]:
    """``-s`` values → in-plane scales, and array axis → factors of the per-axis ones (``1,1,4``: z by 4)."""
    from autosr.inference.scale_request import ScaleError, ScaleRequest
    in_plane: List[str] = []
    thick: Dict[int, List[Fraction]] = {}
    for v in values or ():
        if "," not in v:
            in_plane.append(v)
            continue
        xyz = ScaleRequest.parse(v.split(",")).xyz
        if len(xyz) != 3 or sum(f > 1 for f in xyz) != 1:
            raise ScaleError(f"-s {v}: give three factors (x,y,z) with one axis refined, e.g. 1,1,4; "
                             f"in-plane scales are single numbers")
        k = next(i for i, f in enumerate(xyz) if f > 1)
        thick.setdefault(2 - k, []).append(xyz[k])
    return in_plane, thick


__all__ = ["main", "build_parser"]


if __name__ == "__main__":
    raise SystemExit(main())
