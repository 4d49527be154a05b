"""The re-exported ``degrade``/``upsample`` are bit-identical to the single-module implementation.

``_old_*`` is a verbatim copy of ``autosr/degradation.py`` as it was before it became a package
(commit f894436), kept as the reference: training, validation and the demo depend on these bits.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from autosr.degradation import degrade, downsample, gaussian_blur, gaussian_kernel, upsample
from autosr.scales import as_fraction, lr_size, sr_size


def _old_kernel(sigma, kernel_size=3, dtype=torch.float32):
    r = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    k2 = torch.outer(g, g)
    return (k2 / k2.sum()).to(dtype)


def _old_blur(x, sigma, kernel_size=3):
    if sigma <= 0:
        return x
    c = x.shape[1]
    k = _old_kernel(sigma, kernel_size, x.dtype).to(x.device).expand(c, 1, kernel_size, kernel_size)
    pad = kernel_size // 2
    return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="replicate"), k, groups=c)


def _old_resize(x, factor, out_h, out_w, mode, antialias):
    nudged = factor * (1 + 1e-9)
    y = F.interpolate(x, scale_factor=(nudged, nudged), mode=mode, align_corners=False if mode != "nearest" else None,
                      recompute_scale_factor=False, antialias=antialias and factor < 1)
    return y[..., :out_h, :out_w]


def _old_downsample(hr, scale, mode="bicubic", antialias=False):
    f = as_fraction(scale)
    return _old_resize(hr, 1.0 / float(f), lr_size(hr.shape[-2], f), lr_size(hr.shape[-1], f), mode, antialias)


def _old_upsample(lr, scale, mode="bicubic"):
    f = as_fraction(scale)
    return _old_resize(lr, float(f), sr_size(lr.shape[-2], f), sr_size(lr.shape[-1], f), mode, False)


def _old_degrade(hr, scale, sigma=1.0, kernel_size=3, noise_std=0.0, antialias=False, generator=None, clip=True):
    lr = _old_downsample(_old_blur(hr, sigma, kernel_size), scale, antialias=antialias)
    if noise_std > 0:
        lr = lr + noise_std * torch.randn(lr.shape, generator=generator, dtype=lr.dtype, device="cpu").to(lr.device)
    return lr.clamp(0.0, 1.0) if clip else lr


@pytest.mark.parametrize("scale", [2, 2.3, "5/2", 3.7, 4])
def test_degrade_and_upsample_are_bit_identical_to_the_old_module(scale):
    hr = torch.rand(3, 2, 57, 64, generator=torch.Generator().manual_seed(0))
    for kwargs in ({}, {"sigma": 0.8, "antialias": True}, {"sigma": 1.2, "kernel_size": 5, "clip": False},
                   {"sigma": 0.0}, {"noise_std": 0.05}):
        new = degrade(hr, scale, generator=torch.Generator().manual_seed(5), **kwargs)
        old = _old_degrade(hr, scale, generator=torch.Generator().manual_seed(5), **kwargs)
        assert torch.equal(new, old), kwargs
    lr = _old_degrade(hr, scale, sigma=0.8)
    for mode in ("bicubic", "bilinear", "nearest"):
        assert torch.equal(upsample(lr, scale, mode=mode), _old_upsample(lr, scale, mode=mode))
        assert torch.equal(downsample(hr, scale, mode=mode), _old_downsample(hr, scale, mode=mode))
    assert torch.equal(gaussian_blur(hr, 0.8), _old_blur(hr, 0.8))
    assert torch.equal(gaussian_kernel(0.8, 5), _old_kernel(0.8, 5))


def test_per_axis_scale_resamples_each_axis_by_its_own_factor():
    hr = torch.rand(1, 1, 40, 40, generator=torch.Generator().manual_seed(1))
    assert torch.equal(degrade(hr, (2, 2)), degrade(hr, 2))
    separate = downsample(downsample(hr, (2, 1)), (1, 2.5))  # bicubic is separable
    assert torch.allclose(downsample(hr, (2, 2.5)), separate, atol=1e-6)
    assert upsample(separate, (2, 2.5)).shape[-2:] == (40, 40)
