"""Training batches: eq. 20 sizes, one scale per batch, true crops, seeded streams, workers, paired mode."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from autosr.degradation import degrade
from autosr.plans import DegradationPlan, ScalePlan
from autosr.scales import patch_sizes
from autosr.training.data_loader import (ScaleSampler, SRPatchLoader, batch_scale, make_batch_iterator, shutdown,
                                         seeded_generator)


def volumes(n=2, shape=(1, 4, 30, 34), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.random(shape, dtype=np.float32) for _ in range(n)]


def loader(vols=None, **kw):
    args = dict(patch_size=(20, 16), batch_size=3, scales=ScalePlan(max=4.0, sampling="grid", step=0.1),
                degradation=DegradationPlan(sigma=0.8), augment=True, seed=5)
    args.update(kw)
    return SRPatchLoader(vols if vols is not None else volumes(), **args)


def test_batches_follow_eq20_with_one_scale_per_batch():
    ld = loader()
    grid = {Fraction(v).limit_denominator(100) for v in ScalePlan(max=4.0, step=0.1).values()}
    for _ in range(25):
        b = next(ld)
        s = batch_scale(b)
        assert s in grid and s > 1
        (h, hh), (w, hw) = patch_sizes(20, s), patch_sizes(16, s)
        assert b["lr"].shape == (3, 1, h, w) and b["hr"].shape == (3, 1, hh, hw)
        assert b["lr"].dtype == np.float32 and b["hr"].dtype == np.float32


def test_hr_patches_are_crops_and_lr_is_their_degradation():
    vol = np.arange(1 * 3 * 30 * 34, dtype=np.float32).reshape(1, 3, 30, 34) / (3 * 30 * 34)
    ld = loader([vol], augment=False, batch_size=1, scales=ScalePlan(max=2.0, sampling="grid", step=1.0))
    b = next(ld)  # scale 2: LR 10×8, HR 20×16
    hr = b["hr"][0, 0]
    z, y, x = np.argwhere(vol[0] == hr[0, 0])[0]
    np.testing.assert_array_equal(vol[0, z, y:y + 20, x:x + 16], hr)
    expected = degrade(torch.from_numpy(vol[None, :, z, y:y + 20, x:x + 16].copy()), 2, sigma=0.8)
    np.testing.assert_allclose(b["lr"], expected.numpy(), atol=1e-6)


def test_uniform_scales_stay_in_range():
    g = seeded_generator(1)
    sampler = ScaleSampler(ScalePlan(max=3.0, sampling="uniform"))
    values = [sampler.sample(g) for _ in range(200)]
    assert all(Fraction(1) < s <= 3 and (s * 100).denominator == 1 for s in values)
    assert len(set(values)) > 50
    with pytest.raises(ValueError):
        ScaleSampler(ScalePlan(max=3.0, sampling="random"))


def test_rotations_keep_non_square_shapes_and_small_slices_are_padded():
    ld = loader(volumes(shape=(2, 3, 12, 40)), patch_size=(16, 24), augment=True)
    for _ in range(10):
        b = next(ld)
        s = batch_scale(b)
        assert b["hr"].shape[1:] == (2, patch_sizes(16, s)[1], patch_sizes(24, s)[1])


def test_same_seed_same_stream_and_state_restores():
    a, b = loader(), loader()
    for _ in range(3):
        x, y = next(a), next(b)
        assert x["scale"] == y["scale"] and np.array_equal(x["hr"], y["hr"]) and np.array_equal(x["lr"], y["lr"])
    states = {k: g.get_state() for k, g in a.generators.items()}
    first = next(a)
    for k, g in a.generators.items():
        g.set_state(states[k])
    assert np.array_equal(next(a)["hr"], first["hr"])
    other = loader(rank=1)
    assert not np.array_equal(next(other)["hr"], next(loader())["hr"])


def test_background_workers_produce_reproducible_batches():
    runs = []
    for _ in range(2):
        it = make_batch_iterator(loader(), num_workers=2)
        try:
            runs.append([next(it) for _ in range(4)])
        finally:
            shutdown(it)
    for x, y in zip(*runs):
        assert x["scale"] == y["scale"] and np.array_equal(x["hr"], y["hr"])
        assert x["lr"].shape[2] == patch_sizes(20, batch_scale(x))[0]


def test_paired_mode_cuts_aligned_patches():
    hr_vols = volumes(shape=(1, 3, 40, 40))
    pairs = [(degrade(torch.from_numpy(v).permute(1, 0, 2, 3), 2, sigma=0.8).permute(1, 0, 2, 3).numpy(),
              Fraction(2)) for v in hr_vols]
    ld = loader(hr_vols, patch_size=(16, 16), lowres=pairs)
    for _ in range(5):
        b = next(ld)
        assert batch_scale(b) == 2
        assert b["lr"].shape == (3, 1, 8, 8) and b["hr"].shape == (3, 1, 16, 16)


@pytest.mark.parametrize("told", [0.0, 0.5, 1.0])
def test_each_patch_carries_its_acquisition_kind_when_told(told):
    fams = ({"name": "kspace", "weight": 1.0, "windows": ("none", "hann")},
            {"name": "gaussian_psf", "weight": 1.0, "sigma": (0.5, 1.0), "kernel_size": 3, "antialias_probability": 1.0})
    ld = loader(degradation=DegradationPlan(families=fams, told_probability=told), batch_size=8)
    names = [a for _ in range(20) for a in next(ld)["acquisition"]]
    assert len(names) == 160 and set(names) <= {"kspace", "antialiased", None}
    share = sum(a is not None for a in names) / len(names)
    assert share == told if told in (0.0, 1.0) else 0.35 < share < 0.65
    if told:  # both families are drawn and named
        assert {"kspace", "antialiased"} <= set(names)


def test_told_kind_is_the_acquisition_that_made_the_patch(monkeypatch):
    import autosr.training.data_loader as dl
    from autosr.degradation import kind
    made = []

    def recording(hr, scale, acq, *args):
        made.append(acq)
        return dl.synthesize.__wrapped__(hr, scale, acq, *args)

    recording.__wrapped__ = dl.synthesize
    monkeypatch.setattr(dl, "synthesize", recording)
    fams = ({"name": "kspace", "weight": 1.0}, {"name": "area", "weight": 1.0},
            {"name": "gaussian_psf", "weight": 1.0, "antialias_probability": 0.5})
    ld = loader(degradation=DegradationPlan(families=fams, told_probability=1.0), batch_size=4)
    seen = set()
    for _ in range(10):
        made.clear()
        b = next(ld)
        assert b["acquisition"] == [kind(a) for a in made]
        seen.update(b["acquisition"])
    assert seen == {"kspace", "area", "paper", "antialiased"}


def test_paired_batches_have_unknown_acquisitions():
    rng = np.random.default_rng(1)
    hr = [rng.random((1, 3, 24, 24), dtype=np.float32)]
    lr = [(rng.random((1, 3, 12, 12), dtype=np.float32), Fraction(2))]
    ld = SRPatchLoader(hr, (16, 16), 2, ScalePlan(), DegradationPlan(mode="paired", told_probability=1.0), lowres=lr)
    assert next(ld)["acquisition"] == [None, None]


def test_kspace_patches_are_acquired_within_their_slice():
    """A k-space patch equals the crop of its whole slice's k-space LR (no ringing from the cut edges)."""
    from autosr.degradation import kspace_truncate
    vol = np.zeros((1, 1, 60, 60), np.float32)
    vol[0, 0, 10:50, 12:48] = np.random.default_rng(0).random((40, 36), dtype=np.float32) * 0.5 + 0.5
    fams = ({"name": "kspace", "weight": 1.0, "windows": ("none",)},)
    scales = ScalePlan(max=2.0, sampling="grid", step=1.0)  # s = 2: LR pixels of a slice crop are whole pixels
    ld = loader([vol], degradation=DegradationPlan(families=fams), scales=scales, augment=False, batch_size=4,
                patch_size=(24, 24))
    full = kspace_truncate(torch.from_numpy(vol[:, 0])[None], 2).numpy()[0, 0].clip(0, 1)
    checked = 0
    for _ in range(6):
        b = next(ld)
        for lr, hr in zip(b["lr"][:, 0], b["hr"][:, 0]):
            y0, x0 = (int(v[0]) for v in np.nonzero(np.all(
                np.lib.stride_tricks.sliding_window_view(vol[0, 0], hr.shape) == hr, axis=(2, 3))))
            if y0 % 2 == 0 and x0 % 2 == 0:  # the window starts on an LR pixel of the slice's grid
                np.testing.assert_allclose(lr, full[y0 // 2:y0 // 2 + 12, x0 // 2:x0 // 2 + 12], atol=1e-5)
                alone = kspace_truncate(torch.from_numpy(hr[None, None]), 2).numpy()[0, 0].clip(0, 1)
                assert np.abs(alone - lr).max() > 0.05  # the patch taken alone rings differently
                checked += 1
    assert checked >= 3


def test_single_axis_batches_thicken_one_axis():
    from autosr.degradation import thick_slices
    scales = ScalePlan(max=4.0, sampling="grid", step=0.5, single_axis_probability=0.5, single_axis_max=6.0)
    deg = DegradationPlan(slice_profile={"profiles": ("boxcar",), "gap": (0.0, 0.0)})
    ld = loader(volumes(shape=(1, 4, 90, 90)), scales=scales, degradation=deg, patch_size=(24, 24), batch_size=2,
                augment=False, min_lr_patch=6)
    seen = {"rows": 0, "cols": 0, "both": 0}
    for _ in range(40):
        b = next(ld)
        s = batch_scale(b)
        if not isinstance(s, tuple):
            seen["both"] += 1
            continue
        thick = 0 if s[1] == 1 else 1
        assert s[1 - thick] == 1 and 1 < s[thick] <= 6 and b["acquisition"] == [None, None]
        seen["rows" if thick == 0 else "cols"] += 1
        region = max(24, int(np.ceil(s[thick] * 6)))  # at least min_lr_patch slices along the thick axis
        n_lr, n_hr = patch_sizes(region, s[thick])
        assert b["lr"].shape[2 + thick] == n_lr and b["hr"].shape[2 + thick] == n_hr
        assert b["lr"].shape[3 - thick] == 24 == b["hr"].shape[3 - thick]
        # the LR is the HR target's thick slices wherever the target covers the LR slice fully
        lr = thick_slices(torch.from_numpy(b["hr"]), s).numpy()
        np.testing.assert_allclose(lr, b["lr"][..., :lr.shape[2], :lr.shape[3]], atol=1e-5)
    assert min(seen.values()) > 0, seen
