"""Noise at a given SNR: Gaussian standard deviation, Rician bias and spread, reproducibility."""
from __future__ import annotations

import math

import pytest
import torch

from autosr import degradation as D


def _image(value: float = 0.5) -> torch.Tensor:
    """A constant foreground square on a zero background: μ_fg = value."""
    img = torch.zeros(2, 1, 300, 300, dtype=torch.float64)
    img[..., 20:280, 20:280] = value
    return img


def test_sigma_is_the_foreground_mean_over_snr_per_image():
    img = _image()
    img[1] *= 0.4
    assert D.noise_sigma(img, 10).flatten().tolist() == pytest.approx([0.05, 0.02])
    assert D.noise_sigma(torch.zeros(1, 1, 4, 4), 10).flatten().tolist() == [0.0]
    with pytest.raises(ValueError, match="SNR 0 must be positive"):
        D.noise_sigma(img, 0)


def test_gaussian_noise_std_and_reproducibility():
    img = _image()
    noisy = D.gaussian_noise(img, 8, generator=torch.Generator().manual_seed(0))
    diff = (noisy - img)[..., 20:280, 20:280]
    assert float(diff.std()) == pytest.approx(0.5 / 8, rel=0.01)
    assert abs(float(diff.mean())) < 3 * (0.5 / 8) / math.sqrt(diff.numel())
    again = D.gaussian_noise(img, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again)


@pytest.mark.parametrize("snr", [1.0, 2.0, 10.0])
def test_rician_mean_and_std_match_the_analytic_distribution(snr):
    img = _image(0.5)
    sigma = 0.5 / snr
    noisy = D.rician_noise(img, snr, generator=torch.Generator().manual_seed(1))
    fg, bg = noisy[..., 20:280, 20:280], noisy[..., :15, :]
    mean = float(D.rician_mean(torch.tensor(0.5), sigma))
    var = 2 * sigma ** 2 + 0.25 - mean ** 2  # E[M²] = ν² + 2σ²
    assert float(fg.mean()) == pytest.approx(mean, abs=4 * math.sqrt(var / fg.numel()))
    assert float(fg.std()) == pytest.approx(math.sqrt(var), rel=0.01)
    # Background (ν = 0) is Rayleigh: mean σ·sqrt(π/2), never negative.
    assert float(bg.mean()) == pytest.approx(sigma * math.sqrt(math.pi / 2), rel=0.01) and float(bg.min()) >= 0


def test_rician_mean_limits():
    assert float(D.rician_mean(torch.tensor(0.0), 1.0)) == pytest.approx(math.sqrt(math.pi / 2))
    assert float(D.rician_mean(torch.tensor(100.0), 1.0)) == pytest.approx(math.sqrt(100.0 ** 2 + 1), rel=1e-6)


def test_rician_noise_on_a_complex_image_uses_its_phase():
    """Noise on real and imaginary parts, then magnitude: a complex image of modulus 0.5 behaves like 0.5."""
    img = _image(0.5)
    phase = torch.exp(1j * torch.linspace(0, 3, 300, dtype=torch.float64))[None, None, None, :]
    noisy = D.rician_noise(img * phase, 2, generator=torch.Generator().manual_seed(2))
    assert noisy.dtype == torch.float64
    fg = noisy[..., 20:280, 20:280]
    assert float(fg.mean()) == pytest.approx(float(D.rician_mean(torch.tensor(0.5), 0.25)), rel=0.01)
