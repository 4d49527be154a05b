"""Evaluate a trained model against baselines (``autosr_evaluate -d -f``) or any two folders (``-ref/-pred``).

Model evaluation: for each held-out HR scan (``val``: the fold's preprocessed validation cases,
already cropped and normalised; ``test``: ``imagesTs`` raw scans, cropped and normalised like
prediction), each slice and scale, LR is synthesised with the plan's degradation
(the plan's reference recipe, or each acquisition ``--degradation`` names, fixed seed) — and in paired datasets the case's real LR
scan is used too, at its own scale —, super-resolved by the model and by each baseline, and
compared with ``HR[..., :⌊⌊H/s⌋·s⌋, :⌊⌊W/s⌋·s⌋]`` on [0, 1] intensities (outputs
clipped to [0, 1]) inside the crop box. Writes the files of :mod:`autosr.evaluation.report`
and :mod:`autosr.evaluation.plots`.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
from tqdm import tqdm

from autosr.evaluation.engine import BASELINES, DEFAULT_SCALES, EvaluationError, Evaluator, slice_metrics
from autosr.paths import preprocessed_dir, raw_dir, resolve_dataset
from autosr.preprocessing.slicing import transpose_of
from autosr.scales import VolumeScale
from autosr.slices import select_slices

if TYPE_CHECKING:
    from autosr.degradation.acquisition import Acquisition
    from autosr.plans import DegradationPlan

logger = logging.getLogger(__name__)


def acquisitions_for(names: Sequence[str], plan: "DegradationPlan", modalities: Sequence[str]
                     ) -> Dict[str, "Acquisition"]:
    """Label → acquisition for ``--degradation`` names: ``planned`` (the plan's reference recipe), a
    named one (:data:`autosr.degradation.acquisition.NAMED`), or ``all``: ``planned`` and the families
    of the dataset's modality (CT when every channel is CT, else MR). Duplicates are kept once."""
    from autosr.degradation.acquisition import FAMILIES_BY_MODALITY, named
    expanded: List[str] = []
    for n in names:
        expanded += (["planned", *FAMILIES_BY_MODALITY["CT" if all(m == "CT" for m in modalities) else "MR"]]
                     if n == "all" else [n])
    out: Dict[str, "Acquisition"] = {}
    for n in expanded:
        try:
            acq = named(n, plan)
        except ValueError as exc:
            raise EvaluationError(f"--degradation: {exc}") from None
        if acq not in out.values():
            out[n] = acq
    return out


def _val_cases(pre_folder: Path, fold: str) -> List[str]:
    path = pre_folder / "splits_final.json"
    if not path.is_file():
        raise EvaluationError(f"{path}: missing; run autosr_plan_and_preprocess for this dataset")
    splits = json.loads(path.read_text(encoding="utf-8"))
    if fold == "all":
        logger.warning("fold 'all' was trained on every case: its 'val' evaluation uses training cases")
        return sorted({c for s in splits for part in ("train", "val") for c in s[part]})
    if int(fold) >= len(splits):
        raise EvaluationError(f"{path}: defines folds 0-{len(splits) - 1}, not {fold}")
    return list(splits[int(fold)]["val"])


def _iter_val(pre_folder: Path, data_identifier: str, fold: str, paired: bool
              ) -> Iterator[Tuple[str, np.ndarray, Optional[Tuple[np.ndarray, Fraction]]]]:
    from autosr.preprocessing.api import load_case, load_lowres
    for case in _val_cases(pre_folder, fold):
        vol, props = load_case(pre_folder, data_identifier, case)
        yield case, np.asarray(vol), _pair_of(pre_folder, data_identifier, case, props, load_lowres) if paired else None


def _pair_of(pre_folder: Path, data_identifier: str, case: str, props: dict, load_lowres
             ) -> Optional[Tuple[np.ndarray, Fraction]]:
    """The real LR scan of a case and its in-plane scale, or ``None`` (with the reason logged)."""
    info = props.get("lowres") or {}
    fractions = info.get("scale_fraction") or [str(v) for v in info.get("scale", [])]
    if len(fractions) != 2 or Fraction(fractions[0]) != Fraction(fractions[1]):
        logger.warning("case %s: paired LR scale %s is not one in-plane scale; evaluated with synthetic LR only",
                       case, fractions or "unknown")
        return None
    if any(abs(float(o)) > 1e-6 for o in info.get("hr_offset", [0.0, 0.0])):
        logger.warning("case %s: paired LR is offset from the HR grid by %s HR pixels; skipped as a pair",
                       case, info.get("hr_offset"))
        return None
    return np.asarray(load_lowres(pre_folder, data_identifier, case)), Fraction(fractions[0])


def _iter_test(raw_folder: Path, predictor) -> Iterator[Tuple[str, np.ndarray, None]]:
    from autosr.dataset import RawDataset
    from autosr.imageio import read_case
    from autosr.inference.prep import prepare_case
    cases = RawDataset.open(raw_folder).cases("imagesTs")
    if not cases:
        raise EvaluationError(f"{raw_folder / 'imagesTs'}: no test scans; use --split val or add imagesTs")
    for case, files in cases.items():
        arrays, geom = read_case(files)
        prep = prepare_case(arrays, predictor.plans, Fraction(1), array_spacing=geom.array_spacing)  # q = 1: HR
        yield case, prep.slices.transpose(1, 0, 2, 3), None


def evaluate_model(dataset: Union[str, int], fold: Union[int, str], scales: Sequence[float] = DEFAULT_SCALES,
                   split: str = "val", baselines: Sequence[str] = ("bicubic",), trainer: str = "MetaSRTrainer",
                   plans: str = "autosrPlans", configuration: Optional[str] = None,
                   checkpoint: str = "checkpoint_final.pth", output: Optional[os.PathLike] = None,
                   device: str = "auto", max_slices_per_case: Optional[int] = None, num_examples: int = 3,
                   batch_size: int = 8, allow_extrapolation: bool = False, clip_scales: bool = False,
                   degradation: Sequence[str] = ("planned",), blind: bool = False,
                   thick: Optional[Dict[int, Sequence[Fraction]]] = None, system: Optional[str] = None) -> Path:
    """Evaluate fold ``fold`` of a trained model at ``scales``; returns the output folder.

    ``thick``: array axis (numpy order of the scans) → factors: thick slices along that axis, made with
    the plan's slice profile, restored as ``autosr_predict -s`` with that factor on that axis would
    (:meth:`Evaluator.add_thick`), against bicubic and cubic B-spline.

    ``degradation``: how LR is made, one table each (:func:`acquisitions_for`). A model trained
    with acquisition codes is told each one's kind, as a user who knows it would, unless ``blind``.

    Default output: ``$AUTOSR_RESULTS/DatasetXXX/{model}/fold_N/evaluation_{split}/``. ``clip_scales``
    drops scales above the model's maximum (for default scale lists) instead of refusing them.
    """
    from autosr.inference.model_folder import resolve_model_folder
    from autosr.inference.predictor import Predictor
    if split not in ("val", "test"):
        raise EvaluationError(f"--split must be val or test, got {split!r}")
    folder = resolve_model_folder(dataset, trainer, plans, configuration, system=system)
    fold = str(fold)
    predictor = Predictor.from_model_folder(folder, folds=(fold,), checkpoint=checkpoint, device=device,
                                            batch_size=batch_size, allow_extrapolation=allow_extrapolation,
                                            progress=False)
    if clip_scales and predictor.scale_max is not None:
        scales = [s for s in scales if s <= predictor.scale_max + 1e-9] or [predictor.scale_max]
    for s in scales:
        predictor.check_scale(s)
    for axis, factors in (thick or {}).items():
        for f in factors:  # refused here (trained maximum, a per-axis model) before any case is read
            predictor.plan(VolumeScale(tuple(f if k == axis else Fraction(1) for k in range(3))), 3)
    config = predictor.configuration
    if config is None:
        raise EvaluationError(f"{folder}: its plans have no configuration {folder.name.split('__')[-1]!r}")
    paired = config.degradation.mode == "paired" and split == "val"
    if paired:
        logger.info("paired dataset: each case's real LR scan is evaluated at its own scale, plus synthetic LR "
                    "(the plan's blur) at every requested scale")
    name = folder.parent.name
    out = Path(output) if output else folder / f"fold_{fold}" / f"evaluation_{split}"
    acquisitions = acquisitions_for(degradation, config.degradation, predictor.plans.modalities)
    ev = Evaluator(scales, baselines, predictor, acquisitions, num_examples, str(predictor.device), blind)
    source = (_iter_val(preprocessed_dir() / name, config.data_identifier, fold, paired) if split == "val"
              else _iter_test(raw_dir() / resolve_dataset(name, raw_dir()), predictor))
    n_cases = 0
    n_pairs = 0
    stored = transpose_of(3, predictor.plans.slicing_axis)  # volumes come slicing axis first
    profile = config.degradation.slice_profile
    for case, vol, pair in tqdm(source, desc=f"evaluating {split}", unit="case"):
        slices = select_slices(vol, max_slices_per_case or 0)
        if slices:
            example = slices[len(slices) // 2] if n_cases < num_examples else None
            if scales:
                ev.add_case(case, vol, slices, example)
            for axis, factors in (thick or {}).items():
                ev.add_thick(case, vol, stored.index(axis), factors, profile["profiles"][0], float(profile["gap"][0]),
                             example)
            if pair is not None:
                ev.add_pair(f"{case}", vol, pair[0], pair[1], slices, example)
                n_pairs += 1
            n_cases += 1
    extra = {"dataset": name, "model_folder": str(folder), "fold": fold, "checkpoint": checkpoint, "split": split,
             "cases": n_cases, "paired_cases": n_pairs, "baselines": list(baselines), "degradation": dataclasses.asdict(config.degradation),
             "acquisitions": {k: dataclasses.asdict(a) for k, a in acquisitions.items()},
             "model_told": ev.told,
             "thick": {f"array axis {a}": [str(f) for f in fs] for a, fs in (thick or {}).items()},
             "slice_profile": {"profile": profile["profiles"][0], "gap": float(profile["gap"][0])} if thick else None,
             "intensities": "normalised [0, 1] (outputs clipped), inside each case's crop box",
             "statistics": "mean ± std over slices (and channels)"}
    ev.finish(out, extra, f"{name} {folder.name} fold {fold} ({split}, {n_cases} case(s))")
    return out


def compare_folders(ref: os.PathLike | str, pred: os.PathLike | str, output: os.PathLike | str, **kwargs) -> Path:
    """Compare predictions with references at matching geometry (see :mod:`autosr.evaluation.compare`)."""
    from autosr.evaluation.compare import compare_folders as _compare
    return _compare(ref, pred, output, **kwargs)


__all__ = ["evaluate_model", "compare_folders", "slice_metrics", "EvaluationError", "DEFAULT_SCALES", "BASELINES"]
