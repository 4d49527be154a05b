"""Prediction throughput and memory: the whole ``autosr_predict`` command vs the generator alone, on the same slices.

    python3 benchmarks/bench_predict.py [--size 256] [--slices 64] [--scales 2 4 1,1,4] [--width 32 --depth 8]
                                        [-m MODEL_FOLDER] [-npp 2] [--batch_size 4] [--threads N] [--memory]

A synthetic ``slices×size×size`` MR volume (int16 NIfTI, 1×1×3 mm) is super-resolved at each
scale: a number refines in-plane, ``SX,SY,SZ`` gives a factor per axis (``1,1,4``: the 3 mm slice
axis to 0.75 mm, run on the slices containing it in both orientations). Two timings per scale:

* *generator*: the network's forward over the scan's (cropped, normalised) slices of every pass
  in batches of ``--batch_size``, ``torch.inference_mode`` — the compute that cannot be avoided;
* *command*: ``autosr_predict`` run in-process on the NIfTI file (model loading, reading,
  cropping, normalisation, batching/tiling, de-normalisation, pasting, compression and writing).

Throughput is given in output voxels/s and slices/s (the generator runs on the scan's cropped
slices, which are what the command feeds it; voxels are the full output's); ``ratio`` = command /
generator time (target ≤ 1.25). The process CPU time (all threads) of each is printed too: on a shared machine
it is the figure that other jobs' load does not distort. With ``--repeats`` the fastest run of
each is kept. The network is the ``2d_cpu`` configuration's (width 32, depth 8, bicubic skip,
per-axis Meta-Upscale) unless ``-m`` names a trained model folder or ``--width/--depth`` change it;
weights are random (speed does not depend on them).

``--memory``: the command also runs as a separate process with ``--memory_mb``; its peak resident
memory, less that of a process that only loads the model, is compared with ``--memory_mb`` plus
the output volume (float32) and the input, the bound prediction keeps to.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import torch

from autosr.commands.predict import main as predict_main
from autosr.imageio import Geometry, read_image, write_image
from autosr.inference.predictor import Predictor
from autosr.networks.meta_sr import MetaSRGenerator
from autosr.normalization import default_channel_plan
from autosr.scales import VolumeScale, as_fraction
from synthetic_scans import phantom  # benchmarks run as scripts: their folder is on sys.path


def make_model_folder(root: Path, width: int, depth: int, scale_max: float) -> Path:
    """A model folder (plans.json + fold_0 checkpoint) holding a randomly initialised MetaSR."""
    folder = root / "Dataset999_Bench" / "MetaSRTrainer__autosrPlans__2d_cpu"
    net_cfg = {"name": "MetaSR", "in_channels": 1, "width": width, "depth": depth, "mlp_hidden": 256,
               "upsample_skip": "bicubic", "per_axis_scale": True}
    plans = {"dataset_name": "Dataset999_Bench", "plans_name": "autosrPlans", "channel_names": ["T2"],
             "modalities": ["MR"], "slicing": {"axis": 0}, "crop": {"margin": [0, 4, 4]},
             "normalization": [default_channel_plan("MR")],
             "configurations": {"2d_cpu": {"data_identifier": "autosrPlans_2d_cpu",
                                           "scales": {"max": min(scale_max, 4.0), "single_axis_probability": 0.25,
                                                      "single_axis_max": max(scale_max, 6.0)},
                                           "network": net_cfg}}}
    (folder / "fold_0").mkdir(parents=True)
    (folder / "plans.json").write_text(json.dumps(plans, indent=1), encoding="utf-8")
    gen = MetaSRGenerator(**{k: v for k, v in net_cfg.items() if k != "name"})
    identity = {"dataset_name": "Dataset999_Bench", "plans_name": "autosrPlans", "configuration": "2d_cpu",
                "trainer": "MetaSRTrainer", "num_channels": 1, "channel_names": ["T2"], "scale_max": scale_max,
                "fold": 0}
    torch.save({"generator": gen.state_dict(), "generator_config": net_cfg, "identity": identity},
               folder / "fold_0" / "checkpoint_final.pth")
    return folder


def parse_scale(text: str):
    """``"2.5"`` (in-plane) or ``"1,1,4"`` (x y z factors)."""
    return VolumeScale.from_xyz(text.split(",")) if "," in text else as_fraction(text)


def time_generator(pred: Predictor, arr: np.ndarray, geom: Geometry, scale, batch: int) -> Tuple[float, float]:
    """Wall and CPU seconds of the bare network forward over every pass's prepared slices in batches (after a
    warm-up batch); the preparation is not timed."""
    _, stages = pred.plan(scale, arr.ndim, geom)
    net, wall, cpu = pred.networks[0], 0.0, 0.0
    case = arr[None].astype(np.float32)
    for stage in stages:
        for p in stage:
            x = torch.as_tensor(pred.prepare(case, p.scale, geom, warn=False, slicing_axis=p.slicing_axis).slices)
            f = p.slice_scale
            with torch.inference_mode():
                net(x[:1], f)
                t0, c0 = time.perf_counter(), time.process_time()
                for i in range(0, len(x), batch):
                    net(x[i:i + batch], f)
                wall, cpu = wall + time.perf_counter() - t0, cpu + time.process_time() - c0
        if len(stages) > 1:
            case = pred.predict_case(case, geom, stage[0].scale)[0]
            geom = geom.refined(stage[0].scale)
    return wall, cpu


# VmHWM: the peak resident set of this process's own memory map (ru_maxrss would also count the parent's at fork)
_PEAK = ("print('PEAK', next(int(line.split()[1]) for line in open('/proc/self/status') "
         "if line.startswith('VmHWM')))")


def peak_memory(argv: List[str], model: Path) -> Tuple[float, float]:
    """Peak resident MB of a process that only loads the model, then of one running ``autosr_predict argv``
    (each process reports its own peak)."""
    load = (f"from autosr.inference.predictor import Predictor; "
            f"Predictor.from_model_folder({str(model)!r}, folds=None, device='cpu'); {_PEAK}")
    run_cmd = f"import sys; from autosr.commands.predict import main; code = main(sys.argv[1:]); {_PEAK}"
    peaks = []
    for cmd in ([sys.executable, "-c", load], [sys.executable, "-c", run_cmd, *argv]):
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        peaks.append(int(out.rsplit("PEAK", 1)[1].split()[0]) / 1024)
    return peaks[0], peaks[1]


def run(args: argparse.Namespace) -> List[Dict[str, float]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="autosr-bench-") as tmp:
        tmp = Path(tmp)
        scan = tmp / "in" / "bench_0000.nii.gz"
        write_image(phantom((args.slices, args.size, args.size)), Geometry((1.0, 1.0, 3.0), (0, 0, 0),
                                                                          (1, 0, 0, 0, 1, 0, 0, 0, 1)), scan)
        scales = [parse_scale(s) for s in args.scales]
        top = max(float(max(s.factors)) if isinstance(s, VolumeScale) else float(s) for s in scales)
        model = Path(args.model) if args.model else make_model_folder(tmp, args.width, args.depth, top)
        pred = Predictor.from_model_folder(model, folds=None, device="cpu", progress=False)
        arr, geom = read_image(scan)
        for text, s in zip(args.scales, scales):
            vs, stages = pred.plan(s, arr.ndim, geom)
            out_shape = vs.shape(arr.shape)
            voxels = int(np.prod(out_shape))
            n_slices = sum(len(pred.prepare(arr[None], p.scale, geom, warn=False, slicing_axis=p.slicing_axis).slices)
                           for stage in stages for p in stage)
            s_arg = text.split(",") if "," in text else [text]
            gen_times, cmd_times = [], []
            for rep in range(args.repeats):  # interleaved, so load drifting on a shared machine hits both
                gen_times.append(time_generator(pred, arr, geom, s, args.batch_size))
                t0, c0 = time.perf_counter(), time.process_time()
                code = predict_main(["-i", str(scan), "-o", str(tmp / f"out_{text}_{rep}"), "-s", *s_arg,
                                     "-m", str(model), "--device", "cpu", "--batch_size", str(args.batch_size),
                                     "-npp", str(args.npp), "--disable_progress_bar"])
                cmd_times.append((time.perf_counter() - t0, time.process_time() - c0))
            if code != 0:
                raise SystemExit(f"autosr_predict failed with exit code {code}")
            (gen_s, gen_cpu), (cmd_s, cmd_cpu) = min(gen_times), min(cmd_times)
            row = {"scale": text, "slices": n_slices, "voxels": voxels, "shape": out_shape,
                   "generator_s": gen_s, "command_s": cmd_s, "ratio": cmd_s / gen_s,
                   "generator_cpu": gen_cpu, "command_cpu": cmd_cpu, "cpu_ratio": cmd_cpu / gen_cpu}
            if args.memory:
                base, peak = peak_memory(["-i", str(scan), "-o", str(tmp / f"mem_{text}"), "-s", *s_arg, "-m",
                                          str(model), "--device", "cpu", "--memory_mb", str(args.memory_mb),
                                          "--batch_size", str(args.batch_size), "-npp", str(args.npp),
                                          "--disable_progress_bar"], model)
                row.update(base_mb=base, peak_mb=peak, bound_mb=args.memory_mb + voxels * 4 / 2 ** 20
                           + arr.size * 4 / 2 ** 20)
            rows.append(row)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--slices", type=int, default=64)
    p.add_argument("--scales", nargs="+", default=["2", "4", "1,1,4"],
                   help="in-plane scales and/or x,y,z factors (default: 2 4 1,1,4)")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--depth", type=int, default=8)
    p.add_argument("-m", dest="model", help="a trained model folder instead of a random 2d_cpu network")
    p.add_argument("--batch_size", type=int, default=4)
    p.add_argument("-npp", dest="npp", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--repeats", type=int, default=1, help="runs per timing; the fastest is reported")
    p.add_argument("--memory", action="store_true", help="also measure the command's peak memory (a subprocess)")
    p.add_argument("--memory_mb", type=int, default=512, help="--memory_mb of the memory run (default 512)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"volume {args.slices}×{args.size}×{args.size}, torch {torch.__version__}, {torch.get_num_threads()} "
          f"thread(s), network {'from ' + args.model if args.model else f'width {args.width} depth {args.depth}'}")
    head = (f"{'scale':>7} {'output z×y×x':>13} | {'generator s':>11} {'vox/s':>9} {'slices/s':>8} | "
            f"{'command s':>9} {'vox/s':>9} | {'ratio':>5} | {'CPU s gen/cmd':>13} {'ratio':>5}")
    print(head)
    print("-" * len(head))
    rows = run(args)
    for r in rows:
        print(f"{r['scale']:>7} {'×'.join(map(str, r['shape'])):>13} | {r['generator_s']:>11.2f} "
              f"{r['voxels'] / r['generator_s']:>9.3g} {r['slices'] / r['generator_s']:>8.2f} | "
              f"{r['command_s']:>9.2f} {r['voxels'] / r['command_s']:>9.3g} | "
              f"{r['ratio']:>5.2f} | {r['generator_cpu']:>6.1f}/{r['command_cpu']:<6.1f} {r['cpu_ratio']:>5.2f}")
    print("ratio = command / generator (targets: ≤ 1.25 in-plane, ≤ 1.5 per axis); CPU s = process CPU time of all "
          "threads (robust to other load on the machine)")
    if args.memory:
        print(f"memory (--memory_mb {args.memory_mb}): peak resident MB of the command less a process that only "
              f"loads the model, against --memory_mb + output (float32) + input")
        for r in rows:
            used = r["peak_mb"] - r["base_mb"]
            print(f"{r['scale']:>7}: {used:7.0f} MB used (peak {r['peak_mb']:.0f}, model loaded {r['base_mb']:.0f}) vs "
                  f"bound {r['bound_mb']:.0f} MB: {'within' if used <= r['bound_mb'] else 'ABOVE'}")


if __name__ == "__main__":
    main()
