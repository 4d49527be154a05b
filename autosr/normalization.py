"""Intensity normalisation to [0, 1] and its inverse (pure functions; the predictor calls them too).

The papers train and evaluate in [0, 1] (MIASSR §4.1). Two schemes, chosen per channel by the
planner (``normalization`` list in the plans, one entry per channel):

- ``"CT"``: a fixed, dataset-level HU window ``[lower, upper]`` (from the fingerprint's pooled
  foreground percentiles, 0.5 and 99.5 by default) so one HU value maps to one intensity in
  every scan.
- ``"MR"``: MR has no absolute unit, so the window is fitted per case: ``lower`` = the
  channel's background level (:func:`background_level`: median of the surround), ``upper`` = the
  ``upper_percentile`` (99.5) of the channel inside the foreground. A plan entry may fix
  ``lower``/``upper`` to numbers, which then win over the fitted values.

``normalize`` clips to the window and scales to [0, 1]; ``denormalize`` is its inverse, exact
(to float32 rounding) for values inside the window. Parameters are plain dicts, stored in each
case's properties: ``{"scheme", "lower", "upper", "background"}``; ``background`` (original
units) is what the predictor pastes outside the crop box.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from autosr.errors import AutoSRError

logger = logging.getLogger(__name__)

SCHEMES = ("CT", "MR")
Params = Dict[str, Any]


class NormalizationError(AutoSRError):
    """A normalisation plan or parameter set is unusable."""


def default_channel_plan(modality: str) -> Dict[str, Any]:
    """Plan entry for one channel before the planner fills in the dataset-level values."""
    if modality == "CT":
        return {"scheme": "CT", "lower": None, "upper": None, "lower_percentile": 0.5, "upper_percentile": 99.5}
    return {"scheme": "MR", "lower": None, "upper": None, "upper_percentile": 99.5}


def _check_plan(plan: Mapping[str, Any]) -> str:
    scheme = plan.get("scheme")
    if scheme not in SCHEMES:
        raise NormalizationError(f"normalization scheme {scheme!r} is unknown; use one of {', '.join(SCHEMES)} "
                                 f"(edit the plans' \"normalization\" list)")
    return str(scheme)


def background_level(channel: np.ndarray, foreground: np.ndarray) -> float:
    """Median of the voxels outside ``foreground`` (the surround); the minimum when there are none.

    The same value whether computed on a whole scan or on its crop box (the ring of background
    kept by the crop margin is a sample of the same surround), so preprocessing and prediction,
    which see different extents, agree.
    """
    outside = np.asarray(channel)[~foreground]
    if outside.size == 0:
        return float(np.min(channel))
    return float(np.median(outside[:: max(1, outside.size // 1_000_000)]))


def fit_channel(channel: np.ndarray, foreground: np.ndarray, channel_plan: Mapping[str, Any],
                background: Optional[float] = None) -> Params:
    """Normalisation parameters of one channel of one case (whole scan or its crop box).

    ``foreground`` is the case's boolean foreground (same shape, :func:`autosr.cropping.foreground_mask`);
    ``background`` defaults to :func:`background_level`.
    """
    scheme = _check_plan(channel_plan)
    channel = np.asarray(channel)
    foreground = np.asarray(foreground, dtype=bool)
    if background is None:
        background = background_level(channel, foreground)
    fg = channel[foreground] if foreground.any() else channel.ravel()
    lower, upper = channel_plan.get("lower"), channel_plan.get("upper")
    if scheme == "CT":
        if lower is None or upper is None:
            # A plan without a dataset window (hand-written): fall back to this case's percentiles.
            p = np.percentile(fg, [channel_plan.get("lower_percentile", 0.5), channel_plan.get("upper_percentile", 99.5)])
            lower = float(p[0]) if lower is None else lower
            upper = float(p[1]) if upper is None else upper
    else:
        if lower is None:
            lower = float(background)
        if upper is None:
            upper = float(np.percentile(fg, channel_plan.get("upper_percentile", 99.5)))
    lower, upper = float(lower), float(upper)
    if not upper > lower:
        logger.warning("normalisation window [%g, %g] is empty (flat channel); using [%g, %g]",
                       lower, upper, lower, lower + 1.0)
        upper = lower + 1.0
    return {"scheme": scheme, "lower": lower, "upper": upper, "background": float(background)}


def _window(params: Mapping[str, Any]) -> tuple:
    try:
        lower, upper = float(params["lower"]), float(params["upper"])
    except (KeyError, TypeError, ValueError):
        raise NormalizationError(f"normalisation parameters {dict(params)!r} need numeric 'lower' and 'upper'") from None
    if not upper > lower:
        raise NormalizationError(f"normalisation window [{lower}, {upper}] is empty: 'upper' must exceed 'lower'")
    return lower, upper


def normalize(x: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
    """Clip ``x`` to ``[lower, upper]`` and scale to [0, 1] (float32)."""
    lower, upper = _window(params)
    y = (np.clip(np.asarray(x, dtype=np.float64), lower, upper) - lower) / (upper - lower)
    return y.astype(np.float32)


def denormalize(y: np.ndarray, params: Mapping[str, Any], dtype=np.float32) -> np.ndarray:
    """Map [0, 1] back to original units: ``y·(upper − lower) + lower``."""
    lower, upper = _window(params)
    return (np.asarray(y, dtype=np.float64) * (upper - lower) + lower).astype(dtype)


def fit_case(case: np.ndarray, foreground: np.ndarray, channel_plans: Sequence[Mapping[str, Any]],
             backgrounds: Optional[Sequence[float]] = None) -> List[Params]:
    """:func:`fit_channel` for every channel of ``case`` ``(C, *spatial)``."""
    if len(channel_plans) != case.shape[0]:
        raise NormalizationError(f"the plans normalise {len(channel_plans)} channel(s) but the case has "
                                 f"{case.shape[0]}; re-plan the dataset")
    return [fit_channel(case[c], foreground, channel_plans[c], None if backgrounds is None else backgrounds[c])
            for c in range(case.shape[0])]


def normalize_case(case: np.ndarray, params: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Normalise every channel of ``case`` ``(C, *spatial)`` → float32."""
    return np.stack([normalize(case[c], params[c]) for c in range(case.shape[0])])


def denormalize_case(case: np.ndarray, params: Sequence[Mapping[str, Any]], dtype=np.float32) -> np.ndarray:
    """Inverse of :func:`normalize_case`."""
    return np.stack([denormalize(case[c], params[c], dtype) for c in range(case.shape[0])])


__all__ = ["fit_channel", "background_level", "fit_case", "normalize", "denormalize", "normalize_case", "denormalize_case",
           "default_channel_plan", "NormalizationError", "SCHEMES"]
