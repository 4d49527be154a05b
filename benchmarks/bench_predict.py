"""Prediction throughput: the whole ``autosr_predict`` command vs the generator alone, on the same slices.

    python3 benchmarks/bench_predict.py [--size 256] [--slices 64] [--scales 2 4] [--width 32 --depth 8]
                                        [-m MODEL_FOLDER] [-npp 2] [--batch_size 4] [--threads N]

A synthetic ``slices×size×size`` MR volume (int16 NIfTI, 1×1×3 mm) is super-resolved in-plane at
each scale. Two timings per scale:

* *generator*: the network's forward over the scan's (cropped, normalised) slices in batches of
  ``--batch_size``, ``torch.inference_mode`` — the compute that cannot be avoided;
* *command*: ``autosr_predict`` run in-process on the NIfTI file (model loading, reading,
  cropping, normalisation, batching/tiling, de-normalisation, pasting, compression and writing).

Throughput is given in output voxels/s and slices/s (the generator runs on the scan's cropped
slices, which are what the command feeds it; voxels are the full output's); ``ratio`` = command /
generator time (target ≤ 1.25). The process CPU time (all threads) of each is printed too: on a shared machine
it is the figure that other jobs' load does not distort. With ``--repeats`` the fastest run of
each is kept. The network is the ``2d_cpu`` configuration's (width 32, depth 8, bicubic skip)
unless ``-m`` names a trained model folder or ``--width/--depth`` change it; weights are random
(speed does not depend on them).
"""
from __future__ import annotations

import argparse
import json
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
from autosr.scales import as_fraction, sr_size
from synthetic_scans import phantom  # benchmarks run as scripts: their folder is on sys.path


def make_model_folder(root: Path, width: int, depth: int, scale_max: float) -> Path:
    """A model folder (plans.json + fold_0 checkpoint) holding a randomly initialised MetaSR."""
    folder = root / "Dataset999_Bench" / "MetaSRTrainer__autosrPlans__2d_cpu"
    net_cfg = {"name": "MetaSR", "in_channels": 1, "width": width, "depth": depth, "mlp_hidden": 256,
               "upsample_skip": "bicubic"}
    plans = {"dataset_name": "Dataset999_Bench", "plans_name": "autosrPlans", "channel_names": ["T2"],
             "modalities": ["MR"], "slicing": {"axis": 0}, "crop": {"margin": [0, 4, 4]},
             "normalization": [default_channel_plan("MR")],
             "configurations": {"2d_cpu": {"data_identifier": "autosrPlans_2d_cpu", "scales": {"max": scale_max},
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


def time_generator(pred: Predictor, slices: np.ndarray, scale, batch: int) -> Tuple[float, float]:
    """Wall and CPU seconds of the bare network forward over ``slices`` in batches (after a warm-up batch)."""
    net, f = pred.networks[0], as_fraction(scale)
    x = torch.as_tensor(slices)
    with torch.inference_mode():
        net(x[:1], f)
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(x), batch):
            net(x[i:i + batch], f)
    return time.perf_counter() - t0, time.process_time() - c0


def run(args: argparse.Namespace) -> List[Dict[str, float]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="autosr-bench-") as tmp:
        tmp = Path(tmp)
        scan = tmp / "in" / "bench_0000.nii.gz"
        write_image(phantom((args.slices, args.size, args.size)), Geometry((1.0, 1.0, 3.0), (0, 0, 0),
                                                                          (1, 0, 0, 0, 1, 0, 0, 0, 1)), scan)
        model = Path(args.model) if args.model else make_model_folder(tmp, args.width, args.depth, max(args.scales))
        pred = Predictor.from_model_folder(model, folds=None, device="cpu", progress=False)
        arr, geom = read_image(scan)
        for s in args.scales:
            prep = pred.prepare(arr[None], s, geom)
            f = as_fraction(s)
            voxels = args.slices * sr_size(args.size, f) ** 2
            gen_times, cmd_times = [], []
            for rep in range(args.repeats):  # interleaved, so load drifting on a shared machine hits both
                gen_times.append(time_generator(pred, prep.slices, s, args.batch_size))
                t0, c0 = time.perf_counter(), time.process_time()
                code = predict_main(["-i", str(scan), "-o", str(tmp / f"out_{s:g}_{rep}"), "-s", f"{s:g}",
                                     "-m", str(model), "--device", "cpu", "--batch_size", str(args.batch_size),
                                     "-npp", str(args.npp), "--disable_progress_bar"])
                cmd_times.append((time.perf_counter() - t0, time.process_time() - c0))
            if code != 0:
                raise SystemExit(f"autosr_predict failed with exit code {code}")
            (gen_s, gen_cpu), (cmd_s, cmd_cpu) = min(gen_times), min(cmd_times)
            rows.append({"scale": s, "slices": args.slices, "voxels": voxels, "crop": list(prep.slices.shape[-2:]),
                         "generator_s": gen_s, "command_s": cmd_s, "ratio": cmd_s / gen_s,
                         "generator_cpu": gen_cpu, "command_cpu": cmd_cpu, "cpu_ratio": cmd_cpu / gen_cpu})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--slices", type=int, default=64)
    p.add_argument("--scales", type=float, nargs="+", default=[2.0, 4.0])
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--depth", type=int, default=8)
    p.add_argument("-m", dest="model", help="a trained model folder instead of a random 2d_cpu network")
    p.add_argument("--batch_size", type=int, default=4)
    p.add_argument("-npp", dest="npp", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--repeats", type=int, default=1, help="runs per timing; the fastest is reported")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"volume {args.slices}×{args.size}×{args.size}, torch {torch.__version__}, {torch.get_num_threads()} "
          f"thread(s), network {'from ' + args.model if args.model else f'width {args.width} depth {args.depth}'}")
    head = (f"{'scale':>5} {'crop':>9} | {'generator s':>11} {'vox/s':>9} {'slices/s':>8} | "
            f"{'command s':>9} {'vox/s':>9} {'slices/s':>8} | {'ratio':>5} | {'CPU s gen/cmd':>13} {'ratio':>5}")
    print(head)
    print("-" * len(head))
    for r in run(args):
        print(f"{r['scale']:>5g} {'x'.join(map(str, r['crop'])):>9} | {r['generator_s']:>11.2f} "
              f"{r['voxels'] / r['generator_s']:>9.3g} {r['slices'] / r['generator_s']:>8.2f} | "
              f"{r['command_s']:>9.2f} {r['voxels'] / r['command_s']:>9.3g} {r['slices'] / r['command_s']:>8.2f} | "
              f"{r['ratio']:>5.2f} | {r['generator_cpu']:>6.1f}/{r['command_cpu']:<6.1f} {r['cpu_ratio']:>5.2f}"
              f"{'' if r['ratio'] <= 1.25 else '  (wall ratio above the 1.25 target)'}")
    print("ratio = command / generator; CPU s = process CPU time of all threads (robust to other load on the machine)")


if __name__ == "__main__":
    main()
