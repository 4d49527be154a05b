"""What ``--enforce_consistency`` and ``--tta`` do to quality and time, side by side on held-out scans.

For each scan, scale and variant (plain, ``--tta``, ``--enforce_consistency``, both), the HR slices
(normalised with the model's plan, slicing axis first) are acquired by the plan's reference recipe
(the planned degradation, the operator the projection uses), super-resolved with
:meth:`Predictor.super_resolve`, and scored against HR over the foreground (voxels above 1 % of the
range): PSNR (dB), the consistency error under the planned operator (relative RMSE), seconds.
Bicubic is the reference row. ``--lr kspace`` (or another acquisition) makes the LR otherwise than the
projection assumes: what enforcing a wrong operator costs.

    python benchmarks/bench_consistency.py --model builtin:brain_mr \\
        --scan ../shared/data/brats2013_deepmedic/pat0006/T1c_subtrMeanDivStd.nii.gz --scales 2 3 4
"""
from __future__ import annotations

import argparse
import math
import time
from fractions import Fraction
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import torch

from autosr.degradation import upsample
from autosr.degradation.acquisition import NAMED, recipe, synthesize
from autosr.degradation.consistency import error
from autosr.imageio import read_image
from autosr.inference.model_package import predictor_from
from autosr.inference.prep import prepare_case
from autosr.slices import select_slices

VARIANTS = {"plain": {}, "tta": {"tta": True}, "enforce": {"enforce_consistency": True},
            "tta+enforce": {"tta": True, "enforce_consistency": True}}


def psnr_fg(out: np.ndarray, ref: np.ndarray, mask: np.ndarray, clip: bool) -> float:
    mse = float((((np.clip(out, 0, 1) if clip else out) - ref)[mask] ** 2).mean())
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a model folder, zip or builtin:NAME")
    p.add_argument("--scan", action="append", required=True, help="held-out scan (one channel); repeat")
    p.add_argument("--scales", nargs="+", type=float, default=[2.0, 3.0, 4.0])
    p.add_argument("--slices", type=int, default=12, help="slices per scan (evenly spread, with content)")
    p.add_argument("--lr", default="planned", choices=("planned",) + tuple(NAMED),
                   help="how the LR is made (default: the planned degradation, the operator the projection assumes; "
                        "another shows what a wrong assumption costs)")
    args = p.parse_args()
    predictors = {name: predictor_from(args.model, device="cpu", progress=False, **kw) for name, kw in VARIANTS.items()}
    any_p = predictors["plain"]
    acq = recipe(any_p.configuration.degradation)  # the operator the projection and the error use
    made = acq if args.lr == "planned" else NAMED[args.lr]
    rows: Dict[Tuple[float, str], List[Tuple[float, float, float]]] = {}
    for scan in map(Path, args.scan):
        hr_arr, geom = read_image(scan)
        vol = prepare_case(hr_arr[None].astype(np.float32), any_p.plans, Fraction(1),
                           array_spacing=geom.array_spacing).slices  # (S, 1, H, W), slicing axis first
        picked = select_slices(vol.transpose(1, 0, 2, 3), args.slices)
        hr = torch.from_numpy(np.ascontiguousarray(vol[picked]))
        for s in args.scales:
            f = Fraction(str(s))
            lr = synthesize(hr, f, made, torch.Generator().manual_seed(0))
            h, w = math.floor(lr.shape[-2] * f), math.floor(lr.shape[-1] * f)
            ref = hr[..., :h, :w].numpy()
            mask = ref > 0.01
            t0 = time.perf_counter()
            outs = {"bicubic": upsample(lr, f).numpy()}
            secs = {"bicubic": time.perf_counter() - t0}
            for name, pred in predictors.items():
                t0 = time.perf_counter()
                outs[name] = pred.super_resolve(lr.numpy(), f)
                secs[name] = time.perf_counter() - t0
            for name, out in outs.items():
                clip = "enforce" not in name  # a projected output is written unclipped, the others clipped
                e = error(lr, torch.from_numpy(out), f, acq, clip=clip)
                rows.setdefault((s, name), []).append((psnr_fg(out, ref, mask, clip), e, secs[name]))
        print(f"{scan.name}: {len(picked)} slices", flush=True)
    print("\n| scale | method | PSNR dB | consistency error | seconds |\n|---|---|---|---|---|")
    for (s, name), vals in rows.items():
        v = np.asarray(vals)
        print(f"| {s:g} | {name} | {v[:, 0].mean():.2f} | {v[:, 1].mean():.2e} | {v[:, 2].sum():.1f} |")


if __name__ == "__main__":
    main()
