"""Properties of each acquisition model: identities, conservation, windows, PSF widths."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from autosr import degradation as D
from autosr.scales import sr_size
from tests.degradation.helpers import blob


def test_kspace_truncation_at_scale_one_is_the_identity():
    hr = torch.rand(2, 3, 41, 64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(D.kspace_truncate(hr, 1), hr, atol=1e-6, rtol=0)
    assert torch.allclose(D.kspace_truncate(hr.double(), (1, 1)), hr.double(), atol=1e-12, rtol=0)
    assert torch.allclose(D.kspace_truncate(hr, 1, magnitude=False).real, hr, atol=1e-6, rtol=0)


def test_kspace_integer_scale_is_the_central_matrix_of_the_fft():
    """At integer s on a divisible grid: the classic crop of the centred spectrum, phase-shifted half an LR pixel."""
    hr = torch.rand(1, 1, 32, 48, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    lr = D.kspace_truncate(hr, 2, magnitude=False)
    spec = torch.fft.fftshift(torch.fft.fft2(hr))[..., 8:24, 12:36]
    m_h, m_w = torch.arange(-8, 8, dtype=torch.float64), torch.arange(-12, 12, dtype=torch.float64)
    # LR centres sit at HR 2k + 0.5: a shift of +0.5 HR pixel against the plain crop's grid.
    shift = torch.exp(1j * torch.pi * (m_h[:, None] / 32 + m_w[None, :] / 48))
    expected = torch.fft.ifft2(torch.fft.ifftshift(spec * shift)) / 4
    assert torch.allclose(lr, expected, atol=1e-12)


def test_kspace_keeps_a_constant_and_windows_reduce_ringing():
    const = torch.full((1, 1, 40, 50), 0.4)
    for window in D.WINDOWS:
        assert torch.allclose(D.kspace_truncate(const, 2.5, window=window), const[..., :16, :20], atol=1e-6)
    overshoot = dict.fromkeys(D.WINDOWS, 0.0)
    for shift in range(4):  # the sampled overshoot depends on where the edge falls between LR centres
        square = torch.zeros(1, 1, 64, 64, dtype=torch.float64)
        square[..., 16 + shift:48, 16 + shift:48] = 1.0
        for w in D.WINDOWS:
            overshoot[w] = max(overshoot[w], float(D.kspace_truncate(square, 3, window=w).max()) - 1)
    assert overshoot["none"] > 0.1  # Gibbs ringing (about 9 % per axis, compounded at corners)
    assert max(overshoot["hann"], overshoot["hamming"]) < 0.02
    with pytest.raises(ValueError, match="not one of none, hann, hamming, fermi"):
        D.kspace_truncate(const, 2, window="kaiser")


def test_apodisation_windows():
    w = D.apodisation(8, 8, "hann")
    assert float(w[0, 0]) == pytest.approx(0.0, abs=1e-12) and float(w[4, 4]) == 1.0
    assert float(D.apodisation(8, 8, "hamming")[0, 4]) == pytest.approx(0.08)
    fermi = D.apodisation(64, 64, "fermi", fermi_radius=0.5, fermi_width=0.01)
    assert float(fermi[32, 32]) == pytest.approx(1.0) and float(fermi[32, 32 + 16]) == pytest.approx(0.5)


@pytest.mark.parametrize("scale", [2, 2.5, 3.7, (1, 2.5)], ids=str)
def test_area_average_keeps_a_constant(scale):
    assert torch.allclose(D.area_average(torch.full((2, 1, 75, 80), 0.37), scale), torch.tensor(0.37), atol=1e-6)


def test_area_average_preserves_the_mean_of_the_covered_field():
    hr = torch.rand(1, 2, 75, 70, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for scale in (2.5, (3, 3.5), (1, 2.5)):  # floor(N/s)·s = N: the LR grid covers the whole field
        lr = D.area_average(hr, scale)
        assert torch.allclose(lr.mean(dim=(-2, -1)), hr.mean(dim=(-2, -1)), atol=1e-12)
    hr = torch.arange(6, dtype=torch.float64).reshape(1, 1, 1, 6)
    # Box [0, 1.5) = pixel 0 + half of pixel 1; [1.5, 3) = half of 1 + pixel 2; weights / 1.5.
    assert D.area_average(hr, (1, 1.5))[0, 0, 0, :2].tolist() == pytest.approx([0.5 / 1.5, (0.5 + 2) / 1.5])


def test_gaussian_psf_is_the_paper_recipe_and_its_width_is_sigma():
    hr = torch.rand(2, 1, 45, 52, generator=torch.Generator().manual_seed(3))
    for scale in (2, 2.5, 3.7):
        assert torch.allclose(D.gaussian_psf(hr, scale), D.degrade(hr, scale, sigma=0.8, clip=False), atol=1e-6)
    point = torch.zeros(1, 1, 61, 61, dtype=torch.float64)
    point[..., 30, 30] = 1.0
    psf = D.separable_gaussian_blur(point, (2.0, 0.0), kernel_size=None)
    column = psf[0, 0, :, 30]
    var = float((column * (torch.arange(61) - 30.0) ** 2).sum())
    assert var == pytest.approx(4.0, rel=1e-3) and torch.equal(psf[0, 0, 30, :29], torch.zeros(29, dtype=psf.dtype))
    with pytest.raises(ValueError, match="kernel size 4 must be odd"):
        D.gaussian_psf(hr, 2, kernel_size=4)


def test_ct_like_psf_fwhm_is_in_lr_pixels_and_noise_is_reproducible():
    point = blob((96, 96), (48, 48), 0.3).double()
    lr = D.ct_like(point, 3, fwhm=2.0)  # FWHM 2 LR pixels = 6 HR pixels: σ_LR = 2 / 2.3548
    profile = lr[0, 0, :, 15] / lr[0, 0, :, 15].sum()
    k = torch.arange(lr.shape[-2], dtype=torch.float64)
    mean = float((profile * k).sum())
    sd = float((profile * (k - mean) ** 2).sum()) ** 0.5
    assert sd == pytest.approx((2.0 / D.psf.FWHM_PER_SIGMA ** 2 * 2.0 + 0.3 ** 2 / 9) ** 0.5, rel=0.05)
    noisy = [D.ct_like(point, 3, snr=5, generator=torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(noisy[0], noisy[1]) and not torch.equal(noisy[0], lr)


def test_plot_degradations_writes_a_figure(tmp_path):
    from autosr.evaluation.plots import plot_degradations

    hr = blob((24, 24), (12, 11.5), 3.0)
    lrs = {f"s = {s}": {"area": D.area_average(hr, s)[0, 0].numpy(), "k-space": D.kspace_truncate(hr, s)[0, 0].numpy()}
           for s in (2, 3)}
    path = plot_degradations(hr[0, 0].numpy(), lrs, tmp_path / "deg.png", reference="area")
    assert path.stat().st_size > 1000 and not list(tmp_path.glob(".*partial*"))


def test_thick_slices_profiles():
    from fractions import Fraction

    from autosr.degradation import area_average, thick_slices
    from autosr.degradation.slice_profile import profile_matrix
    x = torch.rand(2, 1, 41, 30, dtype=torch.float64)
    for scale in (2.5, (1, 3.7), (4, 1)):  # a boxcar without gap is area averaging
        assert torch.allclose(thick_slices(x, scale), area_average(x, scale), atol=1e-12)
    assert torch.equal(thick_slices(x, (1, 1)), x)  # s = 1, no gap: as it is
    box, gauss = (profile_matrix(40, 10, Fraction(4), p, 0.25) for p in ("boxcar", "gaussian"))
    assert np.allclose(box.sum(1), 1) and np.allclose(gauss.sum(1), 1)
    # a gap of a quarter: slice 5 (centre at edge 22) covers [20.5, 23.5]; a Gaussian of FWHM 3 reaches further
    assert np.allclose(box[5, 20:24], [1 / 6, 1 / 3, 1 / 3, 1 / 6]) and np.count_nonzero(box[5]) == 4
    assert np.count_nonzero(gauss[5] > 1e-4) > 4
    assert np.count_nonzero(profile_matrix(40, 10, Fraction(4), "boxcar", -0.5)[5]) == 6  # overlapping slices
    with pytest.raises(ValueError, match="gap 1.0 must be in"):
        thick_slices(x, 2, gap=1.0)
    with pytest.raises(ValueError, match="not one of boxcar, gaussian"):
        thick_slices(x, 2, profile="sinc")


@pytest.mark.parametrize("scale", [2, 2.5, (1, 3.7)], ids=str)
def test_bspline_baseline_interpolates_on_the_refined_grid(scale):
    """SimpleITK's cubic B-spline lands on the centre convention and reproduces a smooth field."""
    s_h, s_w = D.axis_scales(scale)
    f = lambda yy, xx: torch.sin(yy / 5) * torch.cos(xx / 7)  # noqa: E731
    y, x = torch.meshgrid(torch.arange(60.0), torch.arange(56.0), indexing="ij")
    lr = f(y, x)[None, None].double()
    up = D.upsample(lr, scale, mode="bspline")
    yi = (torch.arange(up.shape[-2], dtype=torch.float64) + 0.5) / float(s_h) - 0.5
    xi = (torch.arange(up.shape[-1], dtype=torch.float64) + 0.5) / float(s_w) - 0.5
    err = (up[0, 0] - f(yi[:, None], xi[None, :]))[(yi > 8) & (yi < 52)][:, (xi > 8) & (xi < 48)].abs().max()
    bicubic = (D.upsample(lr, scale)[0, 0] - f(yi[:, None], xi[None, :]))[(yi > 8) & (yi < 52)][:, (xi > 8) & (xi < 48)]
    assert up.shape[-2:] == (sr_size(60, s_h), sr_size(56, s_w))
    assert err < 1e-4 < bicubic.abs().max()  # cubic B-spline is exact to 4th order; PyTorch's bicubic (a = -0.75) is not
