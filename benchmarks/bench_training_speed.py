"""Training speed where users run it: steps/s alone and beside one busy process, and validation's share of a run.

    python3 benchmarks/bench_training_speed.py [--steps 40] [--repeats 2] [--cases 5] [--size 256] [--slices 24]

A synthetic MR dataset (``--cases`` phantoms of ``slices×size×size`` voxels, 0.9×0.9×3 mm) is
planned and preprocessed with the default planner, then fold 0 of its default ``2d_cpu``
configuration is set up by ``autosr_train``'s own code path (thread choice and validation set
included) with a trainer that measures instead of training the whole run:

* **throughput**: L1 training steps/s (data loading in-process, as planned) with PyTorch's default
  thread count, with one thread (what a busy neighbour costs even when this process keeps a core to
  itself: on a machine whose two CPUs are hyper-threads of one core, that alone exceeds 1.1×), and
  with AutoSR's governor following the load (as in training: checked after every step), each alone and beside one CPU-bound competitor process (a Python busy loop), interleaved
  ``--repeats`` times so that drifting load hits all alike; the median of each, and ``slowdown`` =
  alone / busy throughput (target ≤ 1.3). The governor's steps are timed after it has had
  ``2.5 × CHECK_EVERY`` seconds to react to the change of load (its reaction time is printed).
  Beside each row, the cores other processes used while it was timed: about 1 beside the busy
  process and 0 alone on a quiet machine (anything more: the figures are disturbed);
* **validation share of the whole default run**, extrapolated from measured parts: one planned
  run = ``warmup_steps`` L1 steps + ``gan_steps`` GAN steps (both timed here over a few steps) + a
  validation every ``val_every`` steps and at the end. *Before* is every validation as it was
  (``val_max_slices`` slices per case, bicubic baseline scored each time); *after* is the run's
  budgeted validation set (first run scoring the bicubic baseline, later ones reusing it).

Only Python and PyTorch (with AutoSR) are used; everything runs in a temporary folder in a few
minutes. On a shared machine the figures are noisy: compare the side-by-side ratios.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch

from autosr import threads
from autosr.imageio import Geometry, write_image
from autosr.training.trainer import MetaSRTrainer
from autosr.training.validation import ValidationSet
from synthetic_scans import phantom  # benchmarks run as scripts: their folder is on sys.path

DATASET = "Dataset995_SpeedBench"
BUSY_LOOP = "while True: pass"


def write_dataset(raw: Path, cases: int, slices: int, size: int) -> None:
    folder = raw / DATASET / "imagesTr"
    folder.mkdir(parents=True)
    for i in range(cases):
        n = size + 16 * (i % 3 - 1)  # mixed in-plane sizes around --size
        write_image(phantom((slices, n, n), seed=i, z_extent=1.2), Geometry((0.9, 0.9, 3.0), (0.0, 0.0, 3.0 * i),
                                                              (1, 0, 0, 0, 1, 0, 0, 0, 1)),
                    folder / f"case{i:03d}_0000.nii.gz")
    info = {"name": "SpeedBench", "channel_names": {"0": "T2"}, "file_ending": ".nii.gz", "numTraining": cases,
            "license": "CC0", "description": "synthetic phantoms (benchmarks/bench_training_speed.py)"}
    (raw / DATASET / "dataset.json").write_text(json.dumps(info), encoding="utf-8")


class BenchTrainer(MetaSRTrainer):
    """Measures throughput and validation cost on the real set-up; ``BENCH`` holds the options."""

    BENCH = {"steps": 40, "repeats": 2, "gan_steps": 10, "settle": 2.5 * threads.CHECK_EVERY}

    def run_training(self) -> None:
        b, out, governor = self.BENCH, {}, self.threads
        batches = iter(self.loader)
        step = lambda: self.train_step(next(batches))  # noqa: E731
        for _ in range(5):
            step()
        out["threads"] = {"choice": governor.describe() if governor else "not on CPU",
                          "default": threads.TORCH_DEFAULT, "settled": {"alone": [], "busy": []},
                          "reaction_s": {"alone": [], "busy": []}}
        speeds: Dict[str, Dict[str, List[float]]] = {p: {"alone": [], "busy": []}
                                                  for p in ("torch default", "one thread", "autosr")}
        others = {p: {"alone": [], "busy": []} for p in speeds}  # cores other processes used meanwhile
        l1_cpu = []
        for _ in range(b["repeats"]):
            for name in speeds:
                for load in ("alone", "busy"):
                    with busy_process() if load == "busy" else contextlib.nullcontext():
                        timed = step
                        if name == "torch default":
                            torch.set_num_threads(threads.TORCH_DEFAULT)
                        elif name == "one thread":  # what a busy neighbour costs even on a core of one's own
                            torch.set_num_threads(1)
                        else:  # the governor follows the load, as in run_training
                            torch.set_num_threads(governor.threads)
                            governor.meter.others()  # its window starts now, not in the fixed-count runs before
                            governor.due = time.perf_counter() + threads.CHECK_EVERY
                            timed = lambda: (step(), governor.check())  # noqa: E731
                            out["threads"]["reaction_s"][load].append(settle(timed, governor, b["settle"]))
                        meter = threads.LoadMeter()
                        rate, cpu = steps_per_second(timed, b["steps"])
                        others[name][load].append(meter.others())
                    speeds[name][load].append(rate)
                    if name == "autosr":
                        out["threads"]["settled"][load].append(governor.threads)
                        l1_cpu += [cpu] if load == "alone" else []
        torch.set_num_threads(governor.threads)
        out["throughput"] = {p: {k: statistics.median(v) for k, v in s.items()} for p, s in speeds.items()}
        out["autosr_steps_s"] = speeds["autosr"]
        out["others"] = {p: {k: statistics.median(v) for k, v in s.items()} for p, s in others.items()}
        out["l1_step"] = [1 / out["throughput"]["autosr"]["alone"], statistics.median(l1_cpu)]
        out.update(self.measure_validation())
        self.start_gan_phase()
        step()
        rate, cpu = steps_per_second(step, b["gan_steps"])
        out["gan_step"] = [1 / rate, cpu]
        (self.output_folder / "bench.json").write_text(json.dumps(out, indent=1), encoding="utf-8")

    def measure_validation(self) -> Dict[str, object]:
        t, model = self.t, self.model
        before = timed(lambda: ValidationSet(self.val_volumes, t.val_scales, self.config.scales.max,
                                             self.config.degradation, t.val_max_slices, seed=t.seed,
                                             lowres=self.val_lowres).run(model, self.device))
        first, cached = (timed(lambda: self.validation.run(model, self.device)) for _ in range(2))
        return {"validation": {"before": before, "first": first, "cached": cached,
                               "slices_before": t.val_max_slices,
                               "slices_after": max(len(z) for z in self.validation.slices.values()),
                               "cases": len(self.validation.slices), "scales": len(self.validation.scales)},
                "plan": {"warmup_steps": t.warmup_steps, "gan_steps": t.gan_steps, "val_every": t.val_every}}


def timed(fn) -> List[float]:
    """Wall and process CPU seconds of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return [time.perf_counter() - wall, time.process_time() - cpu]


