"""One generator per integer scale, as EDSR, RDN, SRResNet, SRDenseNet and ESRGAN are trained; any scale by up-and-down.

A fixed-scale system needs a model for each integer factor ``k`` (×2, ×3 and ×4 to cover (1, 4]);
:class:`PerScaleGenerator` holds them side by side, each a :class:`~autosr.networks.meta_sr.MetaSRGenerator`
with its own body and a single sub-pixel branch. A scale ``s`` (or ``(s_h, s_w)``) runs through the
model ``k = ⌈max(s_h, s_w)⌉``, whose upsampler resamples from ×k down to ``s`` (the papers' way of
comparing fixed-scale methods at any scale). A training batch at scale ``k`` reaches model ``k`` only, so
with integer training scales (``scales.step`` 1) each model learns its own factor, as in its paper; the
parameter count is that of every model, as MIASSR's Table 1 counts them.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn

from autosr.networks.meta_sr import AcquisitionLike, MetaSRGenerator
from autosr.registry import NETWORKS
from autosr.scales import AxisScales, axis_scales


@NETWORKS.register("PerScale")
class PerScaleGenerator(nn.Module):
    """``(B, C, h, w), s → (B, C, ⌊h·s_h⌋, ⌊w·s_w⌋)`` by the model of the smallest integer scale ``k ≥ s``.

    Args:
        in_channels: image channels.
        scales: the integer factors to hold a model for (among 2, 3, 4).
        upsampler: the models' upsampler; one with a single branch per model (default ``SubPixel``).
        generator: every other :class:`~autosr.networks.meta_sr.MetaSRGenerator` argument (body, width…),
            the same for every model.
    """

    #: Each step trains one model (its batch's scale): the others have no gradient (DDP must know it).
    partial_steps = True

    def __init__(self, in_channels: int, scales: Sequence[int] = (2, 3, 4), upsampler: str = "SubPixel",
                 **generator: Any) -> None:
        super().__init__()
        self.scales = tuple(sorted({int(k) for k in scales}))
        if not self.scales or not set(self.scales) <= {2, 3, 4}:
            raise ValueError(f"scales must be among 2, 3, 4; got {list(scales)}")
        if generator.pop("upsampler_args", None):
            raise ValueError("upsampler_args: each model's branch is its scale; give scales instead")
        self.models = nn.ModuleDict({str(k): MetaSRGenerator(in_channels, upsampler=upsampler,
                                                             upsampler_args={"scales": [k]}, **generator)
                                     for k in self.scales})
        first = self.models[str(self.scales[0])]
        self.in_channels, self.out_channels = first.in_channels, first.out_channels
        self.acquisitions = first.acquisitions
        self.per_axis_scale = True   # every model resamples each axis to its own factor
        self.max_scale = self.scales[-1]

    def model_for(self, scale: AxisScales) -> MetaSRGenerator:
        """The model a scale runs through: the smallest ``k ≥ max(s_h, s_w)``."""
        s = max(axis_scales(scale))
        for k in self.scales:
            if k >= s:
                return self.models[str(k)]
        raise ValueError(f"scale {float(s):g} is above the largest model ×{self.scales[-1]}")

    @property
    def size_multiple(self) -> int:
        """Of every model (any of them may run)."""
        return math.lcm(*(m.size_multiple for m in self.models.values()))

    @property
    def receptive_radius(self) -> int:
        """The largest of the models' (the tiling halo must suit any scale)."""
        return max(m.receptive_radius for m in self.models.values())

    def bytes_per_lr_pixel(self, scale: AxisScales) -> int:
        """The working memory of the model ``scale`` runs through."""
        return self.model_for(scale).bytes_per_lr_pixel(scale)

    def forward(self, x: torch.Tensor, scale: AxisScales, acquisition: AcquisitionLike = None) -> torch.Tensor:
        return self.model_for(scale)(x, scale, acquisition)


__all__ = ["PerScaleGenerator"]
