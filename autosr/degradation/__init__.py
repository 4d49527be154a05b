"""Low-resolution synthesis: the planned recipe and the acquisition models.

Every function takes HR ``(B, C, H, W)`` in [0, 1] and a scale (one value or ``(s_h, s_w)``, any
real ≥ 1) and samples at AutoSR's voxel centres: LR pixel ``k`` ↔ HR coordinate ``(k + 0.5)·s − 0.5``,
``floor(N/s)`` LR pixels (:mod:`autosr.scales`). Physics, parameters and a figure of each:
documentation/degradation.md.

- :func:`degrade`, :func:`downsample`, :func:`upsample` (``resample``): the recipe training,
  validation and evaluation use today (MIASSR eq. 1) and the bicubic baseline;
- :func:`gaussian_psf` (``psf``): Gaussian PSF + resampling, with or without antialiasing;
- :func:`area_average` (``area``): the mean over each LR voxel's area;
- :func:`kspace_truncate` (``kspace``): MR central k-space of a smaller matrix, apodised, magnitude;
- :func:`ct_like` (``ct``): Gaussian PSF in LR pixels, sampling, Gaussian noise;
- :func:`thick_slices` (``slice_profile``): thick slices, a boxcar or Gaussian slice profile with a gap;
- :func:`gaussian_noise`, :func:`rician_noise` (``noise``): noise at a given SNR;
- :class:`Acquisition`, :func:`draw`, :func:`synthesize` (``acquisition``): one concrete degradation,
  drawn from the plans' distribution for training or named for evaluation, and applied; its
  :func:`kind` is what a conditioned network is told.
"""
from autosr.degradation.acquisition import Acquisition, draw, kind, named, recipe, synthesize
from autosr.degradation.area import area_average
from autosr.degradation.ct import ct_like
from autosr.degradation.grid import axis_scales, lr_centres, lr_shape
from autosr.degradation.kspace import WINDOWS, apodisation, kspace_truncate
from autosr.degradation.noise import gaussian_noise, noise_sigma, rician_mean, rician_noise
from autosr.degradation.psf import gaussian_psf, separable_gaussian_blur
from autosr.degradation.slice_profile import PROFILES, thick_slices
from autosr.degradation.resample import default_sigma, degrade, downsample, gaussian_blur, gaussian_kernel, upsample

__all__ = ["Acquisition", "kind", "draw", "named", "recipe", "synthesize",
           "gaussian_kernel", "gaussian_blur", "downsample", "upsample", "degrade", "default_sigma",
           "axis_scales", "lr_shape", "lr_centres", "gaussian_psf", "separable_gaussian_blur", "area_average",
           "WINDOWS", "apodisation", "kspace_truncate", "ct_like", "PROFILES", "thick_slices", "noise_sigma", "gaussian_noise",
           "rician_noise", "rician_mean"]
