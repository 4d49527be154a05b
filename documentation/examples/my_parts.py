"""A body and an upsampler from outside AutoSR (documentation/extending.md; tests/networks/test_parts.py runs it).

    autosr_train 1 0 -o network.body=/path/to/my_parts.py:PlainBody -o network.upsampler=/path/to/my_parts.py:NearestConv
"""
import math

import torch
from torch import nn

from autosr.scales import axis_scales, sr_size


class PlainBody(nn.Module):
    """``depth`` 3×3 conv + ReLU layers: ``(B, in_channels, h, w) → (B, width, h, w)``."""

    def __init__(self, in_channels, width=32, depth=4, res_scale=1.0, bias=True, branch_init_scale=1.0):
        super().__init__()
        layers = [nn.Conv2d(in_channels, width, 3, padding=1, bias=bias)]
        for _ in range(depth - 1):
            layers += [nn.ReLU(), nn.Conv2d(width, width, 3, padding=1, bias=bias)]
        self.net = nn.Sequential(*layers)
        self.width, self.depth = width, depth

    @property
    def receptive_radius(self):
        return self.depth  # one per 3×3 conv

    @property
    def bytes_per_pixel(self):
        return 4 * 3 * self.width  # input, output and one intermediate float32 map

    def forward(self, x):
        return self.net(x)


class PooledBody(PlainBody):
    """``PlainBody`` at half resolution: 2×2 average pooling, the convs, nearest upsampling back. It needs rows
    and columns in multiples of 2, and says so (``size_multiple``): prediction pads to it and aligns tiles."""

    size_multiple = 2

    @property
    def receptive_radius(self):
        return 2 * self.depth + 1  # each half-resolution 3×3 conv reaches 2 pixels, the pooling 1

    @property
    def bytes_per_pixel(self):
        return 4 * 2 * self.width

    def forward(self, x):
        if x.shape[-2] % 2 or x.shape[-1] % 2:
            raise ValueError(f"PooledBody needs even sizes, got {tuple(x.shape[-2:])}")
        y = self.net(nn.functional.avg_pool2d(x, 2))
        return nn.functional.interpolate(y, scale_factor=2, mode="nearest")


class NearestConv(nn.Module):
    """Nearest-neighbour upsampling of the features to the refined grid, then a 3×3 conv to the image."""

    def __init__(self, in_features=32, out_channels=1, hidden=256, bias=True, per_axis_scale=True):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_channels, 3, padding=1, bias=bias)
        self.in_features, self.out_channels = in_features, out_channels

    receptive_radius = 2  # the conv on the refined grid, and the LR pixel a refined one falls in

    def bytes_per_lr_pixel(self, scale):
        s_h, s_w = axis_scales(scale)
        return 4 * math.ceil(s_h) * math.ceil(s_w) * (self.in_features + 2 * self.out_channels)

    def forward(self, features, scale):
        s_h, s_w = axis_scales(scale)
        h, w = features.shape[-2:]
        # centre alignment: refined pixel i samples LR pixel floor((i + ½)/s)
        rows = torch.div((2 * torch.arange(sr_size(h, s_h)) + 1) * s_h.denominator, 2 * s_h.numerator,
                         rounding_mode="floor").to(features.device)
        cols = torch.div((2 * torch.arange(sr_size(w, s_w)) + 1) * s_w.denominator, 2 * s_w.numerator,
                         rounding_mode="floor").to(features.device)
        return self.conv(features[..., rows, :][..., cols])
