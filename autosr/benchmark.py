"""The papers' comparison on a user's data in one call: train every system that is missing, evaluate them alike.

``autosr_benchmark -d D -f F -c C --systems …`` (:func:`run_benchmark`): for each system of
:mod:`autosr.systems` (or ``SYSTEM+VARIANT``), the fold's model folder ``…__C__SYSTEM`` is trained
when it has no final checkpoint (continued from its latest one when a run was interrupted, so the
command is resumable), then evaluated by :func:`autosr.evaluation.evaluate.evaluate_model` on the
same held-out slices, the same LR (the evaluation's fixed seed) and the same scales. The table has,
per system, mean PSNR / SSIM / NRMSE over the scales, PSNR per scale, parameters (as trained and
at the paper's size, every model a system needs counted), training steps and time;
``benchmark.csv``, ``benchmark.md``, ``psnr_vs_scale.png`` and ``psnr_vs_parameters.png`` (MIASSR
Fig. 4's bubbles) are written to the output folder.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import pandas as pd

from autosr import checkpoint as ckpt_format
from autosr.dataset import write_text_atomic
from autosr.errors import AutoSRError
from autosr.evaluation.engine import DEFAULT_SCALES
from autosr.evaluation.report import load_summary
from autosr.inference.model_folder import model_folder_name
from autosr.paths import resolve_dataset, results_dir
from autosr.systems import SYSTEMS, get_system, parameter_count

logger = logging.getLogger(__name__)

#: The trainer of every system's model folder.
TRAINER = "MetaSRTrainer"
#: MIASSR Fig. 8: its system with each adversarial objective (``--adversarial``).
ADVERSARIAL_SYSTEMS = ("MIASSR", "MIASSR+WGAN", "MIASSR+VanillaGAN", "MIASSR+RaGAN")


class BenchmarkError(AutoSRError):
    """A benchmark's systems are wrong."""


@dataclass
class SystemResult:
    """One system's row: how it was trained and what the evaluation measured (``summary.json``)."""

    name: str
    steps: int
    seconds: Optional[float]
    parameters: int
    paper_parameters: int
    models: int
    summary: Mapping[str, Any]


def check_systems(names: Sequence[str]) -> List[str]:
    """The names, each a system or ``SYSTEM+VARIANT``, checked before any training (duplicates once)."""
    out = []
    for name in names:
        try:
            get_system(name)
        except KeyError as exc:
            raise BenchmarkError(f"--systems: {exc.args[0]}") from None
        if name not in out:
            out.append(name)
    if not out:
        raise BenchmarkError("--systems: give at least one system")
    return out


def run_benchmark(dataset: Union[str, int], fold: Union[int, str], configuration: Optional[str] = None,
                  systems: Optional[Sequence[str]] = None, steps: Optional[int] = None,
                  warmup_steps: Optional[int] = None, scales: Sequence[float] = DEFAULT_SCALES, split: str = "val",
                  max_slices: Optional[int] = 8, output: Optional[os.PathLike] = None, device: str = "auto",
                  overrides: Optional[Mapping[str, Any]] = None, plans: str = "autosrPlans") -> Path:
    """Train what is missing and evaluate every system alike; returns the output folder (module doc).

    ``steps``, ``warmup_steps``: each newly trained system's total and warm-up steps (``autosr_train --steps
    --warmup_steps``; an L1-only system has no GAN phase whatever they say; a system trained earlier is kept as
    it is and its own steps are reported). ``overrides``: plan overrides for every system trained now (``-o``).
    Default output: ``$AUTOSR_RESULTS/DatasetXXX/benchmark_{configuration}_fold{F}``.
    """
    from autosr.evaluation.evaluate import evaluate_model
    from autosr.training.api import default_configuration, parse_fold, train
    names = check_systems(list(systems) if systems else list(SYSTEMS))
    fold = parse_fold(fold)
    from autosr.devices import parse_device
    conf = configuration or default_configuration(parse_device(device))  # --device cpu on a GPU machine: 2d_cpu
    name = resolve_dataset(dataset)
    out = Path(output) if output else results_dir() / name / f"benchmark_{conf}_fold{fold}"
    results: List[SystemResult] = []
    for i, system in enumerate(names):
        logger.info("=== benchmark %d/%d: %s", i + 1, len(names), system)
        fold_folder = results_dir() / name / model_folder_name(TRAINER, plans, conf, system) / f"fold_{fold}"
        if (fold_folder / "checkpoint_final.pth").is_file():
            logger.info("%s: trained earlier (%s), kept", system, fold_folder / "checkpoint_final.pth")
        else:
            resume = (fold_folder / "checkpoint_latest.pth").is_file()
            if resume:
                logger.info("%s: continuing the interrupted run in %s", system, fold_folder)
            train(name, fold, configuration=conf, plans=plans, device=device, system=system,
                  overrides=None if resume else overrides, steps=None if resume else steps,
                  warmup_steps=None if resume or get_system(system).adversarial == "none" else warmup_steps,
                  continue_training=resume)
        evaluate_model(name, fold, scales=list(scales), split=split, baselines=["bicubic"], plans=plans,
                       configuration=conf, system=system, output=out / "systems" / system, device=device,
                       max_slices_per_case=max_slices, clip_scales=True)
        results.append(_result(system, fold_folder, load_summary(out / "systems" / system)))
    write_tables(results, out)
    return out


