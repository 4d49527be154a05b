"""Acquisitions drawn from a plan's distribution, applied, and measured back (SNR, data consistency)."""
from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest
import torch

from autosr.degradation import (Acquisition, degrade, draw, gaussian_psf, named, recipe,
                                synthesize)
from autosr.degradation.acquisition import NAMED
from autosr.degradation.estimate import consistency_error, estimate_snr
from autosr.plans import DegradationPlan
from tests.synthetic import phantom

MR_PLAN = DegradationPlan(
    families=({"name": "gaussian_psf", "weight": 0.5, "sigma": (0.5, 1.0), "kernel_size": 3,
               "antialias_probability": 0.5},
              {"name": "area", "weight": 0.1},
              {"name": "kspace", "weight": 0.4, "windows": ("none", "hann")}),
    noise={"model": "rician", "snr": (15.0, 150.0), "probability": 0.3})


def _slices(n: int = 4, size: int = 64) -> torch.Tensor:
    vol = phantom((n, size, size), seed=3)
    vol = (vol - vol.min()) / (vol.max() - vol.min())
    return torch.from_numpy(vol.astype(np.float32))[:, None]


def test_draws_follow_the_weights_ranges_and_noise_probability():
    g = torch.Generator().manual_seed(0)
    acqs = [draw(MR_PLAN, g) for _ in range(3000)]
    share = Counter(a.family for a in acqs)
    assert share["gaussian_psf"] / 3000 == pytest.approx(0.5, abs=0.03)
    assert share["kspace"] / 3000 == pytest.approx(0.4, abs=0.03)
    assert share["area"] / 3000 == pytest.approx(0.1, abs=0.02)
    psf = [a for a in acqs if a.family == "gaussian_psf"]
    assert all(0.5 <= a.sigma <= 1.0 and a.kernel_size == 3 for a in psf)
    assert np.mean([a.antialias for a in psf]) == pytest.approx(0.5, abs=0.05)
    assert {a.window for a in acqs if a.family == "kspace"} == {"none", "hann"}
    noisy = [a for a in acqs if a.noise != "none"]
    assert len(noisy) / 3000 == pytest.approx(0.3, abs=0.03) and {a.noise for a in noisy} == {"rician"}
    snrs = np.log([a.snr for a in noisy])                     # log-uniform over [15, 150]
    assert snrs.min() >= math.log(15) - 1e-9 and snrs.max() <= math.log(150) + 1e-9
    assert np.mean(snrs) == pytest.approx((math.log(15) + math.log(150)) / 2, abs=0.08)
    again = [draw(MR_PLAN, torch.Generator().manual_seed(0)) for _ in range(1)]
    assert again[0] == acqs[0]                                # same seed, same draw


def test_no_families_is_the_reference_recipe_bit_for_bit():
    plan = DegradationPlan(sigma=0.8, antialias=True)
    hr = _slices()
    assert draw(plan, torch.Generator().manual_seed(1)) == recipe(plan)
    for s in (2, 2.5, Fraction(10, 3)):
        assert torch.equal(synthesize(hr, s, recipe(plan)), degrade(hr, s, sigma=0.8, antialias=True))


def test_rician_noise_lands_at_the_drawn_snr_and_estimate_snr_finds_it():
    hr = torch.zeros(8, 1, 96, 96)
    hr[..., 12:84, 12:84] = 0.6                               # flat foreground: σ̂ sees only noise
    for snr in (10.0, 40.0):
        lr = synthesize(hr, 2, Acquisition("kspace", noise="rician", snr=snr), torch.Generator().manual_seed(2))
        fg = lr[..., 10:30, 10:30]
        assert float(fg.std()) == pytest.approx(0.6 / snr, rel=0.15)
        assert estimate_snr(lr) == pytest.approx(snr, rel=0.2)
    assert math.isinf(estimate_snr(torch.zeros(1, 1, 16, 16)))


def test_noise_lowers_the_estimated_snr_of_anatomy():
    hr = _slices(size=96)
    clean = estimate_snr(synthesize(hr, 2, NAMED["kspace"]))
    noisy = [estimate_snr(synthesize(hr, 2, Acquisition("kspace", noise="rician", snr=snr),
                                     torch.Generator().manual_seed(0))) for snr in (20.0, 6.0)]
    assert clean > noisy[0] > noisy[1] and noisy[1] == pytest.approx(6.0, rel=0.35)


def test_consistency_error_names_the_family_that_made_the_input():
    hr = _slices(size=96)
    families = [(n, NAMED[n]) for n in ("paper", "antialiased", "area", "kspace")]
    for made_by in ("kspace", "antialiased", "area"):
        lr = synthesize(hr, 2.5, NAMED[made_by])
        best, error, errors = consistency_error(lr, hr[..., :int(lr.shape[-2] * 2.5), :int(lr.shape[-1] * 2.5)],
                                                2.5, families)
        assert best == made_by and error < 0.01 and set(errors) == {n for n, _ in families}
    blurred = gaussian_psf(hr, 1, sigma=2.0, kernel_size=None)     # an output that lost detail
    lr = synthesize(hr, 2, NAMED["kspace"])
    assert consistency_error(lr, blurred[..., :lr.shape[-2] * 2, :lr.shape[-1] * 2], 2, families)[1] > 0.02


def test_named_rejects_unknown_names_and_planned_is_the_recipe():
    plan = DegradationPlan(sigma=0.5)
    assert named("planned", plan) == recipe(plan)
    with pytest.raises(ValueError, match="choose planned, paper"):
        named("jpeg", plan)


def test_each_patch_of_a_batch_is_acquired_its_own_way():
    from autosr.plans import ScalePlan
    from autosr.training.data_loader import SRPatchLoader
    vol = phantom((6, 64, 64), seed=1)[None].astype(np.float32)
    vol = (vol - vol.min()) / (vol.max() - vol.min())
    loader = SRPatchLoader([vol], (48, 48), 8, ScalePlan(max=2.0, sampling="grid", step=0.5),
                           DegradationPlan(families=({"name": "kspace", "weight": 1, "windows": ("none",)},
                                                     {"name": "gaussian_psf", "weight": 1, "sigma": (2.0, 2.0),
                                                      "kernel_size": 9})), augment=False, seed=5)
    batch = loader.generate_train_batch()
    lr, hr = torch.from_numpy(batch["lr"]), torch.from_numpy(batch["hr"])
    twin = SRPatchLoader([vol], (48, 48), 8, ScalePlan(max=2.0, sampling="grid", step=0.5),
                         loader.degradation, augment=False, seed=5)
    assert np.array_equal(twin.generate_train_batch()["lr"], batch["lr"])     # same seed, same acquisitions
    s = Fraction(batch["scale"])
    region_lr = {n: synthesize(hr, s, a) for n, a in
                 (("kspace", Acquisition("kspace")), ("psf", Acquisition("gaussian_psf", sigma=2.0, kernel_size=9)))}
    # every LR patch matches one of the two families on its interior, and both families occur
    which = []
    for i in range(len(lr)):
        err = {n: float((lr[i, :, 3:-3, 3:-3] - x[i, :, 3:-3, 3:-3]).abs().mean()) for n, x in region_lr.items()}
        which.append(min(err, key=err.get))
    assert set(which) == {"kspace", "psf"}
