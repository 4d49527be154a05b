"""Acquisition noise at a given signal-to-noise ratio: Gaussian (CT, any real image) and Rician (MR magnitude).

SNR is defined per image (per batch item ``b``) as ``SNR = μ_fg / σ``: ``μ_fg`` is the mean of the
noise-free signal over its foreground (voxels above ``threshold`` × that image's maximum, over all
channels) and ``σ`` the standard deviation of the Gaussian noise: of the image itself (Gaussian), or
of each of the real and imaginary parts before the magnitude is taken (Rician).
"""
from __future__ import annotations

import math
from typing import Optional

import torch


def foreground(signal: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """The SNR definition's foreground: voxels of ``signal`` ``(B, …)`` above ``threshold`` × each image's peak."""
    peak = signal.reshape(signal.shape[0], -1).amax(dim=1)
    return signal > threshold * peak.reshape(-1, *([1] * (signal.dim() - 1)))


def noise_sigma(signal: torch.Tensor, snr: float, threshold: float = 0.1) -> torch.Tensor:
    """``σ = μ_fg / SNR`` for each image of ``signal`` ``(B, C, H, W)`` (real, ≥ 0): shape ``(B, 1, 1, 1)``."""
    if snr <= 0:
        raise ValueError(f"SNR {snr} must be positive")
    flat = signal.reshape(signal.shape[0], -1)
    fg = foreground(signal, threshold).reshape(signal.shape[0], -1)
    mean_fg = (flat * fg).sum(dim=1) / fg.sum(dim=1).clamp(min=1)
    return (mean_fg / snr).reshape(-1, 1, 1, 1)


def _randn(like: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    """Standard normal noise shaped like ``like``, drawn on the generator's device (reproducible)."""
    device = generator.device if generator is not None else like.device
    return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=device).to(like.device)


def gaussian_noise(image: torch.Tensor, snr: float, generator: Optional[torch.Generator] = None,
                   threshold: float = 0.1) -> torch.Tensor:
    """``image + σ·n``, ``n ~ N(0, 1)`` per voxel, ``σ`` from ``snr`` (module docstring); unclipped."""
    return image + noise_sigma(image, snr, threshold) * _randn(image, generator)


def rician_noise(image: torch.Tensor, snr: float, generator: Optional[torch.Generator] = None,
                 threshold: float = 0.1) -> torch.Tensor:
    """MR magnitude noise: ``|image + σ·(n_re + i·n_im)|`` with independent ``N(0, 1)`` parts.

    ``image`` is real (a magnitude image, taken as zero phase) or complex (e.g.
    :func:`autosr.degradation.kspace_truncate` with ``magnitude=False``); returns a real tensor.
    """
    real = image.real if image.is_complex() else image
    imag = image.imag if image.is_complex() else torch.zeros_like(image)
    sigma = noise_sigma(image.abs() if image.is_complex() else image, snr, threshold)
    return torch.hypot(real + sigma * _randn(real, generator), imag + sigma * _randn(real, generator))


def rician_mean(nu: torch.Tensor, sigma: float) -> torch.Tensor:
    """Mean of a Rician magnitude of true signal ``nu`` and noise ``σ``: ``σ·sqrt(π/2)·L_{1/2}(−ν²/2σ²)``.

    Written with exponentially scaled Bessel functions (stable at high SNR):
    ``σ·sqrt(π/2)·[(1 + t)·I0e(t/2) + t·I1e(t/2)]`` with ``t = ν²/(2σ²)``.
    """
    t = nu.to(torch.float64) ** 2 / (2 * sigma ** 2)
    return sigma * math.sqrt(math.pi / 2) * ((1 + t) * torch.special.i0e(t / 2) + t * torch.special.i1e(t / 2))


__all__ = ["noise_sigma", "gaussian_noise", "rician_noise", "rician_mean"]
