"""Train, export and measure AutoSR's built-in brain MR model (``builtin:brain_mr``), from scratch.

Anyone can retrain the shipped weights with this script; it runs every step through AutoSR's own
commands and Python API:

1. a raw dataset of the redistributable brain MR volumes of ``../shared/data`` (SOURCES.md):
   the C-STAR chronic-stroke T1w, T2w and FLAIR (MIT) and the MNI ICBM152 2009a T1 template
   (free use with attribution), one single-channel case each, channel ``MR`` (any contrast);
   the BraTS cases (CC BY-NC-SA) and the thick torchio T2 are only *measured on*, never trained on;
2. ``autosr_plan_and_preprocess`` and ``autosr_train DATASET all -c 2d_cpu --steps N`` (the planned
   robust degradation families and per-axis scales);
3. ``autosr_export_model`` into ``autosr/models/builtin/brain_mr.zip``;
4. the held-out table of the model card: PSNR of the model against bicubic at in-plane scales
   2, 2.5, 3, 4 and against B-spline at through-plane factors 2–5, on scans it never saw.

    python scripts/train_builtin_model.py --work /tmp/builtin            # all steps (about an hour on 2 cores)
    python scripts/train_builtin_model.py --work /tmp/builtin --only measure --model builtin:brain_mr

Training is seeded (``--seed``); on CPU with ``--deterministic`` a rerun gives the same weights,
otherwise the same quality within a few hundredths of a dB (documentation/builtin_models.md).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, Sequence

REPO = Path(__file__).resolve().parents[1]
DATASET_ID = 980
DATASET = f"Dataset{DATASET_ID:03d}_BrainMRGeneral"
NAME = "brain_mr"
#: (case name, file under ../shared/data, licence) of the training volumes: all redistributable.
TRAINING = (
    ("cstar_t1", "cstar_stroke/T1.nii.gz", "MIT (neurolabusc/VolumeRenderingData; data from C-STAR, NIH P50 DC014664)"),
    ("cstar_t2", "cstar_stroke/T2.nii.gz", "MIT (neurolabusc/VolumeRenderingData; data from C-STAR, NIH P50 DC014664)"),
    ("cstar_flair", "cstar_stroke/FLAIR.nii.gz",
     "MIT (neurolabusc/VolumeRenderingData; data from C-STAR, NIH P50 DC014664)"),
    ("mni152_t1", "nilearn_mni152/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
     "MNI ICBM152 2009a template: free use with attribution (McConnell Brain Imaging Centre); via nilearn (BSD-3)"),
)
#: Held-out brain MR volumes the table is measured on (other subjects and sources; never trained on).
HELD_OUT = (
    ("brats5_flair", "brats2013_deepmedic/pat0005/Flair_subtrMeanDivStd.nii.gz"),
    ("brats5_t1c", "brats2013_deepmedic/pat0005/T1c_subtrMeanDivStd.nii.gz"),
    ("brats6_flair", "brats2013_deepmedic/pat0006/Flair_subtrMeanDivStd.nii.gz"),
    ("brats6_t1c", "brats2013_deepmedic/pat0006/T1c_subtrMeanDivStd.nii.gz"),
)  # CC BY-NC-SA 3.0: measured on, never trained on (the weights do not derive from them)
IN_PLANE_SCALES = (2.0, 2.5, 3.0, 4.0)
THROUGH_PLANE_FACTORS = (2, 3, 4, 5)
DEFAULT_STEPS = 12000


def _run(entry: str, args: Sequence[str]) -> None:
    """Run a command's ``main`` (``module`` or ``module:function``) as its console script would."""
    module, _, func = entry.partition(":")
    print(f"\n$ {module.rsplit('.', 1)[-1]} {' '.join(args)}", flush=True)
    code = getattr(importlib.import_module(module), func or "main")(list(args))
    if code != 0:
        raise SystemExit(f"{entry} failed with exit code {code}")


