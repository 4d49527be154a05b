"""`autosr_predict`: super-resolve scans with a trained model (wraps :class:`autosr.inference.predictor.Predictor`).

    autosr_predict -i scans/ -o sr/ -s 2.5 -d 1 -f 0 1 2 3 4
    autosr_predict -i t2.nii.gz -o sr/ -s 1 1 5.5 -d 1           # 5.5 mm slices to 1 mm (x y z factors)
    autosr_predict -i t2.nii.gz -o sr/ --target_spacing 0.3 -m $AUTOSR_RESULTS/Dataset001_X/MetaSRTrainer__autosrPlans__2d
    autosr_predict -i t2.nii.gz -o sr/ -s 2 -m builtin:brain_mr --save_uncertainty  # the built-in model, no training
"""
from __future__ import annotations

import argparse
import logging
from typing import Optional, Sequence

from autosr.commands.common import (add_device_option, add_folder_options, add_model_options,
                                   apply_folder_options, command, model_folder_of)
from autosr.errors import AutoSRError
from autosr.plans import ACQUISITION_KINDS

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="autosr_predict",
        description="Super-resolve MRI/CT scans with a trained AutoSR model: in-plane by any scale s in (1, s_max], "
                    "or by one factor per axis (a thick slice axis restored: -s 1 1 4). Outputs keep the field of "
                    "view (spacing/f per axis, same direction, shifted origin) and the original intensity units. "
                    "See documentation/prediction.md.")
    io = p.add_argument_group("input and output")
    io.add_argument("-i", dest="input", required=True,
                    help="an image file, a DICOM-series folder, or a folder of {case}_{CCCC}{ending} files / DICOM series")
    io.add_argument("-o", dest="output", required=True,
                    help="output folder, apart from the input (neither holding it nor inside it)")
    sc = io.add_mutually_exclusive_group(required=True)
    sc.add_argument("-s", dest="scale", nargs="+", metavar="S",
                    help="one in-plane scale in (1, s_max], e.g. 2.5; or one factor per image axis in x y z order "
                         "(NIfTI i j k; 2 for 2D images), 1 keeping an axis, e.g. 1 1 4 for 4x thinner slices")
    sc.add_argument("--target_spacing", type=float, nargs="+", metavar="MM",
                    help="spacing to reach: one value (in-plane; s = spacing / MM per scan, in-plane spacings equal) "
                         "or one per axis in x y z order (an axis already that fine is kept)")
    io.add_argument("--overwrite", action="store_true",
                    help="redo every scan (default: skip scans whose outputs and {case}.autosr.json record show the "
                         "same model, scale and input)")
    io.add_argument("--preview", action="store_true",
                    help="also write {case}.preview.png per 3D scan: central sagittal and coronal planes of the input, "
                         "its B-spline resampling and the output (see what a thick-slice scan became)")
    io.add_argument("--keep_dtype", action="store_true",
                    help="round and clip outputs to the input's integer type (default: float32)")
    m = add_model_options(p, model_help="a model folder (Trainer__plans__configuration), a model .zip "
                                        "(autosr_export_model) or builtin:NAME (autosr_list_models)",
                          folds_help="fold(s) to use; several are averaged (default: every fold holding the checkpoint)",
                          checkpoint_help="checkpoint file name in each fold folder (default checkpoint_final.pth)")
    m.add_argument("--acquisition", choices=ACQUISITION_KINDS, default=None,
                   help="how the scans were made low-resolution, told to a model trained with acquisition codes: "
                        "paper/antialiased (Gaussian PSF + resampling, without/with antialiasing), area, kspace "
                        "(an MR scanner's smaller matrix), ct; default: unknown (documentation/prediction.md)")
    m.add_argument("--allow_extrapolation", action="store_true",
                   help="accept a scale above the trained maximum (a warning is printed)")
    t = p.add_argument_group("trust")
    t.add_argument("--save_uncertainty", action="store_true",
                   help="also write {case}_uncertainty_{CCCC}: the per-voxel standard deviation over the folds and "
                        "the 8 flips/rotations of each slice (same geometry and units as the output; 8x the network time)")
    t.add_argument("--tta", action="store_true",
                   help="output the mean over the folds and the 8 flips/rotations of each slice (test-time "
                        "augmentation; 8x the network time) instead of the folds' mean")
    t.add_argument("--enforce_consistency", action="store_true",
                   help="project each output slice so that the planned degradation (or --acquisition) acquires it as "
                        "the input (relative RMSE <= 1e-3, recorded in {case}.autosr.json); see documentation/prediction.md")
    r = p.add_argument_group("resources")
    add_device_option(r)
    r.add_argument("--batch_size", type=int, default=4, help="slices per network step (default 4)")
    r.add_argument("--memory_mb", type=int, default=2048,
                   help="working-memory target of one network step; larger slices are tiled (default 2048)")
    r.add_argument("-npp", dest="num_workers", type=int, default=2,
                   help="background I/O workers reading the next / writing the previous scan (0: none; default 2)")
    r.add_argument("--num_parts", type=int, default=1, help="split the input list into this many parts")
    r.add_argument("--part_id", type=int, default=0, help="which part (0-based) this process predicts")
    r.add_argument("--disable_progress_bar", action="store_true", help="no per-scan progress bars")
    r.add_argument("-v", "--verbose", action="store_true", help="debug messages")
    add_folder_options(p, ("results",))
    return p


@command("autosr_predict")
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    apply_folder_options(args)
    if args.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    from autosr.inference.predictor import Predictor
    from autosr.inference.scale_request import ScaleRequest

    # parsed once, here: "abc", "1e309", 0.5 or four factors get a clear message before anything is loaded
    request = ScaleRequest.parse(args.scale, args.target_spacing)
    if args.batch_size < 1 or args.memory_mb < 1 or args.num_workers < 0:
        raise AutoSRError("--batch_size and --memory_mb must be >= 1 and -npp >= 0")
    folder = model_folder_of(args, packages=True)
    predictor = Predictor.from_model_folder(folder, folds=args.folds, checkpoint=args.checkpoint, device=args.device,
                                            batch_size=args.batch_size, memory_budget=args.memory_mb * 1024 ** 2,
                                            allow_extrapolation=args.allow_extrapolation,
                                            progress=not args.disable_progress_bar, acquisition=args.acquisition,
                                            tta=args.tta, uncertainty=args.save_uncertainty,
                                            enforce_consistency=args.enforce_consistency)
    summary = predictor.predict_files(args.input, args.output, scale=request,
                                      overwrite=args.overwrite, keep_dtype=args.keep_dtype, num_parts=args.num_parts,
                                      part_id=args.part_id, num_workers=args.num_workers, preview=args.preview)
    print(f"autosr_predict: {summary['scans']} scan(s) written to {args.output} ({summary['skipped']} skipped), "
          f"{summary['voxels']:.3g} voxels in {summary['seconds']:.1f} s: {summary['voxels_per_s']:.3g} voxels/s, "
          f"{summary['slices_per_s']:.3g} slices/s")
    return 0


__all__ = ["main", "build_parser"]


if __name__ == "__main__":
    raise SystemExit(main())
