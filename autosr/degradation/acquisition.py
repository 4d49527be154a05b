"""One acquisition: an acquisition model with its parameters and noise, drawn from the plans or named.

Training draws an :class:`Acquisition` per patch from the plans' degradation distribution
(:func:`draw`); evaluation names fixed ones (:data:`NAMED`: the papers' recipe, k-space, CT, …) so
a model is scored on each way a scan can really have been acquired; :func:`synthesize` applies
any of them. The reference recipe of a plan (:func:`recipe`) goes through
:func:`autosr.degradation.degrade` itself, so validation and models trained before the
distribution existed see exactly the LR they always did.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Optional, Sequence, Tuple

import torch

from autosr.degradation.area import area_average
from autosr.degradation.ct import ct_like
from autosr.degradation.grid import AxisScales
from autosr.degradation.kspace import kspace_truncate
from autosr.degradation.noise import gaussian_noise, rician_noise
from autosr.degradation.psf import gaussian_psf
from autosr.degradation.resample import degrade
from autosr.plans import FAMILY_KINDS

if TYPE_CHECKING:
    from autosr.plans import DegradationPlan


@dataclass(frozen=True)
class Acquisition:
    """A concrete degradation. ``family``: ``gaussian_psf``, ``area``, ``kspace`` or ``ct_like``."""

    family: str
    sigma: float = 0.8                 # gaussian_psf: σ of the PSF in HR pixels
    kernel_size: Optional[int] = 3     # gaussian_psf: taps (None: 2·ceil(4σ) + 1)
    antialias: bool = False            # gaussian_psf: antialiased bicubic resampling
    window: str = "none"               # kspace: apodisation window
    fwhm: float = 1.0                  # ct_like: reconstruction kernel FWHM in LR pixels
    noise: str = "none"                # none | gaussian | rician
    snr: Optional[float] = None        # μ_fg / σ (autosr.degradation.noise)
    noise_std: float = 0.0             # the reference recipe's absolute σ (plans' degradation.noise_std)


#: Fixed acquisitions ``autosr_evaluate --degradation`` names (``planned`` is the plan's own recipe).
NAMED: Dict[str, Acquisition] = {
    "paper": Acquisition("gaussian_psf", sigma=0.8, kernel_size=3, antialias=False),   # MIASSR eq. 1
    "antialiased": Acquisition("gaussian_psf", sigma=0.8, kernel_size=3, antialias=True),
    "area": Acquisition("area"),
    "kspace": Acquisition("kspace", window="none"),                                    # a smaller MR matrix
    "ct": Acquisition("ct_like", fwhm=1.0, noise="gaussian", snr=40.0),                 # kernel blur + quantum noise
}
def kind(acq: Acquisition) -> str:
    """What a conditioned network is told of ``acq``: its :data:`autosr.plans.ACQUISITION_KINDS` entry
    (a Gaussian PSF's depends on its antialiasing)."""
    if acq.family == "gaussian_psf":
        return "antialiased" if acq.antialias else "paper"
    return FAMILY_KINDS[acq.family][0]


#: The families ``--degradation all`` reports, per modality of the dataset.
FAMILIES_BY_MODALITY: Dict[str, Sequence[str]] = {"MR": ("paper", "antialiased", "kspace"),
                                                   "CT": ("paper", "antialiased", "ct")}


def recipe(plan: "DegradationPlan") -> Acquisition:
    """The plan's reference recipe (kernel_size, sigma, antialias, noise_std)."""
    return Acquisition("gaussian_psf", sigma=plan.sigma, kernel_size=plan.kernel_size, antialias=plan.antialias,
                       noise_std=plan.noise_std)


def named(name: str, plan: "DegradationPlan") -> Acquisition:
    """``planned`` (the plan's recipe) or one of :data:`NAMED`; ``ValueError`` naming the choices otherwise."""
    if name == "planned":
        return recipe(plan)
    if name not in NAMED:
        raise ValueError(f"unknown degradation {name!r}; choose planned, {', '.join(NAMED)} or all")
    return NAMED[name]


def _uniform(lo: float, hi: float, g: torch.Generator) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def _pick(options: Sequence, weights: Sequence[float], g: torch.Generator):
    return options[int(torch.multinomial(torch.tensor(weights, dtype=torch.float64), 1, generator=g))]


def draw(plan: "DegradationPlan", g: torch.Generator) -> Acquisition:
    """One acquisition from the plan's distribution (its reference recipe when it has no families).

    A family is picked by weight; each ``[low, high]`` range is drawn uniformly, each list evenly,
    ``antialias`` with ``antialias_probability``; noise with ``noise.probability`` at an SNR drawn
    log-uniformly from ``noise.snr`` (noise levels span decades).
    """
    if not plan.families:
        return recipe(plan)
    f = _pick(plan.families, [f["weight"] for f in plan.families], g)
    kw: Dict[str, object] = {}
    if f["name"] == "gaussian_psf":
        kw["sigma"] = _uniform(*f.get("sigma", (0.8, 0.8)), g)
        kw["kernel_size"] = f.get("kernel_size", 3)
        kw["antialias"] = float(torch.rand((), generator=g)) < f.get("antialias_probability", 0.0)
    elif f["name"] == "kspace":
        windows = f.get("windows", ("none",))
        kw["window"] = _pick(windows, [1.0] * len(windows), g)
    elif f["name"] == "ct_like":
        kw["fwhm"] = _uniform(*f.get("fwhm", (1.0, 1.0)), g)
    noise = plan.noise
    if noise.get("model", "none") != "none" and float(torch.rand((), generator=g)) < noise.get("probability", 1.0):
        lo, hi = noise["snr"]
        kw.update(noise=noise["model"], snr=math.exp(_uniform(math.log(lo), math.log(hi), g)))
    return Acquisition(f["name"], **kw)


def synthesize(hr: torch.Tensor, scale: AxisScales, acq: Acquisition, generator: Optional[torch.Generator] = None,
               region: Optional[Tuple[int, int, int, int]] = None, clip: bool = True) -> torch.Tensor:
    """LR ``(B, C, floor(H/s_h), floor(W/s_w))`` of ``hr`` in [0, 1] acquired as ``acq``, clipped to [0, 1]
    (``clip=False``: not clipped, so a noise-free acquisition is a linear operator).

    ``region`` ``(y0, x0, h, w)``: ``hr`` is a whole slice and only the LR of that HR window is
    made (a training patch). K-space acquires the window as part of the slice's field of view,
    as a scanner does; the other families are local and see the window alone.
    """
    if region is not None and acq.family != "kspace":
        y0, x0, h, w = region
        hr, region = hr[..., y0:y0 + h, x0:x0 + w], None
    if acq.family == "gaussian_psf" and acq.noise == "none" and acq.kernel_size:  # MIASSR eq. 1, bit for bit
        return degrade(hr, scale, sigma=acq.sigma, kernel_size=acq.kernel_size, noise_std=acq.noise_std,
                       antialias=acq.antialias, generator=generator, clip=clip)
    if acq.family == "kspace":
        lr = kspace_truncate(hr, scale, acq.window, magnitude=acq.noise != "rician", region=region)
    elif acq.family == "area":
        lr = area_average(hr, scale)
    elif acq.family == "ct_like":
        lr = ct_like(hr, scale, acq.fwhm)
    elif acq.family == "gaussian_psf":
        lr = gaussian_psf(hr, scale, acq.sigma, acq.kernel_size, antialias=acq.antialias)
    else:
        raise ValueError(f"unknown acquisition family {acq.family!r}")
    if acq.noise == "rician":
        lr = rician_noise(lr, acq.snr, generator)
    elif acq.noise == "gaussian":
        lr = gaussian_noise(lr, acq.snr, generator)
    return lr.clamp(0.0, 1.0) if clip else lr


__all__ = ["Acquisition", "NAMED", "FAMILIES_BY_MODALITY", "kind", "recipe", "named", "draw",
           "synthesize"]
