"""EDSR-lite feature extractor of MIASSR (section 3.1, eqs. 5–6).

input conv3x3 → ``depth`` enhanced residual blocks (conv–LeakyReLU(0.2)–conv, × ``res_scale``,
+ identity, no batch norm) → conv3x3 → global skip from the input conv. Spatial size is kept:
``(B, C_in, h, w) → (B, width, h, w)``. ``bias=False`` is the MESR variant (bias-free convs).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from autosr.registry import BODIES

#: LeakyReLU slope of the paper (section 4.3), also the ``a`` of the Kaiming-uniform init.
LEAKY_SLOPE = 0.2


def conv3x3(in_ch: int, out_ch: int, bias: bool = True) -> nn.Conv2d:
    """3×3 convolution with 'same' zero padding."""
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, bias=bias)


def kaiming_init_(module: nn.Module, scale: float = 1.0) -> None:
    """Kaiming-uniform (``a`` = LeakyReLU slope) init of every conv/linear in ``module``, zero bias.

    ``scale`` multiplies the weights afterwards (ESRGAN/BasicSR ``default_init_weights``).
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(m.weight, a=LEAKY_SLOPE, nonlinearity="leaky_relu")
            if scale != 1.0:
                with torch.no_grad():
                    m.weight.mul_(scale)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class EnhancedResidualBlock(nn.Module):
    """``x + res_scale · conv(LeakyReLU(conv(x)))`` (eq. 5), no batch norm."""

    def __init__(self, width: int, res_scale: float = 1.0, bias: bool = True) -> None:
        super().__init__()
        self.conv1 = conv3x3(width, width, bias)
        self.act = nn.LeakyReLU(LEAKY_SLOPE, inplace=True)
        self.conv2 = conv3x3(width, width, bias)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor, film: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``(B, width, h, w) → (B, width, h, w)``; ``film`` ``(B, 2, width)`` modulates the residual
        as ``res·(1 + γ) + β`` (feature-wise linear modulation)."""
        res = self.conv2(self.act(self.conv1(x)))
        if film is not None:
            res = torch.addcmul(film[:, 1, :, None, None], res, 1 + film[:, 0, :, None, None])
        if self.res_scale != 1.0:
            res = res * self.res_scale
        return x + res


@BODIES.register("EDSRLite")
class EDSRLiteBody(nn.Module):
    """EDSR-lite body: ``(B, in_channels, h, w) → (B, width, h, w)`` LR feature maps ``F_lr``.

    What inference needs, declared (``receptive_radius``, ``bytes_per_pixel``) so that tiling and
    memory planning never guess from the layers.

    Args:
        in_channels: image channels (1 for MRI/CT, 4 for stacked BraTS modalities).
        width: feature maps per conv (paper: 64).
        depth: number of enhanced residual blocks (paper: 16).
        res_scale: residual scale α of eq. 5 (paper: 1.0).
        bias: conv biases; ``False`` gives the MESR variant.
        branch_init_scale: extra factor on the Kaiming init of the *last* conv of each residual
            branch. With plain Kaiming init and α = 1 every block roughly triples the feature
            variance, so 16 blocks amplify it ~10^7-fold at initialisation; 0.1 (ESRGAN's value)
            keeps the untrained body's output at the scale of its input. 1.0 is the paper's init.
    """

    def __init__(self, in_channels: int, width: int = 64, depth: int = 16, res_scale: float = 1.0,
                 bias: bool = True, branch_init_scale: float = 0.1) -> None:
        super().__init__()
        if in_channels < 1 or width < 1 or depth < 0:
            raise ValueError(f"need in_channels >= 1, width >= 1, depth >= 0; got {in_channels}, {width}, {depth}")
        self.in_channels = in_channels
        self.width = width
        self.head = conv3x3(in_channels, width, bias)
        self.blocks = nn.Sequential(*[EnhancedResidualBlock(width, res_scale, bias) for _ in range(depth)])
        self.tail = conv3x3(width, width, bias)
        kaiming_init_(self)
        for block in self.blocks:
            kaiming_init_(block.conv2, scale=branch_init_scale)

    #: its residual blocks take a feature-wise modulation (acquisition codes, :class:`MetaSRGenerator`)
    supports_film = True

    @property
    def receptive_radius(self) -> int:
        """LR pixels an output feature reaches: one per 3×3 convolution (head, two per block, tail)."""
        return 2 + 2 * len(self.blocks)

    @property
    def bytes_per_pixel(self) -> int:
        """Peak working memory per LR pixel of one image at inference: about five float32 feature maps
        live at once (input, two convs, residual sum, skip)."""
        return 4 * 5 * self.width

    def forward(self, x: torch.Tensor, film: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``(B, in_channels, h, w) → (B, width, h, w)``; ``film`` ``(B, depth, 2, width)``: each
        block's modulation (:class:`EnhancedResidualBlock`), ``None`` for none."""
        x = self.head(x)
        y = x
        for i, block in enumerate(self.blocks):
            y = block(y, None if film is None else film[:, i])
        return x + self.tail(y)


__all__ = ["EDSRLiteBody", "EnhancedResidualBlock", "conv3x3", "kaiming_init_", "LEAKY_SLOPE"]
