"""Residual-in-residual dense block body (RRDB, ESRGAN, Wang et al. 2018).

3×3 conv → ``depth`` RRDBs (each three 5-layer dense blocks of ``growth`` channels, LeakyReLU 0.2,
residuals scaled by 0.2, and an outer residual scaled by 0.2) → 3×3 conv + the first conv's output.
Spatial size is kept: ``(B, C, h, w) → (B, width, h, w)``. Paper sizes: width (nf) 64, depth 23,
growth (gc) 32.
"""
from __future__ import annotations

import torch
from torch import nn

from autosr.networks.edsr_lite import LEAKY_SLOPE, conv3x3, kaiming_init_
from autosr.registry import BODIES

#: ESRGAN's residual scaling inside and around each dense block.
RESIDUAL_BETA = 0.2


class DenseBlock5(nn.Module):
    """Five densely connected 3×3 convs; ``x + β·conv5(…)``."""

    def __init__(self, width: int, growth: int, bias: bool = True) -> None:
        super().__init__()
        self.convs = nn.ModuleList(conv3x3(width + k * growth, growth if k < 4 else width, bias) for k in range(5))
        self.act = nn.LeakyReLU(LEAKY_SLOPE, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for k, conv in enumerate(self.convs):
            y = conv(torch.cat(feats, dim=1))
            if k < 4:
                feats.append(self.act(y))
        return x + RESIDUAL_BETA * y


class RRDB(nn.Module):
    """Three dense blocks in sequence, ``x + β·(…)``."""

    def __init__(self, width: int, growth: int, bias: bool = True) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(DenseBlock5(width, growth, bias) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + RESIDUAL_BETA * self.blocks(x)


@BODIES.register("RRDB")
class RRDBBody(nn.Module):
    """ESRGAN feature extractor ``(B, in_channels, h, w) → (B, width, h, w)`` (see the module doc).

    ``res_scale`` is accepted for body swapping (ESRGAN's β = 0.2 is fixed); ``branch_init_scale``
    scales the Kaiming start of every conv of the trunk (ESRGAN: 0.1) and of the trunk conv that closes
    the long skip, so the body starts near its head's features (at 1.0 for that last conv, the
    untrained body's output was ~8× its input and a short CPU run ended level with bicubic).
    """

    def __init__(self, in_channels: int, width: int = 64, depth: int = 23, res_scale: float = 1.0,
                 bias: bool = True, branch_init_scale: float = 0.1, growth: int = 32) -> None:
        super().__init__()
        if in_channels < 1 or width < 1 or depth < 1 or growth < 1:
            raise ValueError(f"need positive in_channels, width, depth, growth; got {in_channels}, {width}, "
                             f"{depth}, {growth}")
        self.width, self.growth = width, growth
        self.head = conv3x3(in_channels, width, bias)
        self.trunk = nn.Sequential(*(RRDB(width, growth, bias) for _ in range(depth)))
        self.trunk_conv = conv3x3(width, width, bias)
        kaiming_init_(self)
        kaiming_init_(self.trunk, scale=branch_init_scale)
        kaiming_init_(self.trunk_conv, scale=branch_init_scale)

    @property
    def receptive_radius(self) -> int:
        """The head conv, 15 3×3 convs per RRDB (3 dense blocks of 5), the trunk conv."""
        return 1 + 15 * len(self.trunk) + 1

    @property
    def bytes_per_pixel(self) -> int:
        """The head's output (for the long skip), a block's input and its growing concatenation."""
        return 4 * (3 * self.width + (self.width + 4 * self.growth) + self.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(x)
        return f + self.trunk_conv(self.trunk(f))


__all__ = ["RRDBBody", "RRDB", "DenseBlock5", "RESIDUAL_BETA"]
