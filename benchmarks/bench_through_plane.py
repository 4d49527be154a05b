"""Through-plane super-resolution of thick-slice volumes: a per-axis model against B-spline and bicubic.

For each held-out isotropic scan (cropped and normalised by the model's plans, as prediction
does) and each factor ``f``, a thick-slice version is made along the slicing axis (each thick
slice the boxcar average of ``f`` consecutive slices, ``autosr.degradation.thick_slices``); it is
restored to the original slices by

- the model, on the slices that contain the thick axis (both orthogonal orientations), each
  refined ``(f, 1)``, the two results averaged;
- SimpleITK's cubic B-spline and PyTorch's bicubic along the thick axis (the same centre convention).

Scores: PSNR over the scan's foreground (intensities in [0, 1], voxels above 1 % of the range)
on the restored slices. This is a feasibility benchmark for issue "Per-axis scales…": the model
must have been trained with one-axis batches (``scales.single_axis_probability > 0``,
``network.per_axis_scale``); ``autosr_predict`` does not run through-plane yet.

    python benchmarks/bench_through_plane.py --model RESULTS/Dataset101/MetaSRTrainer__autosrPlans__2d_cpu \\
        --scan held_out_0000.nii.gz --factors 2 3 4 5
"""
from __future__ import annotations

import argparse
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from autosr.checkpoint import load_generator
from autosr.degradation import thick_slices, upsample
from autosr.imageio import read_case
from autosr.inference.prep import prepare_case
from autosr.plans import Plans


def volume(path: Path, plans: Plans) -> np.ndarray:
    """``(S, H, W)`` normalised volume, slices along the plan's slicing axis (the thick axis here)."""
    arrays, geom = read_case([path])
    return prepare_case(arrays, plans, Fraction(1), array_spacing=geom.array_spacing).slices[:, 0]


def thicken(vol: torch.Tensor, f: int) -> torch.Tensor:
    """``(S, H, W)`` → ``(⌊S/f⌋, H, W)``: boxcar thick slices along axis 0."""
    return thick_slices(vol.permute(2, 0, 1)[:, None], (f, 1))[:, 0].permute(1, 2, 0)


def along_thick_axis(fn, lr: torch.Tensor) -> torch.Tensor:
    """Apply ``fn`` ``(B, 1, s, n) → (B, 1, S, n)`` to the slices containing axis 0, both ways, averaged."""
    coronal = fn(lr.permute(1, 0, 2)[:, None])[:, 0].permute(1, 0, 2)    # fix H: (s, W) slices
    sagittal = fn(lr.permute(2, 0, 1)[:, None])[:, 0].permute(1, 2, 0)   # fix W: (s, H) slices
    return 0.5 * (coronal + sagittal)


def psnr_fg(out: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor) -> float:
    mse = float(((out.clamp(0, 1) - ref)[mask] ** 2).mean())
    return 10 * math.log10(1.0 / mse)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="model folder (fold 'all' or 0 inside)")
    p.add_argument("--fold", default="all")
    p.add_argument("--scan", action="append", required=True, help="held-out isotropic scan; repeat")
    p.add_argument("--factors", nargs="+", type=int, default=[2, 3, 4, 5])
    p.add_argument("--batch", type=int, default=16)
    args = p.parse_args()
    folder = Path(args.model)
    plans = Plans.load(folder / "plans.json")
    net, _ = load_generator(folder / f"fold_{args.fold}", "cpu")
    if not getattr(net, "per_axis_scale", False):
        raise SystemExit(f"{folder}: the network has no per-axis Meta-Upscale (network.per_axis_scale); train one "
                         f"with -o scales.single_axis_probability=0.3 -o network.per_axis_scale=true")
    rows = {}
    for scan in args.scan:
        hr_all = torch.from_numpy(volume(Path(scan), plans)).float()
        for f in args.factors:
            lr = thicken(hr_all, f)
            n = lr.shape[0] * f
            hr = hr_all[:n]
            mask = hr > 0.01

            def model(x: torch.Tensor, f=f) -> torch.Tensor:
                with torch.inference_mode():
                    return torch.cat([net(x[i:i + args.batch], (f, 1)) for i in range(0, len(x), args.batch)])

            outs = {"bspline": along_thick_axis(lambda x: upsample(x.double(), (f, 1), "bspline").float(), lr),
                    "bicubic": along_thick_axis(lambda x: upsample(x, (f, 1)), lr),
                    "model": along_thick_axis(model, lr)}
            for name, out in outs.items():
                rows.setdefault(f, {}).setdefault(name, []).append(psnr_fg(out[:n], hr, mask))
    print(f"foreground PSNR (dB), {len(args.scan)} scan(s), thick slices = boxcar of f slices, restored ×f")
    print(f"{'f':>3} {'B-spline':>9} {'bicubic':>8} {'model':>7} {'model − B-spline':>17}")
    gains = []
    for f, r in rows.items():
        m = {k: float(np.mean(v)) for k, v in r.items()}
        gains.append(m["model"] - m["bspline"])
        print(f"{f:>3} {m['bspline']:9.2f} {m['bicubic']:8.2f} {m['model']:7.2f} {gains[-1]:+17.2f}")
    print(f"mean gain over B-spline {np.mean(gains):+.2f} dB, worst {min(gains):+.2f} dB")


if __name__ == "__main__":
    main()
