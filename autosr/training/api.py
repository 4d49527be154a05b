"""``train()``: the Python API behind ``autosr_train``.

    from autosr.training.api import train
    fold_folder = train("Dataset001_BrainMR", 0, overrides={"training.lr": 2e-4}, steps=2000)

Resolves the dataset, plans, configuration and fold split, prepares the run folder
``$AUTOSR_RESULTS/DatasetXXX/{Trainer}__{plans}__{configuration}/fold_N/`` (plans, dataset.json
and fingerprint copied one level up), attaches ``training_log.txt`` and runs the trainer.
"""
from __future__ import annotations

import json
import logging
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch

from autosr.dataset import read_json, remove_partials, write_json_atomic
from autosr.paths import preprocessed_dir, resolve_dataset, results_dir
from autosr.plans import MODEL_PLANS_NAME, Configuration, Plans, apply_overrides
from autosr import checkpoint as ckpt_format
from autosr.checkpoint import CheckpointError
from autosr.inference.model_folder import model_folder_name
from autosr.training import distributed as D
from autosr.training.components import step_overrides
from autosr.training.errors import TrainingError
from autosr.training.progress import add_log_file, remove_log_file, start_log_buffer
from autosr.training.registry import get_trainer_class

logger = logging.getLogger(__name__)

FoldLike = Union[int, str]


def default_configuration(device: Optional[torch.device] = None) -> str:
    """``"2d"`` (the paper's schedule) when training on a GPU, ``"2d_cpu"`` (a short run) otherwise.

    Without ``device``: a GPU when this machine has CUDA (``--device auto``).
    """
    on_gpu = device.type == "cuda" if device is not None else torch.cuda.is_available()
    return "2d" if on_gpu else "2d_cpu"


def parse_fold(fold: FoldLike) -> str:
    """``0``..``4`` (any split index) or ``"all"``; returned as a string."""
    text = str(fold).strip().lower()
    if text == "all" or text.isdigit():
        return text
    raise TrainingError(f"fold {fold!r}: give a fold number (0-4) or 'all'")


def fold_cases(preprocessed_folder: Path, fold: str) -> Tuple[List[str], List[str]]:
    """Training and validation cases of ``fold`` from ``splits_final.json`` (``all``: every case, both)."""
    path = preprocessed_folder / "splits_final.json"
    splits = read_json(path, TrainingError, "re-run autosr_plan_and_preprocess for this dataset")
    if fold == "all":
        cases = sorted({c for s in splits for part in ("train", "val") for c in s[part]})
        return cases, cases
    if int(fold) >= len(splits):
        raise TrainingError(f"fold {fold} is not in {path}: it defines folds 0-{len(splits) - 1} "
                            f"(or train on every case with fold 'all')")
    split = splits[int(fold)]
    if not split["train"]:
        raise TrainingError(f"fold {fold} of {path} has no training cases")
    return list(split["train"]), list(split["val"])


def load_cases(preprocessed_folder: Path, data_identifier: str, cases: List[str], paired: bool,
               plans: Optional[Plans] = None
               ) -> Tuple[Dict[str, np.ndarray], Optional[Dict[str, Tuple[np.ndarray, Fraction]]]]:
    """Memory-mapped ``(C, S, H, W)`` volumes of ``cases`` (and their real LR scans in paired mode).

    With ``plans``, each case must have been preprocessed along its slicing axis.
    """
    from autosr.preprocessing.api import load_case, load_lowres
    folder = preprocessed_folder / data_identifier
    if not folder.is_dir():
        raise TrainingError(f"{folder}: not preprocessed for this configuration; run autosr_plan_and_preprocess")
    volumes, lowres = {}, {} if paired else None
    for case in cases:
        vol, props = load_case(preprocessed_folder, data_identifier, case)
        if plans is not None:
            _check_preprocessed(plans, props, case, folder)
        volumes[case] = vol
        if paired:
            lowres[case] = (load_lowres(preprocessed_folder, data_identifier, case), _paired_scale(case, props))
    return volumes, lowres


def _paired_scale(case: str, props: Mapping[str, Any]) -> Fraction:
    """The exact in-plane scale between a case and its real LR scan (one value: isotropic in-plane)."""
    info = props.get("lowres") or {}
    values = {Fraction(str(v)) for v in info.get("scale_fraction", [])}
    if len(values) != 1:
        raise TrainingError(f"case {case!r}: paired training needs one in-plane scale between the HR and LR scans, "
                            f"found {sorted(map(str, values)) or 'none'} in its properties")
    scale = values.pop()
    if scale <= 1:
        raise TrainingError(f"case {case!r}: the paired LR scan is not coarser than the HR scan (scale {scale})")
    return scale


def _copy_model_files(preprocessed_folder: Path, plans_file: Path, run_folder: Path) -> None:
    """Make the run folder self-contained: plans, dataset.json and fingerprint beside the folds."""
    run_folder.mkdir(parents=True, exist_ok=True)
    target = run_folder / MODEL_PLANS_NAME
    if target.is_file() and target.read_bytes() != plans_file.read_bytes():
        logger.warning("%s differs from %s (re-planned?); overwriting it", target, plans_file)
    shutil.copyfile(plans_file, target)
    for name in ("dataset.json", "dataset_fingerprint.json"):
        if (preprocessed_folder / name).is_file():
            shutil.copyfile(preprocessed_folder / name, run_folder / name)


