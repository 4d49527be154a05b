"""MIASSR generator (eq. 4): ``I_sr = M(F(I_lr), s)`` — a registered body then a registered upsampler.

The defaults are the paper's: the EDSR-lite body (:data:`autosr.registry.BODIES` ``"EDSRLite"``)
and the Meta-Upscale (:data:`autosr.registry.UPSAMPLERS` ``"MetaUpscale"``). The generator's
:attr:`~MetaSRGenerator.receptive_radius` and :meth:`~MetaSRGenerator.bytes_per_lr_pixel` are
its parts' declarations combined, which is what tiling and memory planning read.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence, Union

import torch
from torch import nn

from autosr.degradation import upsample as bicubic_upsample
from autosr.networks import (edsr_lite, meta_upscale, rdn, rrdb, srdensenet, srresnet,  # noqa: F401
                             subpixel)  # (importing registers the parts)
from autosr.plans import ACQUISITION_KINDS
from autosr.registry import BODIES, NETWORKS, UPSAMPLERS
from autosr.scales import AxisScales

UPSAMPLE_SKIPS = ("none", "bicubic")
#: What ``forward`` accepts as the acquisition: one name for the batch, one per image, or ``None`` (unknown).
AcquisitionLike = Union[None, str, Sequence[Optional[str]]]


@NETWORKS.register("MetaSR")
class MetaSRGenerator(nn.Module):
    """Arbitrary-scale SR generator: ``(B, C_in, h, w), s → (B, C_out, ⌊h·s⌋, ⌊w·s⌋)``.

    Intensities are in [0, 1]. The input is centred (−0.5) before the body and the output
    shifted back (+0.5), the role of MIASSR's mean-shift layers.

    Args:
        in_channels: image channels ``C_in``.
        out_channels: output channels (default ``in_channels``).
        width, depth, res_scale, bias: EDSR-lite body settings (paper: 64, 16, 1.0, True);
            ``bias=False`` (MESR) removes biases everywhere, the Meta-Upscale MLP included.
        mlp_hidden: hidden units of the Meta-Upscale weight-prediction MLP (paper: 256).
        upsample_skip: ``"bicubic"`` adds the bicubic upsampling of the input, so the network
            learns a residual; its last MLP layer is then initialised near zero, which makes
            the untrained model ≈ bicubic (used for short CPU trainings). ``"none"``: paper.
        per_axis_scale: the Meta-Upscale reads ``1/s`` of each axis, so ``forward`` takes
            ``(s_h, s_w)`` as well as one scale (``False``: the paper's single ``1/s``).
        acquisitions: the acquisition kinds (:data:`autosr.plans.ACQUISITION_KINDS`) the
            network can be told; each, and "unknown", has a learned modulation of every residual
            block (FiLM, zero at initialisation). Empty: not conditioned (the papers' network).
        branch_init_scale: factor on the last conv of each residual branch at initialisation
            (ESRGAN's trick; 1.0 is the paper's plain Kaiming-uniform start, whose 16-block body
            output is ~1000× its input).
        body, upsampler: registered part names (:data:`autosr.registry.BODIES`,
            :data:`autosr.registry.UPSAMPLERS`) or ``module:Class``; a body takes ``in_channels``,
            ``width``, ``depth``, ``res_scale``, ``bias``, ``branch_init_scale`` (and ``body_args``),
            an upsampler ``in_features``, ``out_channels``, ``hidden``, ``bias``, ``per_axis_scale``
            (and ``upsampler_args``, e.g. ``{"scales": [4]}`` for a single sub-pixel branch).
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, width: int = 64, depth: int = 16,
                 res_scale: float = 1.0, mlp_hidden: int = 256, bias: bool = True,
                 upsample_skip: str = "none", branch_init_scale: float = 0.1, per_axis_scale: bool = False,
                 acquisitions: Sequence[str] = (), body: str = "EDSRLite", upsampler: str = "MetaUpscale",
                 body_args: Optional[Dict[str, Any]] = None, upsampler_args: Optional[Dict[str, Any]] = None) -> None:
        super().__init__()
        if upsample_skip not in UPSAMPLE_SKIPS:
            raise ValueError(f"upsample_skip must be one of {UPSAMPLE_SKIPS}, got {upsample_skip!r}")
        out_channels = in_channels if out_channels is None else out_channels
        if upsample_skip == "bicubic" and out_channels != in_channels:
            raise ValueError("upsample_skip='bicubic' needs out_channels == in_channels")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.upsample_skip = upsample_skip
        self.body = BODIES.build(body, in_channels=in_channels, width=width, depth=depth, res_scale=res_scale,
                                 bias=bias, branch_init_scale=branch_init_scale, **dict(body_args or {}))
        self.upscaler = UPSAMPLERS.build(upsampler, in_features=width, out_channels=out_channels, hidden=mlp_hidden,
                                         bias=bias, per_axis_scale=per_axis_scale, **dict(upsampler_args or {}))
        self.per_axis_scale = per_axis_scale
        self.acquisitions = tuple(str(a) for a in acquisitions)
        kinds = set(self.acquisitions)
        if len(kinds) != len(self.acquisitions) or not kinds <= set(ACQUISITION_KINDS):
            raise ValueError(f"acquisitions must be distinct names from {', '.join(ACQUISITION_KINDS)}; "
                             f"got {list(self.acquisitions)}")
        self.film: Optional[nn.Embedding] = None
        if self.acquisitions and not getattr(self.body, "supports_film", False):
            raise ValueError(f"acquisitions need a body whose residual blocks can be modulated (EDSRLite); "
                             f"body {body!r} cannot: train it blind (network.acquisitions [])")
        if self.acquisitions:  # one row per kind and a last one for "unknown"
            self.film = nn.Embedding(len(self.acquisitions) + 1, depth * 2 * width)
            nn.init.zeros_(self.film.weight)
        if upsample_skip == "bicubic" and hasattr(self.upscaler, "init_near_identity"):
            self.upscaler.init_near_identity()  # the untrained generator ≈ bicubic (optional for an upsampler)

    @property
    def max_scale(self) -> Optional[float]:
        """The largest scale the upsampler gives (a sub-pixel one's largest branch), ``None`` for any."""
        return getattr(self.upscaler, "max_scale", None)

    @property
    def size_multiple(self) -> int:
        """The LR size (rows and columns) must be a multiple of this; the parts' declared ``size_multiple``
        (optional, 1 without), combined. Prediction pads the input to it (:class:`~autosr.inference.predictor.Predictor`)."""
        return math.lcm(int(getattr(self.body, "size_multiple", 1)), int(getattr(self.upscaler, "size_multiple", 1)))

    @property
    def receptive_radius(self) -> int:
        """LR pixels an output pixel's inputs reach (the tiling halo): the body's and the upsampler's
        declared radii, and 2 for a bicubic skip (4×4 support)."""
        return self.body.receptive_radius + self.upscaler.receptive_radius + (2 if self.upsample_skip == "bicubic"
                                                                              else 0)

    def bytes_per_lr_pixel(self, scale: AxisScales) -> int:
        """Peak working memory per LR pixel of one image at ``scale`` (memory planning): body + upsampler."""
        return self.body.bytes_per_pixel + self.upscaler.bytes_per_lr_pixel(scale)

    def acquisition_index(self, acquisition: AcquisitionLike, batch: int) -> torch.Tensor:
        """Row of :attr:`film` per image: the kind's position, or the last row when ``None``."""
        names = [acquisition] * batch if acquisition is None or isinstance(acquisition, str) else list(acquisition)
        if len(names) != batch:
            raise ValueError(f"{len(names)} acquisitions for a batch of {batch}")
        unknown = [n for n in names if n is not None and n not in self.acquisitions]
        if unknown:
            raise ValueError(f"acquisition {unknown[0]!r} is not one this network was trained with "
                             f"({', '.join(self.acquisitions) or 'none: it was trained blind; leave it unknown'})")
        return torch.tensor([len(self.acquisitions) if n is None else self.acquisitions.index(n) for n in names])

    def forward_features(self, x: torch.Tensor, acquisition: AcquisitionLike = None) -> torch.Tensor:
        """LR feature maps ``F_lr``: ``(B, C_in, h, w) → (B, width, h, w)``."""
        idx = self.acquisition_index(acquisition, x.shape[0])  # also refuses a name an unconditioned net was told
        film = None if self.film is None else self.film(idx.to(x.device)).view(
            x.shape[0], len(self.body.blocks), 2, self.body.width)
        return self.body(x - 0.5) if film is None else self.body(x - 0.5, film)

    def upscale(self, features: torch.Tensor, x: torch.Tensor, scale: AxisScales) -> torch.Tensor:
        """Meta-Upscale ``features`` ``(B, width, h, w)`` of input ``x`` ``(B, C_in, h, w)`` → SR image."""
        y = self.upscaler(features, scale)
        if self.upsample_skip == "bicubic":
            return y + bicubic_upsample(x, scale)
        return y + 0.5

    def forward(self, x: torch.Tensor, scale: AxisScales, acquisition: AcquisitionLike = None) -> torch.Tensor:
        """Super-resolve ``x`` ``(B, C_in, h, w)`` by ``s`` or ``(s_h, s_w)`` → ``(B, C_out, ⌊h·s_h⌋, ⌊w·s_w⌋)``
        (not clamped);
        ``acquisition``: how ``x`` was acquired, for a conditioned network (``None``: unknown)."""
        return self.upscale(self.forward_features(x, acquisition), x, scale)


__all__ = ["MetaSRGenerator", "UPSAMPLE_SKIPS", "AcquisitionLike"]
