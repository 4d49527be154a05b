"""Compute and memory cost models the planners use to size patches, batches and CPU schedules.

The numbers are estimates, stated so a user can check and change them in one place:

- **Compute.** A MetaSR training step costs a multiple of the generator's forward multiply-
  accumulates (EDSR body on the LR patch + Meta-Upscale on the HR patch). We measured the CPU time
  of whole L1 steps (forward, backward, Adam; 2 PyTorch threads) for MetaSR width 32, depth 8,
  48² HR patches, batch 8, scales drawn from the grid of step 0.1 up to 4: on an otherwise idle
  2-core machine a whole planned run of 1380 L1 + 80 GAN steps took 114 s wall (≈17 L1 steps/s and
  ≈4 GAN steps/s, data loading and validation included) for 0.66 forward GMAC per step, i.e.
  ≈0.09 s per GMAC (0.1 with a margin). An earlier figure of 0.5 s/GMAC came from a machine
  shared with three other training jobs. The Meta-Upscale's cost grows with the numerator ``p`` of ``s = p/q``:
  the same run on the step-0.05 grid took ≈2.5× longer, hence the CPU configuration's 0.1 grid.
  A GAN step adds the critic (twice, plus the gradient penalty): ``GAN_STEP_FACTOR`` × an L1 step
  (without the VGG perceptual loss, which alone would cost ≈5× the small generator at 48²).
- **Memory.** Activations kept for the backward pass, per sample, at the smallest scale (largest
  LR patch ≈ HR patch): 4 maps of ``width`` channels per residual block, the Meta-Upscale's
  unfolded 3×3 features on the HR grid, and ≈600 maps for the critic and the perceptual network,
  float32, times ``MEMORY_SLACK`` for allocator overhead; plus ``FIXED_GPU_GB`` for the CUDA
  context, weights, Adam state and cuDNN workspaces.
"""
from __future__ import annotations

from typing import Iterable

CPU_SECONDS_PER_GMAC = 0.1
GAN_STEP_FACTOR = 4.0
MEMORY_SLACK = 1.5
FIXED_GPU_GB = 1.5
FIXED_CPU_GB = 1.0

#: The short CPU configuration ("2d_cpu"); the lead and trainer tune these numbers here.
CPU_CONFIG = {
    "minutes": 8.0,           # wall-clock target of the in-plane batches (one-axis batches lengthen the warm-up)
    "patch": 48,              # HR patch; LR patch at s = 4 is 12 px, the minimum
    "batch": 8,
    "width": 32, "depth": 8, "mlp_hidden": 256,
    "upsample_skip": "bicubic",   # the untrained model equals bicubic: a short run can only improve on it
    "critic_blocks": 4, "critic_width": 32,
    "scale_step": 0.1,        # short fractions (p ≤ 40) keep the Meta-Upscale cheap on CPU
    "lr": 2e-4,
    "gan_fraction": 0.15,     # share of the training time spent in the (3× dearer) GAN phase
    "validation_fraction": 0.1,
    "val_every": 500, "val_max_slices": 16, "num_workers": 0,
}


def generator_gmacs(patch: int, batch: int, width: int, depth: int, channels: int, scales: Iterable[float]) -> float:
    """Mean forward GMAC of one generator batch over ``scales`` (EDSR body on ⌊P/s⌋², upscale on P²)."""
    scales = list(scales) or [2.0]
    per_lr_pixel = 9 * channels * width + (2 * depth + 1) * 9 * width * width
    per_hr_pixel = 9 * width * channels
    total = 0.0
    for s in scales:
        n_lr = int(patch // s) ** 2
        total += n_lr * per_lr_pixel + patch * patch * per_hr_pixel
    return batch * total / len(scales) / 1e9


def cpu_step_seconds(patch: int, batch: int, width: int, depth: int, channels: int, scales: Iterable[float]) -> float:
    """Estimated seconds of one L1 training step on a 2-thread CPU."""
    return CPU_SECONDS_PER_GMAC * generator_gmacs(patch, batch, width, depth, channels, scales)


def memory_per_sample_gb(patch: int, width: int, depth: int, channels: int = 1) -> float:
    """Estimated training memory of one sample (GB) at the smallest scale."""
    maps = 4 * depth * width + 2 * 9 * width * channels + 600
    return 4.0 * patch * patch * maps * MEMORY_SLACK / 1e9
