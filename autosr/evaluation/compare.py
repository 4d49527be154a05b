"""``autosr_evaluate -ref HR_FOLDER -pred SR_FOLDER``: score any predictions against references.

Files pair by name (``{case}_{CCCC}`` with any image ending) and must share the reference's grid
(shape, spacing, origin, direction): predictions from another tool have to be on the HR grid.
Each pair is compared slice by slice along the slicing axis (the plan's, or the axis with the
largest spacing) on [0, 1] intensities: both images are normalised with parameters fitted on
the *reference* (the plan's channel rules when a dataset is given, else the modality's default
rule) inside the reference's crop box (foreground box plus the plan's margin, or none).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from autosr.dataset import split_case_file
from autosr.evaluation.engine import EvaluationError, Evaluator
from autosr.slices import select_slices
from autosr.imageio import file_ending, read_image

logger = logging.getLogger(__name__)

#: Normalisation rules used without a plan (same keys as the plans' ``normalization`` entries).
DEFAULT_CHANNEL_PLANS: Dict[str, Dict[str, Any]] = {
    "MR": {"scheme": "MR", "lower": None, "upper": None, "upper_percentile": 99.5},
    "CT": {"scheme": "CT", "lower": -1000.0, "upper": 2000.0},
}


def _index(folder: Path) -> Dict[str, Path]:
    if not folder.is_dir():
        raise EvaluationError(f"{folder}: folder does not exist")
    out = {}
    for p in sorted(folder.iterdir()):
        ending = file_ending(p)
        if p.is_file() and ending and not p.name.startswith("."):
            out[p.name[: -len(ending)]] = p
    if not out:
        raise EvaluationError(f"{folder}: no image files")
    return out


def _channel(key: str, ending: str) -> int:
    parsed = split_case_file(key + ending, ending)
    return parsed[1] if parsed else 0


def _crop_and_normalise_pair(ref: np.ndarray, pred: np.ndarray, channel_plan: Dict[str, Any], modality: str,
                             margin: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
    """Reference and prediction ``(*spatial)`` cropped to the reference's crop box and normalised
    with the reference's parameters (the reference clipped to [0, 1]), as preprocessing does."""
    from autosr.cropping import bounding_box, crop_and_normalise, crop_box, foreground_mask
    fg = foreground_mask(ref[None], [modality])
    bbox = bounding_box(fg)
    box = [(0, n) for n in ref.shape] if bbox is None else crop_box(ref.shape, bbox, margin)
    r, params, _ = crop_and_normalise(ref[None], fg, box, [channel_plan])
    p, _, _ = crop_and_normalise(pred[None], fg, box, params=params)
    return np.clip(r[0], 0, 1), p[0]


def compare_folders(ref: Union[str, os.PathLike], pred: Union[str, os.PathLike], output: Union[str, os.PathLike],
                    dataset: Optional[Union[str, int]] = None, modality: str = "MR",
                    slicing_axis: Optional[int] = None, method: Optional[str] = None,
                    max_slices_per_case: Optional[int] = None, num_examples: int = 3) -> Path:
    """Score every prediction in ``pred`` against the same-named reference in ``ref``; returns ``output``.

    ``dataset``: use that dataset's plan (slicing axis, crop margin, per-channel normalisation).
    """
    ref_dir, pred_dir, out = Path(ref), Path(pred), Path(output)
    refs, preds = _index(ref_dir), _index(pred_dir)
    plans = None
    if dataset is not None:
        from autosr.paths import preprocessed_dir, resolve_dataset
        from autosr.plans import Plans
        name = resolve_dataset(dataset, preprocessed_dir())
        plans = Plans.load(preprocessed_dir() / name / "autosrPlans.json")
    common = sorted(set(refs) & set(preds))
    missing = sorted(set(refs) - set(preds))
    if not common:
        raise EvaluationError(f"{pred_dir}: no file matches a reference in {ref_dir} by name "
                              f"(e.g. {next(iter(refs))}{file_ending(refs[next(iter(refs))])})")
    if missing:
        logger.warning("%d reference(s) without a prediction, skipped: %s", len(missing), ", ".join(missing[:5]))
    method = method or pred_dir.name
    ev = Evaluator([], [], num_examples=num_examples)
    for n, key in enumerate(common):
        r_arr, r_geom = read_image(refs[key])
        p_arr, p_geom = read_image(preds[key])
        if r_arr.shape != p_arr.shape or not r_geom.is_close(p_geom, atol=1e-3):
            raise EvaluationError(f"{preds[key]}: grid differs from the reference {refs[key]} (shape {p_arr.shape} "
                                  f"vs {r_arr.shape}, spacing {p_geom.spacing} vs {r_geom.spacing}, origin "
                                  f"{p_geom.origin} vs {r_geom.origin}); resample predictions onto the HR grid")
        ch = _channel(key, file_ending(refs[key]))
        mod = plans.modalities[ch] if plans is not None else modality
        cplan = plans.normalization[ch] if plans is not None else DEFAULT_CHANNEL_PLANS.get(mod, DEFAULT_CHANNEL_PLANS["MR"])
        r, p = r_arr.astype(np.float32), p_arr.astype(np.float32)
        if r.ndim == 2:
            r, p = r[None], p[None]
            axis = 0
        else:
            axis = plans.slicing_axis if plans is not None else (
                slicing_axis if slicing_axis is not None else int(np.argmax(r_geom.array_spacing)))
        margin = plans.crop_margin if plans is not None else [0] * 3
        r, p = _crop_and_normalise_pair(r, p, cplan, mod, margin)
        vol_r = np.moveaxis(r, axis, 0)[None]  # (1, S, H, W)
        vol_p = np.moveaxis(p, axis, 0)[None]
        slices = select_slices(vol_r, max_slices_per_case or 0)
        if not slices:
            continue
        ex = slices[len(slices) // 2] if n < num_examples else None
        hr = vol_r[:, slices].transpose(1, 0, 2, 3)
        ev.score(key, slices, None, hr, {method: vol_p[:, slices].transpose(1, 0, 2, 3)}, None, ex)
    extra = {"reference": str(ref_dir), "prediction": str(pred_dir), "method": method, "cases": len(common),
             "missing_predictions": missing, "dataset": dataset,
             "intensities": "normalised [0, 1] with the reference's parameters (predictions clipped), "
                            "inside the reference's crop box",
             "statistics": "mean ± std over slices (and channels)"}
    ev.finish(out, extra, f"{pred_dir} vs {ref_dir} ({len(common)} scan(s))")
    return out


__all__ = ["compare_folders", "DEFAULT_CHANNEL_PLANS"]
