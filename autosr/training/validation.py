"""Validation: PSNR and SSIM of the model and of bicubic interpolation at fixed scales.

For every validation case a capped number of slices with content (at least 10 % non-zero
pixels; evenly spaced) is super-resolved whole: ``LR = degrade(HR)``, ``SR = model(LR, s)`` clamped to [0, 1],
``bicubic = upsample(LR, s)``; both are compared with ``HR[:, :, :sr_h, :sr_w]`` channel by
channel (scikit-image metrics, :mod:`autosr.evaluation.metrics`). Scales above the plan's
``s_max`` are skipped. Noise, when planned, comes from a generator seeded per case, slice and
scale, so validation never touches the training random streams and is repeatable. In paired
mode a case is validated on its real low-resolution scan, at that scan's scale.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from autosr.degradation import degrade, upsample
from autosr.evaluation.metrics import psnr, ssim
from autosr.plans import DegradationPlan
from autosr.scales import as_fraction
from autosr.training.data_loader import seeded_generator

#: Slices super-resolved together (they share the case's in-plane shape).
SLICE_BATCH = 4
#: Smallest share of non-zero pixels for a slice to be validated on (see :func:`select_slices`).
MIN_CONTENT = 0.1


def select_slices(volume: np.ndarray, max_slices: int, min_content: float = MIN_CONTENT) -> List[int]:
    """Up to ``max_slices`` evenly spaced slices of ``volume`` (C, S, H, W) worth validating on.

    A slice qualifies when at least ``min_content`` of its pixels are non-zero (normalised
    background is 0): nearly empty slices at the ends of a scan score 50–70 dB on a few pixels and
    would dominate the mean. If none qualifies, every non-constant slice does.
    """
    content = [float(np.mean(np.asarray(volume[:, z]) > 0)) for z in range(volume.shape[1])]
    keep = [z for z, c in enumerate(content) if c >= min_content]
    if not keep:
        keep = [z for z in range(volume.shape[1]) if float(np.ptp(np.asarray(volume[:, z]))) > 0]
    if max_slices > 0 and len(keep) > max_slices:
        keep = [keep[i] for i in np.linspace(0, len(keep) - 1, max_slices).round().astype(int)]
    return keep


def usable_scales(scales: Sequence[float], s_max: float) -> List[Fraction]:
    """The validation scales that do not exceed ``s_max`` (exact fractions, sorted, unique)."""
    top = as_fraction(str(s_max))
    return sorted({as_fraction(str(s)) for s in scales if as_fraction(str(s)) <= top})


@torch.no_grad()
def validate(generator: nn.Module, volumes: Mapping[str, np.ndarray], scales: Sequence[float], s_max: float,
             degradation: DegradationPlan, max_slices: int = 16, device: torch.device | str = "cpu",
             seed: int = 0, lowres: Optional[Mapping[str, Tuple[np.ndarray, Fraction]]] = None
             ) -> Dict[str, Dict[str, float]]:
    """Mean metrics per scale: ``{"2.5": {"psnr", "ssim", "psnr_bicubic", "ssim_bicubic", "n"}}``.

    Args:
        generator: ``(B, C, h, w), s → (B, C, floor(h·s), floor(w·s))``; evaluated in eval mode.
        volumes: validation cases ``{name: (C, S, H, W) float32 in [0, 1]}``.
        scales: validation scales; those above ``s_max`` are skipped.
        degradation: the plan's LR synthesis.
        max_slices: slices per case (0: all).
        seed: seeds the degradation noise.
        lowres: paired mode: ``{name: (real LR volume (C, S, h, w), its scale)}``; such a case is
            validated on its real LR scan at its own scale instead of synthetic LR at ``scales``.
    """
    was_training = generator.training
    generator.eval()
    sums: Dict[Fraction, Dict[str, List[float]]] = {}

    def score(hr: torch.Tensor, lr: torch.Tensor, s: Fraction) -> None:
        sr = generator(lr.to(device), s).float().clamp(0, 1).cpu().numpy()
        bic = upsample(lr, s).clamp(0, 1).numpy()
        h, w = min(sr.shape[-2], hr.shape[-2]), min(sr.shape[-1], hr.shape[-1])
        ref = hr[:, :, :h, :w].numpy()
        acc = sums.setdefault(s, {"psnr": [], "ssim": [], "psnr_bicubic": [], "ssim_bicubic": []})
        for b in range(ref.shape[0]):
            for c in range(ref.shape[1]):
                acc["psnr"].append(psnr(sr[b, c, :h, :w], ref[b, c]))
                acc["ssim"].append(ssim(sr[b, c, :h, :w], ref[b, c]))
                acc["psnr_bicubic"].append(psnr(bic[b, c, :h, :w], ref[b, c]))
                acc["ssim_bicubic"].append(ssim(bic[b, c, :h, :w], ref[b, c]))

    try:
        for case_idx, (name, vol) in enumerate(sorted(volumes.items())):
            slices = select_slices(vol, max_slices)
            for start in range(0, len(slices), SLICE_BATCH):
                zs = slices[start:start + SLICE_BATCH]
                hr = torch.from_numpy(np.stack([np.asarray(vol[:, z], np.float32) for z in zs]))
                if lowres is not None and name in lowres:
                    lr_vol, s = lowres[name]
                    lr = torch.from_numpy(np.stack([np.asarray(lr_vol[:, z], np.float32) for z in zs]))
                    score(hr, lr, s)
                    continue
                for s in usable_scales(scales, s_max):
                    if min(int(hr.shape[-2] / s), int(hr.shape[-1] / s)) < 3:  # too small to say anything
                        continue
                    g = seeded_generator(seed, case_idx, zs[0], s.numerator, s.denominator)
                    score(hr, degrade(hr, s, sigma=degradation.sigma, kernel_size=degradation.kernel_size,
                                      noise_std=degradation.noise_std, antialias=degradation.antialias,
                                      generator=g), s)
    finally:
        generator.train(was_training)
    return {scale_key(s): {**{k: _mean(v) for k, v in acc.items()}, "n": len(acc["psnr"])}
            for s, acc in sorted(sums.items())}


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


__all__ = ["validate", "select_slices", "usable_scales", "mean_psnr", "format_results", "scale_key"]
