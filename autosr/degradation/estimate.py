"""What an input says about its own acquisition: its noise level, and how well an output explains it.

- :func:`estimate_snr`: ``μ_fg / σ̂`` with the same SNR definition as :mod:`autosr.degradation.noise`;
  σ̂ is Immerkær's estimator taken where the anatomy is flattest: the absolute response of the
  3×3 mask ``[[1,−2,1],[−2,4,−2],[1,−2,1]]`` (blind to planes and linear ramps), averaged over
  blocks inside the foreground, its 10th percentile scaled so pure Gaussian noise reads its σ. Texture still reads
  as noise, the more so the coarser the input: on the dev MR data a clean scan reads SNR 9–400
  (lower at ×4), SNR 10 reads 5–9. So the estimate can only say that an input is *much*
  noisier than the training data, which is how :mod:`autosr.inference.trust` uses it.
- :func:`consistency_error`: the output acquired again as one of the training families, against
  the input (relative RMSE over the input's foreground), the smallest over the families: a small
  value says the output could have produced the input; a large one that it adds or removes
  structure the input does not support.
"""
from __future__ import annotations

import math
from typing import Dict, Iterable, Tuple

import torch
import torch.nn.functional as F

from autosr.degradation.acquisition import Acquisition, synthesize
from autosr.degradation.grid import AxisScales
from autosr.degradation.noise import foreground

_MASK = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
# E|N(0, 36σ²)| = 6σ·sqrt(2/π); the 10th percentile of 6×6 block means of pure Gaussian noise lies
# at 0.737 of their mean (measured on 16×120×120 samples), so pure noise reads its true SNR.
_MEAN_TO_SIGMA = math.sqrt(math.pi / 2) / 6.0 / 0.737


def estimate_snr(lr: torch.Tensor, threshold: float = 0.1, block: int = 6, quantile: float = 0.1) -> float:
    """Estimated SNR of ``lr`` ``(B, C, h, w)`` ≥ 0 (all images pooled); ``inf`` without measurable noise.

    σ̂ is the ``quantile`` of the mask's mean absolute response over ``block``×``block`` blocks that
    lie wholly in the foreground: the flattest regions (white matter, fat, liver), where the
    response is noise, not anatomy.
    """
    x = lr.to(torch.float32)
    b, c, h, w = x.shape
    if h < 3 + block or w < 3 + block:
        return float("inf")
    resp = F.conv2d(x.reshape(b * c, 1, h, w), _MASK.reshape(1, 1, 3, 3)).abs()
    fg = foreground(x, threshold)
    inner = fg.reshape(b * c, 1, h, w)[..., 1:-1, 1:-1].float()
    level = F.avg_pool2d(resp, block, block)[F.avg_pool2d(inner, block, block) >= 1.0]
    if level.numel() == 0:
        return float("inf")
    sigma = _MEAN_TO_SIGMA * float(torch.quantile(level, quantile))
    mean = float(x[fg].mean())
    return float("inf") if sigma <= 0 else mean / sigma


def consistency_error(lr: torch.Tensor, sr: torch.Tensor, scale: AxisScales,
                      families: Iterable[Tuple[str, Acquisition]]) -> Tuple[str, float, Dict[str, float]]:
    """``(best family, its error, every family's error)``: relative RMSE over ``lr``'s foreground
    between ``lr`` ``(B, C, h, w)`` and ``sr`` ``(B, C, ⌊h·s⌋, ⌊w·s⌋)`` acquired again by each family."""
    errors = {name: relative_rmse(lr, synthesize(sr.to(torch.float32).clamp(0, 1), scale, acq))
              for name, acq in families}
    best = min(errors, key=errors.get)
    return best, errors[best], errors


def relative_rmse(lr: torch.Tensor, again: torch.Tensor) -> float:
    """RMSE between ``lr`` and ``again`` (an output acquired again, cropped to their common size) over ``lr``'s
    foreground, relative to ``lr``'s RMS there: the consistency error of every check."""
    lr = lr.to(torch.float32)
    fg = foreground(lr)
    norm = float(lr[fg].pow(2).mean().sqrt()) or 1.0
    h, w = min(again.shape[-2], lr.shape[-2]), min(again.shape[-1], lr.shape[-1])
    diff = (again[..., :h, :w].to(torch.float32) - lr[..., :h, :w])[fg[..., :h, :w]]
    return float(diff.pow(2).mean().sqrt()) / norm if diff.numel() else 0.0


__all__ = ["estimate_snr", "consistency_error", "relative_rmse"]
