"""Validation: PSNR and SSIM of the model and of bicubic interpolation at fixed scales.

For every validation case a capped number of slices with content (at least 10 % non-zero
pixels; evenly spaced) is super-resolved whole: ``LR`` = the plan's reference recipe of ``HR``,
``SR = model(LR, s)`` clamped to [0, 1],
``bicubic = upsample(LR, s)``; both are compared with ``HR[:, :, :sr_h, :sr_w]`` channel by
channel (scikit-image metrics, :mod:`autosr.evaluation.metrics`). Scales above the plan's
``s_max`` are skipped. Noise, when planned, comes from a generator seeded per case, slice and
scale, so validation never touches the training random streams and is repeatable. In paired
mode a case is validated on its real low-resolution scan, at that scan's scale.

What is validated is fixed once per run (:class:`ValidationSet`): the slices are chosen once, and
the bicubic baseline, which never changes, is scored on the first run and reused after. A
validation's compute is counted in LR pixels through the generator (:meth:`ValidationSet.cost`);
a trainer weighs it against the training steps between two validations
(:func:`training_step_cost`, :func:`slices_within_budget`) to keep validation within its share
of the run.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from autosr.degradation import kind, recipe, synthesize, upsample
from autosr.evaluation.metrics import psnr, ssim
from autosr.networks import run_generator
from autosr.plans import DegradationPlan
from autosr.scales import as_fraction, lr_size
from autosr.slices import evenly_spaced, select_slices
from autosr.training.data_loader import seeded_generator

#: Slices super-resolved together (they share the case's in-plane shape).
SLICE_BATCH = 4
#: A training step (forward, backward, optimiser) costs about this many forward passes of its batch
#: (2.8 measured for the ``2d_cpu`` network on CPU).
STEP_COST = 3.0
#: (case, case index, first slice of the batch, scale): one forward pass of a validation.
Key = Tuple[str, int, int, Fraction]
METRICS = ("psnr", "ssim", "psnr_bicubic", "ssim_bicubic")


def usable_scales(scales: Sequence[float], s_max: float) -> List[Fraction]:
    """The validation scales that do not exceed ``s_max`` (exact fractions, sorted, unique)."""
    top = as_fraction(str(s_max))
    return sorted({as_fraction(str(s)) for s in scales if as_fraction(str(s)) <= top})


class ValidationSet:
    """The validation work of one run, fixed at the start and repeated at every validation.

    Args:
        volumes: validation cases ``{name: (C, S, H, W) float32 in [0, 1]}``.
        scales: validation scales; those above ``s_max`` are skipped.
        degradation: the plan's LR synthesis.
        max_slices: slices per case (0: all); :meth:`limit` lowers it later.
        seed: seeds the degradation noise.
        lowres: paired mode: ``{name: (real LR volume (C, S, h, w), its scale)}``; such a case is
            validated on its real LR scan at its own scale instead of synthetic LR at ``scales``.
    """

    def __init__(self, volumes: Mapping[str, np.ndarray], scales: Sequence[float], s_max: float,
                 degradation: DegradationPlan, max_slices: int = 16, seed: int = 0,
                 lowres: Optional[Mapping[str, Tuple[np.ndarray, Fraction]]] = None) -> None:
        self.volumes, self.degradation, self.seed = volumes, degradation, seed
        self.lowres = dict(lowres or {})
        self.scales = usable_scales(scales, s_max)
        # select_slices reads the whole (memory-mapped) volume: once per run, not per validation.
        self.content = {name: select_slices(vol, 0) for name, vol in sorted(volumes.items())}
        self.bicubic: Dict[Key, Dict[str, List[float]]] = {}  # scored by the first run
        self.slices: Dict[str, List[int]] = {}
        self.limit(max_slices)

    def limit(self, max_slices: int) -> None:
        """Validate on ``max_slices`` evenly spaced content slices per case (0: all)."""
        self.slices = {name: evenly_spaced(keep, max_slices) for name, keep in self.content.items()}
        self.bicubic.clear()  # the slice batches change

    def case_scales(self, name: str) -> List[Fraction]:
        """A paired case's own scale, else the validation scales whose LR slice is at least 3 px."""
        if name in self.lowres:
            return [self.lowres[name][1]]
        return [s for s in self.scales if min(lr_size(n, s) for n in self.volumes[name].shape[-2:]) >= 3]

    def keys(self) -> Iterator[Tuple[Key, List[int]]]:
        """Each forward pass (its key and slice batch), in a fixed order."""
        for case_idx, (name, slices) in enumerate(self.slices.items()):
            for start in range(0, len(slices), SLICE_BATCH):
                zs = slices[start:start + SLICE_BATCH]
                for s in self.case_scales(name):
                    yield (name, case_idx, zs[0], s), zs

    def lr_pixels(self, name: str, s: Fraction) -> int:
        """LR pixels of one slice of ``name`` at ``s`` (what the generator's compute grows with)."""
        if name in self.lowres:
            return math.prod(self.lowres[name][0].shape[-2:])
        return math.prod(lr_size(n, s) for n in self.volumes[name].shape[-2:])

    def slice_cost(self) -> int:
        """LR pixels of validating one slice of every case (that has content slices)."""
        return sum(self.lr_pixels(name, s) for name, keep in self.content.items() if keep
                   for s in self.case_scales(name))

    def cost(self) -> int:
        """LR pixels the generator processes in one validation."""
        return sum(len(zs) * self.lr_pixels(key[0], key[3]) for key, zs in self.keys())

    def inputs(self, key: Key, zs: List[int]) -> Tuple[torch.Tensor, torch.Tensor]:
        """HR slices ``(B, C, H, W)`` and their LR input: the real scan's, or degraded with noise
        seeded by case, slice and scale (hence the same at every validation)."""
        name, case_idx, _, s = key
        vol = self.volumes[name]
        hr = torch.from_numpy(np.stack([np.asarray(vol[:, z], np.float32) for z in zs]))
        if name in self.lowres:
            lr_vol = self.lowres[name][0]
            return hr, torch.from_numpy(np.stack([np.asarray(lr_vol[:, z], np.float32) for z in zs]))
        g = seeded_generator(self.seed, case_idx, zs[0], s.numerator, s.denominator)
        return hr, synthesize(hr, s, recipe(self.degradation), g)

    @torch.no_grad()
    def run(self, generator: nn.Module, device: torch.device | str = "cpu") -> Dict[str, Dict[str, float]]:
        """Mean metrics per scale: ``{"2.5": {"psnr", "ssim", "psnr_bicubic", "ssim_bicubic", "n"}}``.

        ``generator``: ``(B, C, h, w), s → (B, C, floor(h·s), floor(w·s))``; evaluated in eval mode.
        """
        was_training = generator.training
        generator.eval()
        told = kind(recipe(self.degradation))  # synthetic LR: a conditioned network is told its recipe
        told = told if told in getattr(generator, "acquisitions", ()) else None
        sums: Dict[Fraction, Dict[str, List[float]]] = {}
        try:
            for key, zs in self.keys():
                s = key[3]
                hr, lr = self.inputs(key, zs)
                sr = run_generator(generator, lr.to(device), s, None if key[0] in self.lowres else told)
                sr = sr.float().clamp(0, 1).cpu().numpy()
                h, w = min(sr.shape[-2], hr.shape[-2]), min(sr.shape[-1], hr.shape[-1])
                ref = hr[:, :, :h, :w].numpy()
                if key not in self.bicubic:
                    self.bicubic[key] = _scores(upsample(lr, s).clamp(0, 1).numpy()[:, :, :h, :w], ref)
                acc = sums.setdefault(s, {k: [] for k in METRICS})
                for k, values in _scores(sr[:, :, :h, :w], ref).items():
                    acc[k].extend(values)
                    acc[f"{k}_bicubic"].extend(self.bicubic[key][k])
        finally:
            generator.train(was_training)
        return {scale_key(s): {**{k: _mean(v) for k, v in acc.items()}, "n": len(acc["psnr"])}
                for s, acc in sorted(sums.items())}


