"""The one-command demo: real anatomy through every public command, end to end.

convert → plan and preprocess → train (short CPU configuration; a GPU if present) → predict at
2.5× → evaluate against bicubic. Each step calls the console script's own ``main`` with the
command line it prints, so the demo exercises exactly what a user would type. Re-running reuses
what is finished (dataset, plans, checkpoints, predictions) and resumes an interrupted training
from its latest checkpoint.
"""
from __future__ import annotations

import importlib
import logging
import os
import shlex
import time
from pathlib import Path
from typing import Optional, Sequence

from autosr.demo_data import ATTRIBUTION, fetch_template, write_slab_cases
from autosr.errors import AutoSRError

logger = logging.getLogger(__name__)

DATASET_ID = 990
DATASET_NAME = "MNI152Demo"
CONFIGURATION = "2d_cpu"
TRAINER_FOLDER = f"MetaSRTrainer__autosrPlans__{CONFIGURATION}"

_ENTRY = {
    "autosr_convert": "autosr.commands.convert",
    "autosr_plan_and_preprocess": "autosr.commands.plan",
    "autosr_train": "autosr.commands.train",
    "autosr_predict": "autosr.commands.predict",
    "autosr_evaluate": "autosr.commands.evaluate",
}


def _run(cmd: str, args: Sequence[str]) -> None:
    print(f"\n$ {cmd} {' '.join(shlex.quote(a) for a in args)}", flush=True)
    start = time.perf_counter()
    code = importlib.import_module(_ENTRY[cmd]).main(list(args))
    if code == 130:
        raise KeyboardInterrupt
    if code != 0:
        raise AutoSRError(f"demo step `{cmd}` failed with exit code {code}; see the messages above")
    print(f"  ({cmd} took {time.perf_counter() - start:.0f} s)", flush=True)


def run_demo(workdir: Path, scale: float = 2.5, steps: Optional[int] = None, device: str = "auto",
             fresh: bool = False) -> Path:
    """Run the whole pipeline in ``workdir``; returns the evaluation folder."""
    workdir = workdir.resolve()
    if fresh and workdir.exists():
        import shutil
        shutil.rmtree(workdir)
    folders = {k: workdir / k for k in ("raw", "preprocessed", "results")}
    for k, v in folders.items():
        v.mkdir(parents=True, exist_ok=True)
        os.environ[f"AUTOSR_{k.upper()}"] = str(v)
    t0 = time.perf_counter()
    print(f"AutoSR demo in {workdir}\n  data: {ATTRIBUTION}", flush=True)

    dataset = folders["raw"] / f"Dataset{DATASET_ID:03d}_{DATASET_NAME}"
    if not (dataset / "dataset.json").is_file():
        source = workdir / "source_scans"
        template = fetch_template(workdir / "downloads")
        write_slab_cases(template, source, n_slabs=5)
        _run("autosr_convert", ["-i", str(source), "-d", str(DATASET_ID), "--name", DATASET_NAME,
                                "--modality", "MR", "--test_fraction", "0.2",
                                "--description", "MNI152 T1 template cut into axial slabs (AutoSR demo)"])
    else:
        print(f"\n(reusing the converted dataset {dataset})")

    _run("autosr_plan_and_preprocess", ["-d", str(DATASET_ID), "-np", "2"])

    fold_dir = folders["results"] / dataset.name / TRAINER_FOLDER / "fold_0"
    if (fold_dir / "checkpoint_final.pth").is_file():
        print(f"\n(reusing the trained model {fold_dir / 'checkpoint_final.pth'})")
    else:
        args = [str(DATASET_ID), "0", "-c", CONFIGURATION, "--device", device]
        if steps:
            args += ["--steps", str(steps)]
        if (fold_dir / "checkpoint_latest.pth").is_file():
            args.append("--c")
        _run("autosr_train", args)

    pred_dir = workdir / f"predictions_x{scale:g}"
    _run("autosr_predict", ["-i", str(dataset / "imagesTs"), "-o", str(pred_dir), "-s", f"{scale:g}",
                            "-d", str(DATASET_ID), "-f", "0", "-c", CONFIGURATION, "--device", device])

    eval_dir = workdir / "evaluation"
    _run("autosr_evaluate", ["-d", str(DATASET_ID), "-f", "0", "-c", CONFIGURATION, "--split", "test",
                             "-s", "1.5", "2", "2.5", "3", "3.5", "4", "--degradation", "all", "--device", device,
                             "-o", str(eval_dir)])

    minutes = (time.perf_counter() - t0) / 60
    print(f"\nAutoSR demo finished in {minutes:.1f} min. Everything is under {workdir}:")
    for label, path in (("raw dataset", dataset), ("plans", folders["preprocessed"] / dataset.name / "autosrPlans.json"),
                        ("model", fold_dir), ("training curves", fold_dir / "progress.png"),
                        (f"super-resolved scans (x{scale:g})", pred_dir), ("evaluation", eval_dir / "summary.json"),
                        ("PSNR/SSIM vs scale", eval_dir / "metrics_vs_scale.png"), ("examples", eval_dir / "examples.png")):
        print(f"  {label:<28} {path}")
    return eval_dir
