"""Validation: the same numbers as the per-slice reference, the bicubic baseline scored once, a
validation set sized to its share of the run."""
from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
import torch

import autosr.training.validation as V
from autosr.commands.train import main
from autosr.degradation import degrade, upsample
from autosr.evaluation.metrics import psnr, ssim
from autosr.networks import build_network
from autosr.plans import DegradationPlan
from autosr.slices import select_slices
from autosr.training.data_loader import seeded_generator
from autosr.training.trainer import MetaSRTrainer
from tests.training.helpers import TINY

SCALES = (1.5, 2.0, 3.0, 4.0)
DEG = DegradationPlan(noise_std=0.02)


def reference(generator, volumes, lowres, max_slices=5, s_max=3.0):
    """The validation loop as it was before ValidationSet (every slice batch, scale and metric anew)."""
    sums = {}
    for case_idx, (name, vol) in enumerate(sorted(volumes.items())):
        slices = select_slices(vol, max_slices)
        for start in range(0, len(slices), V.SLICE_BATCH):
            zs = slices[start:start + V.SLICE_BATCH]
            hr = torch.from_numpy(np.stack([vol[:, z] for z in zs]))
            if name in lowres:
                pairs = [(torch.from_numpy(np.stack([lowres[name][0][:, z] for z in zs])), lowres[name][1])]
            else:
                pairs = [(degrade(hr, s, sigma=DEG.sigma, noise_std=DEG.noise_std,
                                  generator=seeded_generator(0, case_idx, zs[0], s.numerator, s.denominator)), s)
                         for s in V.usable_scales(SCALES, s_max) if min(int(n / s) for n in hr.shape[-2:]) >= 3]
            for lr, s in pairs:
                with torch.no_grad():
                    sr = generator(lr, s).clamp(0, 1).numpy()
                bic = upsample(lr, s).clamp(0, 1).numpy()
                h, w = min(sr.shape[-2], hr.shape[-2]), min(sr.shape[-1], hr.shape[-1])
                ref = hr[:, :, :h, :w].numpy()
                acc = sums.setdefault(s, {k: [] for k in V.METRICS})
                for b in range(ref.shape[0]):
                    for c in range(ref.shape[1]):
                        acc["psnr"].append(psnr(sr[b, c, :h, :w], ref[b, c]))
                        acc["ssim"].append(ssim(sr[b, c, :h, :w], ref[b, c]))
                        acc["psnr_bicubic"].append(psnr(bic[b, c, :h, :w], ref[b, c]))
                        acc["ssim_bicubic"].append(ssim(bic[b, c, :h, :w], ref[b, c]))
    return {V.scale_key(s): {**{k: V._mean(v) for k, v in acc.items()}, "n": len(acc["psnr"])}
            for s, acc in sorted(sums.items())}


@pytest.fixture
def cases():
    """Two 2-channel cases (one with empty end slices, one paired with a real LR scan) and a tiny generator."""
    rng = np.random.default_rng(3)
    a = rng.random((2, 9, 30, 34), dtype=np.float32)
    a[:, [0, 8]] = 0
    b = rng.random((2, 6, 24, 24), dtype=np.float32)
    lowres = {"b": (b[:, :, ::2, ::2].copy(), Fraction(2))}
    torch.manual_seed(0)
    generator = build_network("MetaSR", in_channels=2, width=8, depth=2, mlp_hidden=16, upsample_skip="bicubic")
    return {"a": a, "b": b}, lowres, generator


def test_results_are_those_of_the_per_slice_reference(cases):
    volumes, lowres, generator = cases
    got = V.ValidationSet(volumes, SCALES, 3.0, DEG, 5, seed=0, lowres=lowres).run(generator)
    assert got == reference(generator, volumes, lowres)
    assert set(got) == {"1.5", "2", "3"} and got["2"]["n"] == 2 * (5 + 5)  # channels × (a's slices + b's)


def test_bicubic_baseline_is_scored_once(cases, monkeypatch):
    volumes, lowres, generator = cases
    calls = []
    monkeypatch.setattr(V, "upsample", lambda lr, s: calls.append(s) or upsample(lr, s))
    vs = V.ValidationSet(volumes, SCALES, 3.0, DEG, 5, seed=0, lowres=lowres)
    first = vs.run(generator)
    passes = len(list(vs.keys()))
    assert len(calls) == passes == 2 * 3 + 2  # a: 2 slice batches × 3 scales; b: 2 batches at its own scale
    assert vs.run(generator) == first and len(calls) == passes  # second run: from the cache
    vs.limit(2)  # other slices: scored anew
    vs.run(generator)
    assert len(calls) == passes + 3 + 1


def test_cost_counts_lr_pixels_and_the_budget_caps_slices(cases):
    volumes, lowres, _ = cases
    vs = V.ValidationSet(volumes, SCALES, 3.0, DEG, 0, lowres=lowres)
    per_slice_a = 20 * 22 + 15 * 17 + 10 * 11  # 30×34 at 1.5, 2, 3
    assert vs.slice_cost() == per_slice_a + 12 * 12
    assert vs.cost() == 7 * per_slice_a + 6 * 144  # a: 7 content slices; b: all 6
    assert V.slices_within_budget(100, 350, 16) == 3
    assert V.slices_within_budget(100, 50, 16) == 1  # at least one
    assert V.slices_within_budget(100, 1e9, 16) == 16
    assert V.training_step_cost([24, 24], 2, [2.0]) == V.STEP_COST * 2 * 144


class GenerousTrainer(MetaSRTrainer):
    """Validation may take almost the whole run."""
    val_share = 0.99


SMALL = {**TINY, "scales.max": 2.0, "training.val_scales": [1.5, 2.0], "training.val_max_slices": 4}


def train(*extra, **overrides):
    argv = ["1", "0", "-c", "2d_cpu", "--steps", "6", "--warmup_steps", "3", "--device", "cpu", *extra]
    for k, v in {**SMALL, **overrides}.items():
        argv += ["-o", f"{k}={json.dumps(v)}"]
    return main(argv)


def test_trainer_sizes_validation_to_its_share_and_logs_threads(env, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert train() == 0
    fold = env / "Dataset001_One" / "MetaSRTrainer__autosrPlans__2d_cpu" / "fold_0"
    log = (fold / "training_log.txt").read_text(encoding="utf-8")
    assert "CPU threads: 1 (set by the user: OMP_NUM_THREADS=1)" in log
    assert "up to 1 slice(s) each (val_max_slices 4)" in log and "validation took" in log
    budgeted = json.loads((fold / "validation.json").read_text(encoding="utf-8"))["results"]
    assert train("-tr", "tests.training.test_validation:GenerousTrainer") == 0
    fold = env / "Dataset001_One" / "GenerousTrainer__autosrPlans__2d_cpu" / "fold_0"
    generous = json.loads((fold / "validation.json").read_text(encoding="utf-8"))["results"]
    assert budgeted["2"]["n"] == 1 < generous["2"]["n"] <= 4
