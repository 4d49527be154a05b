"""SRDenseNet body (Tong et al. 2017, the "All" variant's dense skip connections).

3×3 conv + ReLU → ``depth`` dense blocks (each ``layers`` densely connected 3×3 conv + ReLU layers
of ``growth`` channels, the block's output the concatenation of its layers) → the concatenation of
the first features and every block's output, fused by a 1×1 bottleneck to ``width`` channels.
Spatial size is kept: ``(B, C, h, w) → (B, width, h, w)``. Paper sizes: 8 blocks of 8 layers,
growth 16, bottleneck 256.
"""
from __future__ import annotations

import torch
from torch import nn

from autosr.networks.edsr_lite import conv3x3, kaiming_init_
from autosr.registry import BODIES


class DenseBlock(nn.Module):
    """``layers`` 3×3 conv + ReLU layers, each fed the block input and every earlier layer; output the
    concatenation of the layers (``layers·growth`` channels)."""

    def __init__(self, in_ch: int, growth: int, layers: int, bias: bool = True) -> None:
        super().__init__()
        self.convs = nn.ModuleList(conv3x3(in_ch + k * growth, growth, bias) for k in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in self.convs:
            feats.append(torch.relu(conv(torch.cat(feats, dim=1))))
        return torch.cat(feats[1:], dim=1)


@BODIES.register("SRDenseNet")
class SRDenseNetBody(nn.Module):
    """SRDenseNet feature extractor ``(B, in_channels, h, w) → (B, width, h, w)`` (see the module doc).

    ``width`` is the bottleneck's output (paper: 256). ``res_scale`` and ``branch_init_scale`` are
    accepted for body swapping and not used.
    """

    def __init__(self, in_channels: int, width: int = 256, depth: int = 8, res_scale: float = 1.0,
                 bias: bool = True, branch_init_scale: float = 1.0, growth: int = 16, layers: int = 8) -> None:
        super().__init__()
        if in_channels < 1 or width < 1 or depth < 1 or growth < 1 or layers < 1:
            raise ValueError(f"need positive in_channels, width, depth, growth, layers; got "
                             f"{in_channels}, {width}, {depth}, {growth}, {layers}")
        self.width, self.growth, self.layers = width, growth, layers
        block_out = growth * layers
        self.head = conv3x3(in_channels, block_out, bias)
        self.blocks = nn.ModuleList(DenseBlock(block_out, growth, layers, bias) for _ in range(depth))
        self.bottleneck = nn.Conv2d(block_out * (depth + 1), width, kernel_size=1, bias=bias)
        kaiming_init_(self)

    @property
    def receptive_radius(self) -> int:
        """The head conv and ``layers`` 3×3 convs per block."""
        return 1 + len(self.blocks) * self.layers

    @property
    def bytes_per_pixel(self) -> int:
        """Every block's output is kept for the bottleneck (``(depth + 1)·layers·growth`` channels), plus one
        block's growing concatenation and the bottleneck's output."""
        block_out = self.growth * self.layers
        return 4 * ((len(self.blocks) + 1) * block_out + 2 * block_out + self.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.head(x))
        outs = [y]
        for block in self.blocks:
            y = block(y)
            outs.append(y)
        return self.bottleneck(torch.cat(outs, dim=1))


__all__ = ["SRDenseNetBody", "DenseBlock"]
