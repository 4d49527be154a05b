"""Draw documentation/figures/degradation.png: the Shepp–Logan phantom under each acquisition model.

Run from the repository root: ``python documentation/figures/make_degradation_figure.py``.
The phantom is scikit-image's bundled copy (public domain); the noise uses fixed seeds.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from skimage.data import shepp_logan_phantom

from autosr import degradation as D
from autosr.evaluation.plots import plot_degradations

OUT = Path(__file__).resolve().parent / "degradation.png"
SCALES = (2, 3)


def models(hr: torch.Tensor, s: float) -> dict:
    """Every family on ``hr`` at scale ``s``, as 2D arrays clipped to [0, 1] for display."""
    seed = torch.Generator().manual_seed(0)
    lrs = {
        "area": D.area_average(hr, s),
        "Gaussian PSF (paper)": D.gaussian_psf(hr, s),
        "Gaussian PSF, antialiased": D.gaussian_psf(hr, s, antialias=True),
        "k-space": D.kspace_truncate(hr, s),
        "k-space, Hann + Rician SNR 20": D.rician_noise(D.kspace_truncate(hr, s, "hann", magnitude=False), 20,
                                                        generator=seed),
        "CT-like, FWHM 1.2 + SNR 20": D.ct_like(hr, s, fwhm=1.2, snr=20, generator=seed),
    }
    return {name: lr[0, 0].clamp(0, 1).numpy() for name, lr in lrs.items()}


def main() -> None:
    phantom = shepp_logan_phantom().astype(np.float32)[::2, ::2]  # 200 × 200 keeps the PNG small
    hr = torch.from_numpy(np.ascontiguousarray(phantom))[None, None]
    lrs = {f"s = {s}": models(hr, s) for s in SCALES}
    print(plot_degradations(phantom, lrs, OUT, reference="area"))


if __name__ == "__main__":
    main()