def settle(step, governor: threads.ThreadGovernor, seconds: float) -> Optional[float]:
    """Run ``step`` for ``seconds``; the seconds until the governor's last change of count (None: none)."""
    start, changed, count = time.perf_counter(), None, governor.threads
    while time.perf_counter() - start < seconds:
        step()
        if governor.threads != count:
            count, changed = governor.threads, time.perf_counter() - start
    return changed


def steps_per_second(step, n: int, seconds: float = 15.0) -> List[float]:
    """Steps/s over ``n`` steps (fewer, at least 3, if they take over ``seconds``) and CPU seconds per step."""
    wall, cpu, done = time.perf_counter(), time.process_time(), 0
    while done < n and (done < 3 or time.perf_counter() - wall < seconds):
        step()
        done += 1
    return [done / (time.perf_counter() - wall), (time.process_time() - cpu) / done]


class busy_process:
    """One CPU-bound competitor (a Python busy loop in its own process) for the ``with`` block."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
        time.sleep(0.3)  # let it get going
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def whole_run(r: Dict[str, object], clock: int) -> Dict[str, float]:
    """Seconds (``clock`` 0: wall, 1: process CPU) of the planned run's training and validation,
    before and after, from the measured parts."""
    p, v = r["plan"], r["validation"]
    total = p["warmup_steps"] + p["gan_steps"]
    runs = len(range(p["val_every"], total, p["val_every"])) + 1 if p["val_every"] > 0 else 1
    train = p["warmup_steps"] * r["l1_step"][clock] + p["gan_steps"] * r["gan_step"][clock]
    before = runs * v["before"][clock]
    after = v["first"][clock] + (runs - 1) * v["cached"][clock]
    return {"validations": runs, "train_s": train, "before_s": before, "after_s": after,
            "share_before": before / (train + before), "share_after": after / (train + after)}


def report(r: Dict[str, object]) -> None:
    print(f"\n{r['threads']['choice']}")
    t = r["threads"]
    print(f"\n{'threads':<20} {'alone steps/s':>14} {'busy steps/s':>13} {'slowdown':>9}   others alone | busy")
    for name, label in (("torch default", f"torch default ({t['default']})"), ("one thread", "1 thread (fixed)"),
                        ("autosr", "autosr (adaptive)")):
        s, o = r["throughput"][name], r["others"][name]
        print(f"{label:<20} {s['alone']:14.2f} {s['busy']:13.2f} {s['alone'] / s['busy']:8.2f}×   "
              f"{o['alone']:5.2f} | {o['busy']:.2f} core(s)")
    for load in ("alone", "busy"):
        changes = ", ".join("none" if x is None else f"{x:.1f} s" for x in t["reaction_s"][load])
        rates = ", ".join(f"{x:.2f}" for x in r["autosr_steps_s"][load])
        print(f"autosr {load}, each repeat: {rates} steps/s on {', '.join(map(str, t['settled'][load]))} "
              f"thread(s); last change after {changes}")
    v, p = r["validation"], r["plan"]
    print(f"\nplanned run: {p['warmup_steps']} L1 + {p['gan_steps']} GAN steps, validation every {p['val_every']} "
          f"and at the end ({whole_run(r, 0)['validations']}×) on {v['cases']} case(s) at {v['scales']} scale(s); "
          f"validation up to {v['slices_before']} slices/case before, {v['slices_after']} after")
    for clock, name in enumerate(("wall", "CPU")):
        w = whole_run(r, clock)
        print(f"{name} time: L1 step {r['l1_step'][clock] * 1000:.0f} ms, GAN step {r['gan_step'][clock] * 1000:.0f} "
              f"ms, training {w['train_s']:.0f} s; validation before {v['before'][clock]:.1f} s × "
              f"{w['validations']} = {w['before_s']:.0f} s ({w['share_before']:.0%} of the run), after "
              f"{v['first'][clock]:.1f} s first, {v['cached'][clock]:.1f} s then = {w['after_s']:.0f} s "
              f"({w['share_after']:.0%}; plan: 10%)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=40, help="L1 steps per throughput measurement")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repeats of each measurement")
    ap.add_argument("--cases", type=int, default=5)
    ap.add_argument("--size", type=int, default=256, help="in-plane size of the middle case (others ±16)")
    ap.add_argument("--slices", type=int, default=24)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    BenchTrainer.BENCH.update(steps=args.steps, repeats=args.repeats)
    from autosr.preprocessing.api import plan_and_preprocess
    from autosr.training.api import train
    with tempfile.TemporaryDirectory(prefix="autosr-bench-") as tmp:
        for k in ("raw", "preprocessed", "results"):
            (Path(tmp) / k).mkdir()
            os.environ[f"AUTOSR_{k.upper()}"] = str(Path(tmp) / k)
        start = time.perf_counter()
        write_dataset(Path(tmp) / "raw", args.cases, args.slices, args.size)
        plan_and_preprocess(DATASET, num_processes=1, configurations=["2d_cpu"])
        print(f"torch {torch.__version__}, {os.cpu_count()} CPU(s); dataset of {args.cases} cases planned and "
              f"preprocessed in {time.perf_counter() - start:.0f} s")
        # perceptual off: the same as the plan's "auto" on a machine without VGG19 weights, minus a download attempt
        fold = train(DATASET, 0, "2d_cpu", trainer="__main__:BenchTrainer", device="cpu",
                     overrides={"training.perceptual": "off"})
        report(json.loads((fold / "bench.json").read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