def _scores(images: np.ndarray, ref: np.ndarray) -> Dict[str, List[float]]:
    """PSNR and SSIM of every slice and channel of ``images`` against ``ref`` (both ``(B, C, h, w)``)."""
    pairs = [(images[b, c], ref[b, c]) for b in range(ref.shape[0]) for c in range(ref.shape[1])]
    return {"psnr": [psnr(a, r) for a, r in pairs], "ssim": [ssim(a, r) for a, r in pairs]}


def training_step_cost(patch_size: Sequence[int], batch_size: int, scales: Sequence[float]) -> float:
    """One training step's compute in :meth:`ValidationSet.cost`'s unit: the batch's LR pixels
    (mean over the training scales) times :data:`STEP_COST`."""
    per_scale = [math.prod(lr_size(p, s) for p in patch_size) for s in scales] or [math.prod(patch_size)]
    return STEP_COST * batch_size * float(np.mean(per_scale))


def slices_within_budget(slice_cost: float, budget: float, max_slices: int) -> int:
    """Slices per case for a validation costing at most ``budget`` (at least one, at most
    ``max_slices``; 0 means all)."""
    if slice_cost <= 0:
        return max_slices
    fit = max(1, int(budget // slice_cost))
    return min(fit, max_slices) if max_slices > 0 else fit


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def scale_key(s: Fraction | float) -> str:
    """``Fraction(5, 2)`` → ``"2.5"`` (the key used in logs, checkpoints and JSON)."""
    return f"{float(s):g}"


def mean_psnr(results: Mapping[str, Mapping[str, float]]) -> float:
    """Mean model PSNR over the validated scales (selects ``checkpoint_best``)."""
    values = [r["psnr"] for r in results.values() if math.isfinite(r["psnr"])]
    return float(np.mean(values)) if values else float("-inf")


def format_results(results: Mapping[str, Mapping[str, float]], step: Optional[int] = None) -> List[str]:
    """One log line per scale: PSNR model vs bicubic, SSIM model vs bicubic."""
    head = f"validation at step {step}" if step is not None else "validation"
    lines = [f"{head}: scale | PSNR model (bicubic) [dB] | SSIM model (bicubic)"]
    for key, r in results.items():
        gain = r["psnr"] - r["psnr_bicubic"]
        lines.append(f"  x{key:<4} | {r['psnr']:6.2f} ({r['psnr_bicubic']:6.2f}, {gain:+.2f}) | "
                     f"{r['ssim']:.4f} ({r['ssim_bicubic']:.4f})   n={int(r['n'])}")
    if results:
        lines.append(f"  mean PSNR {mean_psnr(results):.2f} dB "
                     f"(bicubic {float(np.mean([r['psnr_bicubic'] for r in results.values()])):.2f})")
    return lines


__all__ = ["ValidationSet", "training_step_cost", "slices_within_budget", "usable_scales",
           "mean_psnr", "format_results", "scale_key"]
