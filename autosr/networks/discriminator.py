"""WGAN-GP critic of MIASSR (section 4.3; SRGAN / DCGAN-like, no batch norm).

``num_blocks`` blocks of (conv3x3 stride 1, LeakyReLU 0.2, conv3x3 stride 2, LeakyReLU 0.2);
the width doubles at each block's first conv (``base_width·2^b``, capped at ``max_width``). Global
average pooling makes the critic independent of the patch size (the paper's flatten + Linear
ties it to 96 px), then Linear → LeakyReLU → Linear gives one unbounded score per image.
Batch norm is left out: the gradient penalty is defined per sample, which batch statistics break.
"""
from __future__ import annotations

import torch
from torch import nn

from autosr.networks.edsr_lite import LEAKY_SLOPE, kaiming_init_
from autosr.registry import NETWORKS


@NETWORKS.register()
class WGANCritic(nn.Module):
    """Critic ``(B, in_channels, H, W) → (B,)`` scores, for patches from 16 to 128+ pixels.

    Args:
        in_channels: image channels.
        num_blocks: (stride-1, stride-2) conv pairs; the spatial size is halved ``num_blocks`` times
            (paper: 4 pairs, i.e. its 1 + 7 convs).
        base_width: channels of the first block (paper: 64).
        max_width: cap on the doubling widths.
        head_width: hidden units of the two-layer head.
    """

    def __init__(self, in_channels: int, num_blocks: int = 4, base_width: int = 64, max_width: int = 512,
                 head_width: int = 256) -> None:
        super().__init__()
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
        layers = []
        ch_in = in_channels
        for b in range(num_blocks):
            ch = min(base_width * 2 ** b, max_width)
            layers += [nn.Conv2d(ch_in, ch, 3, stride=1, padding=1), nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
                       nn.Conv2d(ch, ch, 3, stride=2, padding=1), nn.LeakyReLU(LEAKY_SLOPE, inplace=True)]
            ch_in = ch
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Linear(ch_in, head_width), nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
                                  nn.Linear(head_width, 1))
        kaiming_init_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores ``(B,)`` of images ``x`` ``(B, in_channels, H, W)``; higher = judged more real."""
        return self.head(self.pool(self.features(x)).flatten(1)).squeeze(1)


__all__ = ["WGANCritic"]