def build_dataset(shared: Path, raw: Path) -> Path:
    """The raw training dataset: byte copies of the training volumes, ``dataset.json`` stating their licences."""
    folder = raw / DATASET
    if (folder / "dataset.json").is_file():
        print(f"(reusing {folder})")
        return folder
    tmp = raw / f".{DATASET}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "imagesTr").mkdir(parents=True)
    for case, rel, _ in TRAINING:
        shutil.copyfile(shared / rel, tmp / "imagesTr" / f"{case}_0000.nii.gz")
    info = {
        "name": "BrainMRGeneral", "channel_names": {"0": "MR"}, "file_ending": ".nii.gz", "numTraining": len(TRAINING),
        "description": "AutoSR built-in brain MR model: redistributable adult brain MR volumes of any contrast "
                       "(T1w, T2w, FLAIR, 1 mm isotropic), one channel",
        "license": "; ".join(f"{case}: {lic}" for case, _, lic in TRAINING),
        "reference": "C-STAR: github.com/neurolabusc/VolumeRenderingData (stroke/); MNI ICBM152 2009a: Fonov et al., "
                     "NeuroImage 2011, via nilearn 0.14.1",
    }
    (tmp / "dataset.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    tmp.rename(folder)
    return folder


def add_held_out(shared: Path, raw: Path) -> None:
    """Copy the held-out volumes into ``imagesTs`` (measured on only: nothing reads imagesTs for training)."""
    folder = raw / DATASET / "imagesTs"
    folder.mkdir(exist_ok=True)
    for case, rel in HELD_OUT:
        target = folder / f"{case}_0000.nii.gz"
        if not target.is_file():
            shutil.copyfile(shared / rel, target)


def measure(model_folder: Path, out: Path, max_slices: int) -> Dict:
    """``autosr_evaluate`` on the held-out scans: in-plane scales against bicubic, through-plane factors against
    B-spline (and bicubic); LR made by the plan's reference recipe / slice profile."""
    scales = [f"{s:g}" for s in IN_PLANE_SCALES] + [f"1,1,{f}" for f in THROUGH_PLANE_FACTORS]
    _run("autosr.commands.evaluate", ["-d", str(DATASET_ID), "-f", "all", "-c", model_folder.name.split("__")[2],
                                      "--split", "test", "-s", *scales, "--baselines", "bicubic", "bspline",
                                      "--max_slices", str(max_slices), "--device", "cpu", "-o", str(out)])
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def quality_table(summary: Dict) -> str:
    """The card's table: PSNR per scale of the model and the baselines, and the model's gain."""
    rows = ["| refinement | scale | model PSNR (dB) | bicubic | B-spline | model − best baseline (dB) | model SSIM | "
            "cases × slices |", "|---|---|---|---|---|---|---|---|"]
    for thick, label in (("", "in-plane"), (" [thick]", "through-plane")):
        for key, methods in summary["per_scale"].items():
            if f"model{thick}" not in methods:
                continue
            m = {k: methods.get(f"{k}{thick}", {}) for k in ("model", "bicubic", "bspline")}
            psnr = {k: v.get("psnr", {}).get("mean") for k, v in m.items()}
            best = max(v for k, v in psnr.items() if k != "model" and v is not None)
            rows.append(f"| {label} | ×{key} | {psnr['model']:.2f} | {psnr['bicubic']:.2f} | {psnr['bspline']:.2f} | "
                        f"{psnr['model'] - best:+.2f} | {m['model']['ssim']['mean']:.4f} | "
                        f"{m['model']['psnr']['n']} |")
    return "\n".join(rows)


def write_card(zip_path: Path, table: str, command: str) -> Path:
    """The model card ``NAME.md`` beside the zip, from its manifest, its training summary and the held-out table."""
    import zipfile

    with zipfile.ZipFile(zip_path) as z:
        manifest = json.loads(z.read("autosr_model.json"))
        summary = json.loads(z.read("fold_all/training_summary.json"))
        degradation = json.loads(z.read("plans.json"))["configurations"][manifest["model"]["configuration"]]["degradation"]
    lr_recipe = (f"{degradation['kernel_size']}×{degradation['kernel_size']} Gaussian, σ {degradation['sigma']:g}, "
                 f"{'antialiased ' if degradation.get('antialias') else ''}bicubic down")
    profile = degradation["slice_profile"]["profiles"][0]
    sc, net = manifest["scales"], manifest["network"]
    losses = " + ".join(f"{t['weight']:g}·{t['name']}" for t in summary.get("losses_effective", ()))
    data = "\n".join(f"| `{case}` | `{rel}` | {lic} |" for case, rel, lic in TRAINING)
    held = ", ".join(f"`{rel}`" for _, rel in HELD_OUT)
    card = f"""# Model card: `builtin:{NAME}`

A general brain MR super-resolution model that needs no training: `autosr_predict -i SCANS -o OUT -s 2.5 -m
builtin:{NAME}` (in-plane, any scale in (1, {sc['max']:g}]) or `-s 1 1 F` (a thick slice axis, F up to
{sc['single_axis_max']:g}). Made by `{command}` (AutoSR {manifest['autosr_version']}, {manifest['created'][:10]}).

| | |
|---|---|
| network | MIASSR's generator at AutoSR's CPU size (`2d_cpu`): EDSR-lite body (8 residual blocks × 32 channels) + per-axis Meta-Upscale, {net['parameters'] / 1e6:.3f} M parameters ({net['dtypes'][0]}), {zip_path.stat().st_size / 1e6:.2f} MB zip |
| input | one channel, any adult brain MR contrast (T1w, T2w, FLAIR), skull-stripped or not; 2D slices along the plan's slicing axis, intensities normalised per scan (0.5th–99.5th percentile of the foreground) |
| scales | in-plane (1, {sc['max']:g}]; one axis alone (thick slices) up to {sc['single_axis_max']:g}; {'one factor per axis' if sc['per_axis'] else 'one in-plane factor'} |
| robust to | the acquisition families of the default plan (Gaussian PSF with and without antialiasing, area averaging, MR k-space truncation, with noise); can be told `--acquisition {' / '.join(sc['acquisitions'])}` |
| training | {summary['step']} steps ({summary['overrides'].get('training.warmup_steps')} L1 warm-up, then {summary['overrides'].get('training.gan_steps')} with {losses}), seed {summary['overrides'].get('training.seed')}, fold `all` (every case), {summary['seconds']['run'] / 60:.0f} min on a 2-core CPU |
| licence of the weights | derived from the training data below (MIT; attribution for the MNI template): redistributable with the attributions of this card |

## Training data (all redistributable)

| case | file under `../shared/data` | licence |
|---|---|---|
{data}

Four 1 mm isotropic volumes of two subjects (a chronic-stroke patient's T1w/T2w/FLAIR, and a population
template). T1w and FLAIR are 8-bit (as published), so fine intensity detail is limited. Attribution: C-STAR
(NIH P50 DC014664) via github.com/neurolabusc/VolumeRenderingData (MIT); MNI ICBM152 2009a nonlinear symmetric
template, Fonov et al., NeuroImage 2011, (c) McConnell Brain Imaging Centre, via nilearn.

## Quality on brain MR it never saw

Measured by the same script (`--only measure`, `autosr_evaluate --split test`) on {held} — four volumes
(FLAIR and T1 post-contrast of two glioma patients: other subjects and another source, z-scored
intensities, tumours) that are CC BY-NC-SA 3.0 and therefore only measured on, never trained on. LR is made
by the plan's reference recipe (in-plane: {lr_recipe}) or slice profile (through-plane: {profile} thick
slices along z, restored as `autosr_predict -s 1 1 F` would); PSNR/SSIM over normalised intensities inside
each scan's crop box, mean over slices.

{table}

Retraining with this script reproduces this quality: a second run of the same command gave every row
within 0.1 dB (documentation/sharing.md, "Retraining").

## Where it can be trusted, and where not

* Adult brain MR at roughly 1 mm in-plane. Other anatomy, CT, or infant brains are outside its training
  (AutoSR warns when intensities look like CT); train your own model on your data for those.
* Two training subjects: a new subject's unusual anatomy (large lesions, implants) is extrapolated; run with
  `--save_uncertainty` to see where the output is not determined by the input, and check
  `checks.consistency` in each `{{case}}.autosr.json` (`--enforce_consistency` makes the output explain its
  input exactly).
* Scales above {sc['max']:g} in-plane or {sc['single_axis_max']:g} on one axis are refused
  (`--allow_extrapolation` to try).
"""
    path = zip_path.with_suffix(".md")
    path.write_text(card, encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", type=Path, required=True, help="working folder (raw/, preprocessed/, results/)")
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data", help="../shared/data")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--deterministic", action="store_true")
    p.add_argument("--only", choices=("train", "export", "measure"), default=None)
    p.add_argument("--output", type=Path, default=REPO / "autosr" / "models" / "builtin" / f"{NAME}.zip",
                   help="where the exported model goes (default: the shipped built-in model)")
    p.add_argument("--max_slices", type=int, default=24, help="held-out slices per volume, evenly spread")
    args = p.parse_args(argv)
    work = args.work.resolve()
    raw, pre, res = work / "raw", work / "preprocessed", work / "results"
    for d in (raw, pre, res):
        d.mkdir(parents=True, exist_ok=True)
    for kind, d in (("RAW", raw), ("PREPROCESSED", pre), ("RESULTS", res)):
        os.environ[f"AUTOSR_{kind}"] = str(d)  # also the DDP workers' folders
    t0 = time.perf_counter()
    if args.only in (None, "train"):
        build_dataset(args.shared, raw)
        _run("autosr.commands.plan", ["-d", str(DATASET_ID), "-np", "2"])
        train = [str(DATASET_ID), "all", "-c", "2d_cpu", "--steps", str(args.steps), "--seed", str(args.seed),
                 "--device", "cpu"]
        fold = res / DATASET / "MetaSRTrainer__autosrPlans__2d_cpu" / "fold_all"
        if (fold / "checkpoint_final.pth").is_file():
            print(f"(reusing {fold / 'checkpoint_final.pth'})")
        else:
            if (fold / "checkpoint_latest.pth").is_file():
                train.append("--c")
            if args.deterministic:
                train.append("--deterministic")
            _run("autosr.commands.train", train)
    model_folder = res / DATASET / "MetaSRTrainer__autosrPlans__2d_cpu"
    if args.only in (None, "export"):
        _run("autosr.commands.models:export_main", ["-m", str(model_folder), "-f", "all", "-o", str(args.output)])
    if args.only in (None, "measure"):
        add_held_out(args.shared, raw)
        summary = measure(model_folder, work / "evaluation_held_out", args.max_slices)
        table = quality_table(summary)
        (work / "held_out_table.md").write_text(table + "\n", encoding="utf-8")
        print(f"\nheld-out quality ({len(HELD_OUT)} BraTS volumes, never trained on):\n{table}")
        if args.output.is_file():
            print(f"model card: {write_card(args.output, table, f'python scripts/train_builtin_model.py --steps {args.steps}')}")
    print(f"\ndone in {(time.perf_counter() - t0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