def _result(name: str, fold_folder: Path, summary: Mapping[str, Any]) -> SystemResult:
    path = fold_folder / "checkpoint_final.pth"
    ckpt = ckpt_format.load_checkpoint(path, map_location="cpu")
    generator = ckpt["generator"]
    paper, models = parameter_count(get_system(name), int(ckpt["generator_config"].get("in_channels", 1)))
    return SystemResult(name=name, steps=int(ckpt.get("step", 0)),
                        seconds=(ckpt.get("seconds") or {}).get("run"),
                        parameters=sum(v.numel() for k, v in generator.items() if v.is_floating_point()
                                       and not k.endswith(("running_mean", "running_var"))),
                        paper_parameters=paper, models=models, summary=summary)


def table(results: Sequence[SystemResult]) -> pd.DataFrame:
    """One row per system, and bicubic first (from the first system's evaluation: every system saw the same LR)."""
    rows: List[Dict[str, Any]] = []
    scales = [k for k in results[0].summary["scales"] if k != "n/a"] if results else []
    for label, method, r in [("bicubic", "bicubic", results[0])] + [(r.name, "model", r) for r in results]:
        over = r.summary["mean_over_scales"][method]
        row: Dict[str, Any] = {"system": label, "psnr": over["psnr"], "ssim": over["ssim"], "nrmse": over["nrmse"]}
        for k in scales:
            stats = r.summary["per_scale"].get(k, {}).get(method)
            row[f"psnr_x{k}"] = stats["psnr"]["mean"] if stats else None
        learned = method == "model"
        row.update({"parameters_M": r.parameters / 1e6 if learned else 0.0,
                    "paper_parameters_M": r.paper_parameters / 1e6 if learned else 0.0,
                    "models": r.models if learned else 0, "steps": r.steps if learned else 0,
                    "train_minutes": (r.seconds / 60 if r.seconds is not None else None) if learned else 0.0})
        rows.append(row)
    return pd.DataFrame(rows)


def markdown(df: pd.DataFrame) -> str:
    """The table as markdown: PSNR/SSIM/NRMSE mean over scales, PSNR per scale, sizes and training."""
    cols = list(df.columns)
    head = "| " + " | ".join(c.replace("psnr_x", "PSNR ×").replace("_", " ") for c in cols) + " |"
    lines = [head, "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if c == "system":
                cells.append(str(v))
            elif v is None or (isinstance(v, float) and pd.isna(v)):
                cells.append("–")
            elif c in ("ssim", "nrmse"):
                cells.append(f"{v:.4f}")
            elif c in ("models", "steps"):
                cells.append(str(int(v)))
            else:
                cells.append(f"{v:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(results: Sequence[SystemResult], out: Path) -> pd.DataFrame:
    """``benchmark.csv``, ``benchmark.md``, ``psnr_vs_scale.png``, ``psnr_vs_parameters.png``; prints the table."""
    from autosr.evaluation.plots import plot_bubbles, plot_systems_vs_scale
    df = table(results)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(df.to_csv(index=False), out / "benchmark.csv")
    text = markdown(df)
    note = ("Mean over scales and PSNR per scale on the same held-out slices and LR; parameters as trained "
            "(CPU configurations scale the papers' sizes down) and at the papers' sizes, every model a system "
            "needs counted; training minutes of the run's wall clock.\n\n")
    write_text_atomic(note + text, out / "benchmark.md")
    plot_systems_vs_scale(df, out / "psnr_vs_scale.png")
    plot_bubbles(df[df["system"] != "bicubic"], float(df.loc[df["system"] == "bicubic", "psnr"].iloc[0]),
                 out / "psnr_vs_parameters.png")
    print(text)
    return df


def parameter_table() -> str:
    """Every system's parameters at its paper's size next to MIASSR's Table 1 (``autosr_benchmark --parameters``)."""
    lines = [f"{'system':<16} {'models':>6} {'AutoSR (M)':>10} {'MIASSR Table 1':>15}  note"]
    for name, system in SYSTEMS.items():
        total, models = parameter_count(system)
        paper = f"{system.table1:.1f}" if system.table1 is not None else "–"
        lines.append(f"{name:<16} {models:>6} {total / 1e6:>10.2f} {paper:>15}  {system.note}")
    return "\n".join(lines)


__all__ = ["run_benchmark", "check_systems", "table", "markdown", "write_tables", "parameter_table",
           "ADVERSARIAL_SYSTEMS", "BenchmarkError", "SystemResult"]
