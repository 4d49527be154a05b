"""Robustness to how the low resolution was made: several trained models, side by side, per acquisition family.

For each held-out HR scan (cropped and normalised by the first model's plans, as prediction does),
each acquisition family (``autosr.degradation.acquisition.NAMED``) and each scale, LR is made from
its slices, super-resolved by every model and by bicubic, and scored (PSNR over the crop box, the
same code as ``autosr_evaluate``). Prints the table of model − bicubic PSNR (dB) per family and
scale, the mean of each model over every cell, its worst cell, and optionally writes a montage of
one slice (LR, bicubic, each model, HR and the errors) with AutoSR's own plotting. A model trained
with acquisition codes is told each family's kind, as ``autosr_evaluate`` tells it; ``--blind``
adds its rows without (``NAME blind``), as for a scan of unknown origin.

    python benchmarks/bench_robustness.py --model old=RESULTS/Dataset101/MetaSRTrainer__autosrPlans__2d_cpu \\
        --model new=... --scan held_out_0000.nii.gz --families paper antialiased kspace \\
        --scales 2 2.5 3 4 --montage montage.png --montage_family kspace --montage_scale 2
"""
from __future__ import annotations

import argparse
import json
from fractions import Fraction
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

from autosr.degradation import kind, synthesize, upsample
from autosr.degradation.acquisition import NAMED
from autosr.evaluation.engine import slice_metrics
from autosr.evaluation.plots import Example, plot_examples
from autosr.imageio import read_case
from autosr.inference.predictor import Predictor
from autosr.inference.prep import prepare_case
from autosr.scales import as_fraction, sr_size
from autosr.slices import select_slices


def hr_slices(path: Path, predictor: Predictor, max_slices: int) -> np.ndarray:
    """``(N, C, H, W)`` normalised HR slices of a scan, cropped as prediction crops it."""
    arrays, geom = read_case([path])
    prep = prepare_case(arrays, predictor.plans, Fraction(1), array_spacing=geom.array_spacing)
    vol = prep.slices.transpose(1, 0, 2, 3)
    return prep.slices[select_slices(vol, max_slices)]


def _central(image: np.ndarray, fraction: float) -> np.ndarray:
    """The central ``fraction`` of a 2D image along each axis."""
    h, w = (max(1, round(n * fraction)) for n in image.shape)
    y, x = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
    return image[y:y + h, x:x + w]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", required=True, metavar="NAME=FOLDER",
                   help="a trained model folder (fold 'all' or 0), named for the table; repeat")
    p.add_argument("--fold", default="all")
    p.add_argument("--scan", action="append", required=True, help="held-out HR scan (single channel); repeat")
    p.add_argument("--families", nargs="+", default=["paper", "antialiased", "kspace"], choices=sorted(NAMED))
    p.add_argument("--scales", nargs="+", default=["2", "2.5", "3", "4"])
    p.add_argument("--max_slices", type=int, default=24)
    p.add_argument("--montage", type=Path, default=None)
    p.add_argument("--montage_family", default="kspace")
    p.add_argument("--montage_scale", default="2")
    p.add_argument("--montage_zoom", type=float, default=1.0, help="show the central fraction of the slice")
    p.add_argument("--blind", action="store_true", help="also run conditioned models without telling them")
    p.add_argument("--json", type=Path, default=None, help="write every number here")
    args = p.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    models = {}
    for spec in args.model:
        name, folder = spec.split("=", 1)
        models[name] = Predictor.from_model_folder(folder, folds=(args.fold,), device="cpu", progress=False)
    first = next(iter(models.values()))
    runs = [(n, m, True) for n, m in models.items()]  # (row name, model, told the acquisition)
    if args.blind:
        runs += [(f"{n} blind", m, False) for n, m in models.items() if m.acquisitions]
    scans = {Path(s).name.split("_0000")[0]: hr_slices(Path(s), first, args.max_slices) for s in args.scan}
    scales = [as_fraction(s) for s in args.scales]
    psnr: Dict[str, Dict[str, Dict[str, List[float]]]] = {}
    example = None
    for fam in args.families:
        for s in scales:
            key = f"{float(s):g}"
            for case, hr_np in scans.items():
                hr = torch.from_numpy(np.ascontiguousarray(hr_np))
                lr = synthesize(hr, s, NAMED[fam], torch.Generator().manual_seed(20210522))
                h, w = sr_size(lr.shape[-2], s), sr_size(lr.shape[-1], s)
                target = hr[..., :h, :w].numpy()
                outs = {"bicubic": upsample(lr, s).numpy()}
                for n, m, told in runs:
                    acq = kind(NAMED[fam]) if told and kind(NAMED[fam]) in m.acquisitions else None
                    outs[n] = m.super_resolve(lr.numpy(), s, acquisition=acq)
                for n, out in outs.items():
                    out = np.clip(out, 0, 1)
                    outs[n] = out
                    vals = [slice_metrics(out[i, 0], target[i, 0])["psnr"] for i in range(len(out))]
                    psnr.setdefault(fam, {}).setdefault(key, {}).setdefault(n, []).extend(vals)
                if example is None and fam == args.montage_family and key == f"{float(as_fraction(args.montage_scale)):g}":
                    i, z = len(out) // 2, args.montage_zoom
                    hr_view, lr_view = _central(target[i, 0], z), _central(np.clip(lr[i, 0].numpy(), 0, 1), z)
                    example = Example(case, i, float(s), hr_view, {n: _central(o[i, 0], z) for n, o in outs.items()},
                                      lr_view)
    names = [n for n, _, _ in runs]
    print(f"model − bicubic PSNR (dB), {sum(len(v) for v in scans.values())} slices of {', '.join(scans)}")
    width = max(8, *(len(n) for n in names))
    head = f"{'family':<12} {'model':<{width}}" + "".join(f"{'x' + k:>8}" for k in psnr[args.families[0]]) + f"{'mean':>8}"
    print(head)
    overall: Dict[str, List[float]] = {n: [] for n in names}
    for fam in args.families:
        for n in names:
            gains = [float(np.mean(v[n]) - np.mean(v["bicubic"])) for v in psnr[fam].values()]
            overall[n] += gains
            print(f"{fam:<12} {n:<{width}}" + "".join(f"{g:+8.2f}" for g in gains) + f"{np.mean(gains):+8.2f}")
    for n in names:
        print(f"{n}: mean gain over every cell {np.mean(overall[n]):+.2f} dB, worst cell {min(overall[n]):+.2f} dB")
    if args.json:
        args.json.write_text(json.dumps({f: {k: {n: float(np.mean(v)) for n, v in d.items()} for k, d in fs.items()}
                                         for f, fs in psnr.items()}, indent=1))
    if args.montage and example is not None:
        plot_examples([example], args.montage)
        print(f"montage: {args.montage}")


if __name__ == "__main__":
    main()
