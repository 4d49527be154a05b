"""Every acquisition model puts a small object where the voxel-centre convention says.

An HR blob at HR coordinate ``p`` must land at LR coordinate ``(p + 0.5)/s − 0.5`` per axis
(LR pixel ``k`` ↔ HR ``(k + 0.5)·s − 0.5``), at non-integer and per-axis scales.
"""
from __future__ import annotations

import pytest
import torch

from autosr import degradation as D
from tests.degradation.helpers import blob, centre_of_mass

MODELS = {
    "paper psf": lambda hr, s: D.gaussian_psf(hr, s),
    "psf antialiased": lambda hr, s: D.gaussian_psf(hr, s, sigma=(0.8, 1.2), antialias=True),
    "psf bilinear": lambda hr, s: D.gaussian_psf(hr, s, sigma=1.0, kernel_size=None, mode="bilinear"),
    "degrade": lambda hr, s: D.degrade(hr, s, sigma=0.8, clip=False),
    "area": D.area_average,
    "kspace": D.kspace_truncate,
    "kspace hann": lambda hr, s: D.kspace_truncate(hr, s, window="hann"),
    "kspace hamming": lambda hr, s: D.kspace_truncate(hr, s, window="hamming"),
    "kspace fermi": lambda hr, s: D.kspace_truncate(hr, s, window="fermi"),
    "ct": lambda hr, s: D.ct_like(hr, s, fwhm=(1.0, 1.4)),
    "thick boxcar with gap": lambda hr, s: D.thick_slices(hr, s, "boxcar", gap=0.2),
    "thick gaussian overlapping": lambda hr, s: D.thick_slices(hr, s, "gaussian", gap=(-0.3, 0.1)),
}
SCALES = [1.5, 2.5, 3.7, (1, 2.5), (2.5, 1), (2, 3.3)]
CENTRES = [(37.3, 41.65), (40.0, 44.5)]


@pytest.mark.parametrize("scale", SCALES, ids=str)
@pytest.mark.parametrize("name", list(MODELS))
def test_centre_of_mass_follows_the_voxel_centre_convention(name, scale):
    s_h, s_w = D.axis_scales(scale)
    # Wide enough for the sampled centre of mass to be exact (with k-space's sharp band limit, a
    # blob narrower than ~1.3 LR pixels aliases the sampled moment by up to 0.1 pixel).
    sigma = 1.5 * float(max(s_h, s_w))
    for centre in CENTRES:
        lr = MODELS[name](blob((80, 90), centre, sigma), scale)
        expected = ((centre[0] + 0.5) / float(s_h) - 0.5, (centre[1] + 0.5) / float(s_w) - 0.5)
        assert lr.shape[-2:] == D.lr_shape((80, 90), scale)
        assert centre_of_mass(lr) == pytest.approx(expected, abs=0.01)


def test_lr_centres_are_the_convention():
    assert D.lr_centres(3, D.axis_scales(2.5)[0]).tolist() == [0.75, 3.25, 5.75]
    assert D.lr_shape((80, 90), (1, 3.7)) == (80, 24)
    with pytest.raises(ValueError, match="must each be >= 1"):
        D.axis_scales((0.5, 2))
    with pytest.raises(ValueError, match="too small for scale 4"):
        D.area_average(torch.zeros(1, 1, 3, 8), 4)
