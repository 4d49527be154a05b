"""Residual dense network body (RDN, Zhang et al. 2018), the feature extractor of MetaRDN (Hu et al. 2019).

Shallow features (two 3×3 convs) → ``depth`` residual dense blocks (each ``layers`` densely
connected 3×3 conv + ReLU layers of ``growth`` channels, a 1×1 local fusion and a local residual) →
global fusion of every block's output (1×1 then 3×3) + the first shallow features. Spatial size is
kept: ``(B, C, h, w) → (B, width, h, w)``. Paper sizes: width (G0) 64, depth (D) 16, layers (C) 8,
growth (G) 64.
"""
from __future__ import annotations

import torch
from torch import nn

from autosr.networks.edsr_lite import conv3x3, kaiming_init_
from autosr.registry import BODIES


class ResidualDenseBlock(nn.Module):
    """``x + fuse(concat(x, l1, …, lC))`` where ``l_k = ReLU(conv3x3(concat(x, l1, …, l_{k−1})))``."""

    def __init__(self, width: int, growth: int, layers: int, bias: bool = True) -> None:
        super().__init__()
        self.convs = nn.ModuleList(conv3x3(width + k * growth, growth, bias) for k in range(layers))
        self.fuse = nn.Conv2d(width + layers * growth, width, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in self.convs:
            feats.append(torch.relu(conv(torch.cat(feats, dim=1))))
        return x + self.fuse(torch.cat(feats, dim=1))


@BODIES.register("RDN")
class RDNBody(nn.Module):
    """RDN feature extractor ``(B, in_channels, h, w) → (B, width, h, w)`` (see the module doc).

    ``res_scale`` (an EDSR-lite setting) is accepted so that a generator can swap bodies; RDN has no
    residual scaling. ``branch_init_scale`` scales the Kaiming start of each block's local fusion and of
    the global fusion's last conv, so the body starts near its shallow features (ESRGAN's smaller
    initialisation; 1.0 is RDN's plain start). At 0.1, MetaSR's default, the untrained body's output is
    about as large as its input instead of ~50× (width 32, depth 8), which kept a short CPU run from
    falling several dB below bicubic in its first thousand steps.
    """

    def __init__(self, in_channels: int, width: int = 64, depth: int = 16, res_scale: float = 1.0,
                 bias: bool = True, branch_init_scale: float = 1.0, growth: int = 64, layers: int = 8) -> None:
        super().__init__()
        if in_channels < 1 or width < 1 or depth < 1 or growth < 1 or layers < 1:
            raise ValueError(f"need positive in_channels, width, depth, growth, layers; got "
                             f"{in_channels}, {width}, {depth}, {growth}, {layers}")
        self.width, self.growth, self.layers = width, growth, layers
        self.sfe1 = conv3x3(in_channels, width, bias)
        self.sfe2 = conv3x3(width, width, bias)
        self.blocks = nn.ModuleList(ResidualDenseBlock(width, growth, layers, bias) for _ in range(depth))
        self.gff = nn.Sequential(nn.Conv2d(depth * width, width, kernel_size=1, bias=bias), conv3x3(width, width, bias))
        kaiming_init_(self)
        with torch.no_grad():
            for conv in [block.fuse for block in self.blocks] + [self.gff[-1]]:
                conv.weight.mul_(branch_init_scale)

    @property
    def receptive_radius(self) -> int:
        """Two shallow 3×3 convs, ``layers`` 3×3 convs per block, the last 3×3 of the global fusion."""
        return 2 + len(self.blocks) * self.layers + 1

    @property
    def bytes_per_pixel(self) -> int:
        """Every block's output is kept for the global fusion (``depth·width`` channels), plus one block's
        growing concatenation (``width + layers·growth``) and the shallow features."""
        return 4 * (len(self.blocks) * self.width + self.width + self.layers * self.growth + 3 * self.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.sfe1(x)
        y = self.sfe2(f1)
        outs = []
        for block in self.blocks:
            y = block(y)
            outs.append(y)
        return f1 + self.gff(torch.cat(outs, dim=1))


__all__ = ["RDNBody", "ResidualDenseBlock"]
