"""Sub-pixel convolution upsampler (ESPCN, as in EDSR, MDSR, SRResNet and RDN), any scale by up-and-down.

One branch per integer factor ``k`` in ``scales`` (EDSR/RDN: one; MDSR: ×2, ×3 and ×4 sharing the
body): ``k = 2`` and ``3`` are a 3×3 conv to ``k²·F`` channels and a pixel shuffle, ``k = 4`` two ×2
stages; then a 3×3 conv to the output channels. A scale ``s`` that is not a branch factor is
reached as the papers compare fixed-scale methods: the branch ``k = ⌈s⌉`` (the smallest ``k ≥ s``),
then bicubic resampling from ``×k`` down to ``s`` with AutoSR's centre alignment
(:func:`autosr.degradation.downsample` by ``k/s``). Per-axis scales use ``k = ⌈max(s_h, s_w)⌉`` and
bring each axis down to its own factor.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Sequence

import torch
from torch import nn

from autosr.degradation import downsample
from autosr.networks.edsr_lite import conv3x3
from autosr.registry import UPSAMPLERS
from autosr.scales import AxisScales, axis_scales


def _shuffle_stages(k: int, features: int, bias: bool) -> nn.Sequential:
    """Conv + pixel shuffle stages reaching ×``k`` (×4 as two ×2, as EDSR does)."""
    factors = [2, 2] if k == 4 else [k]
    layers = []
    for f in factors:
        layers += [conv3x3(features, features * f * f, bias), nn.PixelShuffle(f)]
    return nn.Sequential(*layers)


@UPSAMPLERS.register("SubPixel")
class SubPixelUpsampler(nn.Module):
    """``(B, in_features, h, w), s → (B, out_channels, ⌊h·s_h⌋, ⌊w·s_w⌋)`` through the ×⌈s⌉ branch (module doc).

    ``hidden`` is accepted for swapping upsamplers (the Meta-Upscale's MLP width) and not used;
    ``per_axis_scale`` likewise (per-axis scales always work, by the down-resampling).
    """

    def __init__(self, in_features: int = 64, out_channels: int = 1, hidden: int = 256, bias: bool = True,
                 per_axis_scale: bool = True, scales: Sequence[int] = (2, 3, 4)) -> None:
        super().__init__()
        self.scales = tuple(sorted({int(k) for k in scales}))
        if not self.scales or not set(self.scales) <= {2, 3, 4}:
            raise ValueError(f"scales must be among 2, 3, 4; got {list(scales)}")
        self.in_features, self.out_channels = in_features, out_channels
        self.per_axis_scale = True
        self.max_scale = self.scales[-1]  # the largest scale it can give (read by the trainer)
        self.branches = nn.ModuleDict({str(k): _shuffle_stages(k, in_features, bias) for k in self.scales})
        self.tail = conv3x3(in_features, out_channels, bias)

    def branch_factor(self, scale: AxisScales) -> int:
        """The integer branch a scale runs through: the smallest ``k ≥ max(s_h, s_w)`` among ``scales``."""
        s = max(axis_scales(scale))
        for k in self.scales:
            if k >= s:
                return k
        raise ValueError(f"scale {float(s):g} is above the largest sub-pixel branch ×{self.scales[-1]}")

    @property
    def receptive_radius(self) -> int:
        """The branch's 3×3 conv(s) and the tail conv, in LR pixels (≤ 1 each), and the bicubic support of
        the down-resampling (2 refined pixels, ≤ 1 LR pixel)."""
        return 3

    def bytes_per_lr_pixel(self, scale: AxisScales) -> int:
        """The shuffled features at ×k (twice: conv output and shuffle) and the output before and after
        the down-resampling."""
        k = self.branch_factor(scale)
        return 4 * k * k * (2 * self.in_features + 2 * self.out_channels)

    def init_near_identity(self, factor: float = 1e-3) -> None:
        """Scale the tail down and zero its bias (a generator with a bicubic skip then starts as bicubic)."""
        with torch.no_grad():
            self.tail.weight.mul_(factor)
            if self.tail.bias is not None:
                self.tail.bias.zero_()

    def forward(self, features: torch.Tensor, scale: AxisScales) -> torch.Tensor:
        s_h, s_w = axis_scales(scale)
        k = self.branch_factor((s_h, s_w))
        y = self.tail(self.branches[str(k)](features))
        if s_h == k and s_w == k:
            return y
        return downsample(y, (Fraction(k) / s_h, Fraction(k) / s_w))


__all__ = ["SubPixelUpsampler"]