def _resolve(dataset: Union[str, int], plans: str) -> Tuple[str, Path, Plans]:
    name = resolve_dataset(dataset)
    folder = preprocessed_dir() / name
    if not folder.is_dir():
        raise TrainingError(f"dataset {name} is not preprocessed ({folder} does not exist); "
                            f"run autosr_plan_and_preprocess -d {name} first")
    plans_file = folder / f"{plans}.json"
    if not plans_file.is_file():
        found = sorted(p.stem for p in folder.glob("*Plans*.json")) or ["none"]
        raise TrainingError(f"{plans_file}: plans {plans!r} not found; plans of {name}: {', '.join(found)}")
    return name, folder, Plans.load(plans_file)


def _check_fold_is_free(fold_folder: Path, overwrite: bool) -> List[Path]:
    """The checkpoints of an earlier run in ``fold_folder``; refused unless ``overwrite`` (they are then replaced)."""
    found = [fold_folder / n for n in ckpt_format.CHECKPOINT_NAMES if (fold_folder / n).is_file()]
    if found and not overwrite:
        state = "a finished training" if (fold_folder / "checkpoint_final.pth").is_file() else "an unfinished training"
        raise TrainingError(f"{fold_folder}: holds {state} ({', '.join(p.name for p in found)}); continue it with "
                            f"--c, or train it anew with --overwrite (its checkpoints are deleted)")
    return found


def _prepare_fold(fold_folder: Path, earlier: List[Path]) -> None:
    """Clear what an earlier run left: partial files of an interrupted write, and (``--overwrite``) its checkpoints."""
    partials = remove_partials(fold_folder, ".*.partial", log=False)  # checkpoints' and JSON files' temporaries
    if partials:
        logger.info("removed %d partial file(s) of an interrupted run from %s: %s", len(partials), fold_folder,
                    ", ".join(p.name for p in partials))
    for path in earlier:
        path.unlink(missing_ok=True)
    if earlier:
        logger.info("--overwrite: deleted the earlier run's %s from %s", ", ".join(p.name for p in earlier),
                    fold_folder)


def _check_preprocessed(plans: Plans, props: Mapping[str, Any], case: str, folder: Path) -> None:
    """The case must have been preprocessed along the plans' slicing axis (hand edits need autosr_preprocess)."""
    axis = props.get("slicing_axis")
    if axis is not None and axis != plans.slicing_axis:
        raise TrainingError(f"{folder / (case + '.json')}: preprocessed along axis {axis}, but {plans.path} has "
                            f"slicing.axis {plans.slicing_axis}; run autosr_preprocess -d {plans.dataset_name}")


