"""CT-like acquisition: the reconstruction's blur, sampling on the LR grid, quantum noise.

``I_lr = (I_hr ⊗ G)↓s + n``: the system PSF (focal spot, detector aperture, reconstruction kernel)
modelled as a Gaussian of ``fwhm`` LR pixels per axis (a soft kernel ≈ 1.0–1.5, a sharp one
≈ 0.7), then bicubic sampling at the LR voxel centres, then white Gaussian noise at ``snr``
(:mod:`autosr.degradation.noise`). Real CT noise is spatially correlated by the kernel; white
noise is the simple, documented approximation.
"""
from __future__ import annotations

from typing import Optional

import torch

from autosr.degradation.grid import AxisScales, PerAxis, axis_scales, per_axis
from autosr.degradation.noise import gaussian_noise
from autosr.degradation.psf import FWHM_PER_SIGMA, gaussian_psf


def ct_like(hr: torch.Tensor, scale: AxisScales, fwhm: PerAxis = 1.0, snr: Optional[float] = None,
            generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Gaussian PSF of ``fwhm`` LR pixels (one or per axis), bicubic sampling by ``scale``, noise at ``snr``.

    ``snr=None`` adds no noise. Returns ``(B, C, floor(H/s_h), floor(W/s_w))``, unclipped.
    """
    sigma = tuple(float(f) * float(s) / FWHM_PER_SIGMA for f, s in zip(per_axis(fwhm), axis_scales(scale)))
    lr = gaussian_psf(hr, scale, sigma=sigma, kernel_size=None)
    return lr if snr is None else gaussian_noise(lr, snr, generator)


__all__ = ["ct_like"]
