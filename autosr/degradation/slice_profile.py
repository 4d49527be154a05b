"""Thick slices: each LR slice integrates the HR signal under its slice profile.

A 2D multi-slice MR stack (or thick-slice CT) samples an axis every ``s`` HR voxels (the slice
spacing), and each slice integrates the object under its *slice profile*, centred at the LR voxel
centre ``c_k = (k + ½)·s`` (HR pixel-edge units; HR pixel ``i`` covers ``[i, i + 1]``, so the
centre is HR coordinate ``(k + ½)·s − ½``, the convention of every acquisition model):

- ``boxcar``: uniform over ``[c_k − t/2, c_k + t/2]``, ``t`` the slice thickness;
- ``gaussian``: a Gaussian of FWHM ``t`` (a real RF pulse's profile is smooth).

``t = s·(1 − gap)``: ``gap`` is the share of the spacing between slices that no slice covers (a
scanner's "distance factor"; 0: contiguous slices, negative: overlapping ones). A boxcar without
gap is :func:`autosr.degradation.area_average`. The weight of HR pixel ``i`` is the profile's
integral over ``[i, i + 1]``; rows are renormalised where a profile leaves the image. An axis
with ``s = 1`` and no gap is left as it is.
"""
from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np
import torch
from scipy.special import erf

from autosr.degradation.grid import AxisScales, PerAxis, axis_scales, lr_shape, per_axis
from autosr.degradation.psf import FWHM_PER_SIGMA
from autosr.plans import SLICE_PROFILES

PROFILES = SLICE_PROFILES


@functools.lru_cache(maxsize=256)
def profile_matrix(n_hr: int, n_lr: int, scale: Fraction, profile: str = "boxcar", gap: float = 0.0) -> np.ndarray:
    """``(n_lr, n_hr)`` float64 weights of each HR pixel in each LR slice (rows sum to 1)."""
    if profile not in PROFILES:
        raise ValueError(f"slice profile {profile!r} is not one of {', '.join(PROFILES)}")
    if not -1.0 < gap < 1.0:
        raise ValueError(f"slice gap {gap} must be in (-1, 1) (a share of the slice spacing)")
    s = float(scale)
    t = s * (1.0 - gap)
    centre = (np.arange(n_lr, dtype=np.float64)[:, None] + 0.5) * s
    lo, hi = np.arange(n_hr, dtype=np.float64)[None, :], np.arange(1, n_hr + 1, dtype=np.float64)[None, :]
    if profile == "boxcar":
        w = np.clip(np.minimum(centre + t / 2, hi) - np.maximum(centre - t / 2, lo), 0.0, None)
    else:
        z = t / FWHM_PER_SIGMA * math.sqrt(2)
        w = 0.5 * (erf((hi - centre) / z) - erf((lo - centre) / z))
    return w / w.sum(axis=1, keepdims=True)


def thick_slices(hr: torch.Tensor, scale: AxisScales, profile: str = "boxcar", gap: PerAxis = 0.0) -> torch.Tensor:
    """``hr`` ``(B, C, H, W)`` acquired with slices of spacing ``s`` per axis (one or ``(s_h, s_w)``)
    and the given ``profile`` and ``gap`` (one or per axis): ``(B, C, floor(H/s_h), floor(W/s_w))``."""
    (s_h, s_w), (g_h, g_w) = axis_scales(scale), per_axis(gap)
    h, w = lr_shape(hr.shape, (s_h, s_w))
    out = hr
    for dim, n_lr, s, g in ((-2, h, s_h, g_h), (-1, w, s_w, g_w)):
        if s == 1 and g == 0:
            continue
        m = torch.from_numpy(profile_matrix(hr.shape[dim], n_lr, s, profile, float(g))).to(hr.device, hr.dtype)
        out = torch.einsum("hH,bcHW->bchW", m, out) if dim == -2 else torch.einsum("wW,bchW->bchw", m, out)
    return out


def slice_centres(n_lr: int, scale: Fraction) -> np.ndarray:
    """HR coordinates ``(k + ½)·s − ½`` of the LR slices' centres (for tests and plots)."""
    return (np.arange(n_lr, dtype=np.float64) + 0.5) * float(scale) - 0.5


__all__ = ["PROFILES", "profile_matrix", "thick_slices", "slice_centres"]