def train(dataset: Union[str, int], fold: FoldLike, configuration: Optional[str] = None,
          trainer: str = "MetaSRTrainer", plans: str = "autosrPlans", device: str = "auto",
          overrides: Optional[Mapping[str, Any]] = None, continue_training: bool = False,
          pretrained_weights: Optional[str] = None, val_only: bool = False, steps: Optional[int] = None,
          warmup_steps: Optional[int] = None, overwrite: bool = False, system: Optional[str] = None) -> Path:
    """Train (or validate) one fold; returns the fold folder.

    Every check (plans, overrides, checkpoints, weights files) runs before anything is written.

    Args:
        dataset: id, short name or ``DatasetXXX_Name``.
        fold: split index of ``splits_final.json`` or ``"all"``.
        configuration: plans configuration; default ``"2d"`` with a GPU, ``"2d_cpu"`` without.
        trainer: registered trainer name or ``module:Class`` / ``file.py:Class``.
        overrides: dotted keys, e.g. ``{"training.lr": 2e-4, "network.depth": 8}``.
        continue_training: resume from ``checkpoint_latest.pth`` (its resolved configuration
            is used; ``overrides`` given now are applied on top).
        pretrained_weights: a checkpoint of another model to start from (transfer learning).
        val_only: validate the final (else latest) checkpoint and write ``validation.json``.
        steps, warmup_steps: ``--steps`` / ``--warmup_steps`` (see :func:`step_overrides`).
        overwrite: train a fold that holds checkpoints of an earlier run anew (they are deleted);
            without it (or ``continue_training``) such a fold is refused.
        system: one of the papers' systems (:data:`autosr.systems.SYSTEMS`): its network and losses over
            the planned configuration (``overrides`` win), in its own model folder
            ``Trainer__plans__configuration__SYSTEM``.
    """
    if continue_training and pretrained_weights:
        raise TrainingError("--c and --pretrained_weights exclude each other: a continued run has its own weights")
    if continue_training and overwrite:
        raise TrainingError("--c and --overwrite exclude each other: --c continues the fold's run, --overwrite "
                            "starts it anew")
    fold = parse_fold(fold)
    info, dev = D.setup(device)
    buffer, handler = start_log_buffer(), None
    try:
        name, pre_folder, plans_obj = _resolve(dataset, plans)
        conf_name = configuration or default_configuration(dev)  # --device cpu on a GPU machine: 2d_cpu
        base = plans_obj.configuration(conf_name)
        cls = get_trainer_class(trainer)
        system_overrides: Dict[str, Any] = {}
        if system is not None:
            from autosr.systems import get_system
            try:
                chosen = get_system(system)
            except KeyError as exc:
                raise TrainingError(f"--system: {exc.args[0]}") from None
            system_overrides, said = chosen.overrides(conf_name.endswith("cpu"), base)
            logger.info(said)
        run_folder = results_dir() / name / model_folder_name(cls.__name__, plans_obj.plans_name, conf_name, system)
        fold_folder = run_folder / f"fold_{fold}"
        ckpt_path, ckpt, earlier = None, None, []
        if continue_training or val_only:
            names = ("checkpoint_latest.pth", "checkpoint_final.pth") if continue_training else \
                ("checkpoint_final.pth", "checkpoint_latest.pth")
            ckpt_path = ckpt_format.find_checkpoint(fold_folder, names)
            if ckpt_path is not None:
                ckpt = ckpt_format.load_checkpoint(ckpt_path, map_location="cpu")
                base = Configuration.from_dict(conf_name, ckpt.get("configuration", base.to_dict()), str(ckpt_path),
                                               "use another checkpoint, or train the fold anew with --overwrite")
            elif val_only:
                raise CheckpointError(f"{fold_folder}: no checkpoint to validate; train this fold first")
        else:
            earlier = _check_fold_is_free(fold_folder, overwrite)
        if ckpt is not None:
            system_overrides = {}  # the checkpoint's configuration is already the system's (and its -o's)
        all_overrides = {**system_overrides, **dict(overrides or {})}
        config = apply_overrides(base, all_overrides, plans_obj) if all_overrides else base
        # --steps keeps the warm-up share of the configuration being trained (an L1-only system's: all of it)
        schedule = step_overrides(config.training, steps, warmup_steps)
        if schedule:
            all_overrides.update(schedule)
            config = apply_overrides(config, schedule, plans_obj)
        if ckpt is not None and all_overrides:
            all_overrides = {**dict(ckpt.get("overrides", {})), **all_overrides}
        elif ckpt is not None:
            all_overrides = dict(ckpt.get("overrides", {}))
        train_cases, val_cases = fold_cases(pre_folder, fold)
        paired = config.degradation.mode == "paired"
        volumes, lowres = load_cases(pre_folder, config.data_identifier, train_cases, paired, plans_obj)
        val_volumes, val_lowres = load_cases(pre_folder, config.data_identifier, val_cases, paired, plans_obj)
        if not info.is_main:
            logging.getLogger("autosr").setLevel(logging.WARNING)
        logger.info("=" * 72)
        logger.info("AutoSR %s: dataset %s, fold %s, trainer %s, configuration %s%s, device %s%s",
                    "validation" if val_only else "training", name, fold, cls.__name__, conf_name,
                    "" if configuration else " (default without a GPU)" if conf_name == "2d_cpu" else " (default: GPU)",
                    dev, f", {info.world_size} processes" if info.enabled else "")
        logger.info("overrides: %s", json.dumps(all_overrides) if all_overrides else "none")
        tr = cls(plans_obj, config, fold, [volumes[c] for c in train_cases], val_volumes, fold_folder, dev, info,
                 all_overrides, lowres=[lowres[c] for c in train_cases] if lowres is not None else None,
                 val_lowres=val_lowres)
        if val_only:
            tr.validate_checkpoint(ckpt_path, ckpt)  # checks the checkpoint's identity before writing
        else:
            tr.initialize()           # networks and VGG weights: a bad file stops the run here
            if ckpt is not None:
                tr.resume(ckpt_path, ckpt)
            elif continue_training:
                logger.warning("--c: no checkpoint in %s; starting a new training", fold_folder)
            elif pretrained_weights:
                tr.load_pretrained(Path(pretrained_weights))
        # Every check passed: from here on the run folder is written.
        if info.is_main:
            _copy_model_files(pre_folder, Path(plans_obj.path), run_folder)
            handler = add_log_file(fold_folder, buffer=buffer)
            _prepare_fold(fold_folder, earlier)
        D.barrier(info)
        if val_only:
            return fold_folder
        if info.is_main:
            write_json_atomic({"trainer": cls.__name__, "trainer_arg": trainer, "configuration": conf_name,
                               "overrides": all_overrides, "resolved": config.to_dict(), "device": str(dev),
                               "world_size": info.world_size, "continue_training": bool(continue_training),
                               "pretrained_weights": str(pretrained_weights) if pretrained_weights else None,
                               "system": system},
                              fold_folder / "training_config.json")
        tr.run_training()
        return fold_folder
    finally:
        remove_log_file(buffer)
        remove_log_file(handler)
        D.cleanup(info)


__all__ = ["train", "default_configuration", "fold_cases", "load_cases", "parse_fold"]
