"""The one low-resolution synthesis used by training, validation and evaluation (MIASSR eq. 1).

``I_lr = (I_hr ⊗ κ)↓s + n``: a 3×3 Gaussian blur κ (σ from the plans), then bicubic resampling
by the exact scale ``s`` with AutoSR's centre alignment (LR pixel ``k`` takes the value at HR
coordinate ``(k + 0.5)·s − 0.5``; see :mod:`autosr.scales`), then optional Gaussian noise.
``upsample`` is the bicubic baseline with the same alignment, so model, baseline and
geometry agree to the sub-pixel.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from autosr.degradation.grid import AxisScales, axis_scales, lr_shape
from autosr.scales import sr_size

# Bicubic in PyTorch samples src = (dst + 0.5) / factor − 0.5 when given scale_factor with
# recompute_scale_factor=False: exactly our centre convention. A relative nudge of 1e-9 keeps
# floor(n * factor) from landing one short through float rounding; we then crop to the exact size.
_NUDGE = 1e-9


def gaussian_kernel(sigma: float, kernel_size: int = 3, dtype=torch.float32) -> torch.Tensor:
    """Normalised 2D Gaussian kernel ``(k, k)``."""
    r = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    k2 = torch.outer(g, g)
    return (k2 / k2.sum()).to(dtype)


def gaussian_blur(x: torch.Tensor, sigma: float, kernel_size: int = 3) -> torch.Tensor:
    """Blur each channel of ``x`` ``(B, C, H, W)`` with a ``k×k`` Gaussian (replicate borders)."""
    if sigma <= 0:
        return x
    c = x.shape[1]
    k = gaussian_kernel(sigma, kernel_size, x.dtype).to(x.device).expand(c, 1, kernel_size, kernel_size)
    pad = kernel_size // 2
    return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="replicate"), k, groups=c)


def _resize(x: torch.Tensor, factors: Tuple[float, float], out_h: int, out_w: int, mode: str,
            antialias: bool) -> torch.Tensor:
    nudged = (factors[0] * (1 + _NUDGE), factors[1] * (1 + _NUDGE))
    y = F.interpolate(x, scale_factor=nudged, mode=mode, align_corners=False if mode != "nearest" else None,
                      recompute_scale_factor=False, antialias=antialias and min(factors) < 1)
    return y[..., :out_h, :out_w]


def downsample(hr: torch.Tensor, scale: AxisScales, mode: str = "bicubic", antialias: bool = False) -> torch.Tensor:
    """Resample ``hr`` ``(B, C, H, W)`` to ``(B, C, floor(H/s_h), floor(W/s_w))`` with centre alignment.

    ``scale`` is one value or a pair ``(s_h, s_w)``.
    """
    s_h, s_w = axis_scales(scale)
    h, w = lr_shape(hr.shape, (s_h, s_w))
    return _resize(hr, (1.0 / float(s_h), 1.0 / float(s_w)), h, w, mode, antialias)


def _bspline(lr: torch.Tensor, s_h, s_w, out_h: int, out_w: int) -> torch.Tensor:
    """SimpleITK's cubic B-spline interpolation (prefiltered, mirror borders) onto the refined grid:
    LR pixel ``k`` at physical ``k``, refined pixel ``i`` at ``(i + ½)/s − ½`` per axis."""
    import SimpleITK as sitk

    flat = lr.detach().reshape(-1, *lr.shape[-2:]).to("cpu", torch.float64).numpy()
    ref = sitk.Image([out_w, out_h], sitk.sitkFloat64)
    ref.SetSpacing((1.0 / float(s_w), 1.0 / float(s_h)))
    ref.SetOrigin((0.5 / float(s_w) - 0.5, 0.5 / float(s_h) - 0.5))
    out = [sitk.GetArrayFromImage(sitk.Resample(sitk.GetImageFromArray(img), ref, sitk.Transform(), sitk.sitkBSpline,
                                                0.0, sitk.sitkFloat64)) for img in flat]
    return torch.from_numpy(np.stack(out)).reshape(*lr.shape[:-2], out_h, out_w).to(lr.device, lr.dtype)


def upsample(lr: torch.Tensor, scale: AxisScales, mode: str = "bicubic") -> torch.Tensor:
    """Interpolation baseline: ``(B, C, h, w)`` → ``(B, C, floor(h·s_h), floor(w·s_w))``, centre alignment.

    ``mode``: ``bicubic`` (the papers' baseline), ``bilinear``, ``nearest`` (PyTorch), or ``bspline``
    (SimpleITK's cubic B-spline, the medical-imaging toolkits' default for upsampling scans).
    """
    s_h, s_w = axis_scales(scale)
    out_h, out_w = sr_size(lr.shape[-2], s_h), sr_size(lr.shape[-1], s_w)
    if mode == "bspline":
        return _bspline(lr, s_h, s_w, out_h, out_w)
    return _resize(lr, (float(s_h), float(s_w)), out_h, out_w, mode, False)


def degrade(hr: torch.Tensor, scale: AxisScales, sigma: float = 1.0, kernel_size: int = 3,
            noise_std: float = 0.0, antialias: bool = False, generator: Optional[torch.Generator] = None,
            clip: bool = True) -> torch.Tensor:
    """Synthesise LR from HR ``(B, C, H, W)`` in [0, 1]: blur, bicubic downsample by ``s``, noise.

    Returns ``(B, C, floor(H/s), floor(W/s))``; values are clipped to [0, 1] when ``clip``.
    """
    lr = downsample(gaussian_blur(hr, sigma, kernel_size), scale, antialias=antialias)
    if noise_std > 0:
        lr = lr + noise_std * torch.randn(lr.shape, generator=generator, dtype=lr.dtype, device="cpu").to(lr.device)
    return lr.clamp(0.0, 1.0) if clip else lr


def default_sigma(kernel_size: int = 3) -> float:
    """σ of the papers' 3×3 Gaussian when unspecified (OpenCV's rule for ksize 3: 0.8)."""
    return 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8 if kernel_size > 1 else 0.0


__all__ = ["gaussian_kernel", "gaussian_blur", "downsample", "upsample", "degrade", "default_sigma"]
