"""Gaussian point-spread function, then resampling onto the LR grid (MIASSR eq. 1 is one member).

``I_lr = (I_hr ⊗ G_σ)↓s``: the scanner's blur as a separable Gaussian of σ HR pixels per axis,
then bicubic (or bilinear) sampling at the LR voxel centres, with or without the resampler's
own antialiasing. The paper's recipe is ``σ = 0.8``, a 3×3 kernel, no antialiasing; AutoSR's
``2d_cpu`` plan adds antialiasing.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F

from autosr.degradation.grid import AxisScales, PerAxis, per_axis
from autosr.degradation.resample import downsample

#: FWHM of a Gaussian in units of its σ: 2·sqrt(2·ln 2).
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


def _gaussian_1d(sigma: float, size: Optional[int], dtype: torch.dtype) -> torch.Tensor:
    """Normalised 1D Gaussian of ``size`` taps (``2·ceil(4σ) + 1`` when ``None``)."""
    size = 2 * math.ceil(4 * sigma) + 1 if size is None else int(size)
    if size % 2 == 0:
        raise ValueError(f"kernel size {size} must be odd (an even kernel shifts the image by half a pixel)")
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).to(dtype)


def separable_gaussian_blur(x: torch.Tensor, sigma: PerAxis, kernel_size: Optional[Union[int, Sequence[int]]] = None
                            ) -> torch.Tensor:
    """Blur ``x`` ``(B, C, H, W)`` by a Gaussian of σ ``(σ_h, σ_w)`` HR pixels (replicate borders).

    An axis with ``σ <= 0`` is left sharp. ``kernel_size`` (one or per axis) defaults to ``2·ceil(4σ) + 1``.
    """
    c = x.shape[1]
    for axis, (s, k) in enumerate(zip(per_axis(sigma), per_axis(kernel_size))):
        if s is None or s <= 0:
            continue
        g = _gaussian_1d(s, k, x.dtype).to(x.device)
        n = g.numel()
        shape, pad = ((n, 1), (0, 0, n // 2, n // 2)) if axis == 0 else ((1, n), (n // 2, n // 2, 0, 0))
        x = F.conv2d(F.pad(x, pad, mode="replicate"), g.reshape(1, 1, *shape).expand(c, 1, *shape), groups=c)
    return x


def gaussian_psf(hr: torch.Tensor, scale: AxisScales, sigma: PerAxis = 0.8,
                 kernel_size: Optional[Union[int, Sequence[int]]] = 3, mode: str = "bicubic",
                 antialias: bool = False) -> torch.Tensor:
    """Gaussian PSF of σ HR pixels (one or per axis), then ``mode`` resampling by ``scale`` (one or ``(s_h, s_w)``).

    Returns ``(B, C, floor(H/s_h), floor(W/s_w))``, unclipped. With the defaults this is the MIASSR
    recipe (:func:`autosr.degradation.degrade` without noise or clipping, to float rounding).
    """
    return downsample(separable_gaussian_blur(hr, sigma, kernel_size), scale, mode=mode, antialias=antialias)


__all__ = ["FWHM_PER_SIGMA", "separable_gaussian_blur", "gaussian_psf"]
