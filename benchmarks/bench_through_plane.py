"""Through-plane super-resolution of thick-slice volumes with ``autosr_predict -s 1 1 f``, against B-spline.

For each held-out isotropic scan and each factor ``f``, a thick-slice version is written as a
NIfTI file: each thick slice the mean of ``f`` consecutive slices along z (a boxcar slice
profile), spacing ``f`` times the original, the origin at the centre of the slices it averages,
so its field of view is the original's first ``⌊n/f⌋·f`` slices. It is restored onto those
slices by

- each model, with the real command ``autosr_predict -i THICK -o OUT -s 1 1 f -m MODEL``;
- SimpleITK's cubic B-spline resampling onto the original grid (the medical-imaging toolkits'
  default for upsampling).

Scores: PSNR over the scan's foreground, intensities mapped to [0, 1] by the model's plan
normalisation fitted on the original scan (the same mapping for every method), foreground =
voxels above 1 % of that range; the command's wall time is printed too.

    python benchmarks/bench_through_plane.py --model default=RESULTS/Dataset101_DevMR/MetaSRTrainer__autosrPlans__2d_cpu \\
        --scan RAW/Dataset101_DevMR/imagesTs/brats6_t1c_0000.nii.gz --factors 2 3 4 5
"""
from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from autosr.imageio import Geometry, read_image, write_image
from autosr.inference.prep import prepare_case
from autosr.inference.preview import bspline_onto
from autosr.normalization import normalize
from autosr.plans import Plans


def thicken(array: np.ndarray, geometry: Geometry, f: int) -> Tuple[np.ndarray, Geometry]:
    """``(z, y, x)`` → ``(⌊z/f⌋, y, x)``: each slice the mean of ``f`` consecutive ones (boxcar), with the
    geometry of those thick slices (z spacing ×f, origin at the centre of the first ``f`` slices)."""
    n = array.shape[0] // f
    thick = array[:n * f].astype(np.float64).reshape(n, f, *array.shape[1:]).mean(axis=1).astype(np.float32)
    sp = np.asarray(geometry.spacing, dtype=np.float64)
    origin = np.asarray(geometry.origin) + geometry.direction_matrix[:, 2] * sp[2] * (f - 1) / 2
    return thick, Geometry((sp[0], sp[1], sp[2] * f), tuple(origin.tolist()), geometry.direction)


def psnr_fg(out: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> float:
    mse = float(((np.clip(out, 0, 1) - ref)[mask] ** 2).mean())
    return 10 * math.log10(1.0 / mse)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", required=True, metavar="NAME=FOLDER",
                   help="a model folder (autosr_predict -m), named for the table; repeat")
    p.add_argument("--scan", action="append", required=True, help="held-out isotropic scan (one channel); repeat")
    p.add_argument("--factors", nargs="+", type=int, default=[2, 3, 4, 5])
    p.add_argument("--work", default=None, help="folder for the thick scans and outputs (default: a temporary one)")
    args = p.parse_args()
    models = dict(m.split("=", 1) for m in args.model)
    work = Path(args.work or tempfile.mkdtemp(prefix="autosr-through-plane-"))
    plans = Plans.load(Path(next(iter(models.values()))) / "plans.json")
    scores: Dict[Tuple[int, str], List[float]] = {}
    seconds: Dict[str, float] = {}
    for scan in map(Path, args.scan):
        hr, geom = read_image(scan)
        params = prepare_case(hr[None].astype(np.float32), plans, 1, crop=False,
                              array_spacing=geom.array_spacing).params[0]
        for f in args.factors:
            thick, tgeom = thicken(hr, geom, f)
            folder = work / f"{scan.name.split('.')[0]}_f{f}"
            thick_path = folder / "thick" / "case_0000.nii.gz"
            write_image(thick, tgeom, thick_path)
            n = thick.shape[0] * f
            ref = np.clip(normalize(hr[:n].astype(np.float32), params), 0, 1)
            mask = ref > 0.01
            outs = {"B-spline": bspline_onto(thick, tgeom, geom, (n,) + hr.shape[1:])}
            for name, model in models.items():
                out_dir = folder / name
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "autosr.commands.predict", "-i", str(thick_path.parent), "-o",
                                str(out_dir), "-s", "1", "1", str(f), "-m", model, "--overwrite",
                                "--disable_progress_bar"], check=True, stdout=subprocess.DEVNULL)
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
                out, ogeom = read_image(out_dir / "case_0000.nii.gz")
                if out.shape != (n,) + hr.shape[1:] or not ogeom.is_close(geom):
                    raise SystemExit(f"{out_dir}: output {out.shape} {ogeom} is not the original grid {geom}")
                outs[name] = out
            for name, out in outs.items():
                scores.setdefault((f, name), []).append(psnr_fg(normalize(out.astype(np.float32), params), ref, mask))
    names = ["B-spline"] + list(models)
    print(f"foreground PSNR (dB) on [0, 1], {len(args.scan)} held-out scan(s); thick slices = boxcar of f slices, "
          f"restored onto the original slices (autosr_predict -s 1 1 f)")
    print(f"{'f':>3} " + " ".join(f"{n:>12}" for n in names) + " " + " ".join(f"{n + ' − B-sp':>16}" for n in models))
    gains: Dict[str, List[float]] = {n: [] for n in models}
    for f in args.factors:
        m = {n: float(np.mean(scores[(f, n)])) for n in names}
        for n in models:
            gains[n].append(m[n] - m["B-spline"])
        print(f"{f:>3} " + " ".join(f"{m[n]:12.2f}" for n in names) + " "
              + " ".join(f"{gains[n][-1]:+16.2f}" for n in models))
    for n in models:
        print(f"{n}: mean gain over B-spline {np.mean(gains[n]):+.2f} dB, worst {min(gains[n]):+.2f} dB; "
              f"autosr_predict wall time {seconds[n]:.1f} s in all")


if __name__ == "__main__":
    main()
