"""Area averaging: each LR voxel is the mean of the HR area it covers (ideal voxel integration).

Along an axis of scale ``s``, LR pixel ``k`` covers HR edge coordinates ``[k·s, (k+1)·s]`` (HR
pixel ``i`` covers ``[i, i+1]``), so ``I_lr[k] = (1/s) Σ_i |[k·s, (k+1)·s] ∩ [i, i+1]| · I_hr[i]``:
exact for any real ``s``, centre at HR coordinate ``(k + 0.5)·s − 0.5``.
"""
from __future__ import annotations

import functools
from fractions import Fraction

import numpy as np
import torch

from autosr.degradation.grid import AxisScales, axis_scales, lr_shape


@functools.lru_cache(maxsize=256)  # training asks for the same few (patch, scale) matrices every step
def box_matrix(n_hr: int, n_lr: int, scale: Fraction) -> np.ndarray:
    """``(n_lr, n_hr)`` float64 weights: the overlap of each LR box with each HR pixel, divided by ``s``."""
    s = float(scale)
    lo = np.arange(n_lr, dtype=np.float64)[:, None] * s
    i = np.arange(n_hr, dtype=np.float64)[None, :]
    return np.clip(np.minimum(lo + s, i + 1) - np.maximum(lo, i), 0.0, None) / s


def area_average(hr: torch.Tensor, scale: AxisScales) -> torch.Tensor:
    """Mean of ``hr`` ``(B, C, H, W)`` over each LR voxel's area: ``(B, C, floor(H/s_h), floor(W/s_w))``."""
    s_h, s_w = axis_scales(scale)
    h, w = lr_shape(hr.shape, (s_h, s_w))
    a_h = torch.from_numpy(box_matrix(hr.shape[-2], h, s_h)).to(hr.device, hr.dtype)
    a_w = torch.from_numpy(box_matrix(hr.shape[-1], w, s_w)).to(hr.device, hr.dtype)
    return torch.einsum("hH,bcHW,wW->bchw", a_h, hr, a_w)


__all__ = ["box_matrix", "area_average"]
