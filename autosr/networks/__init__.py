"""AutoSR networks: the MIASSR generator of registered parts, WGAN-GP critic, frozen VGG19.

Complete networks register in :data:`autosr.registry.NETWORKS` by name (``"MetaSR"``,
``"WGANCritic"``, ``"PerScale"``: one MetaSR per integer scale), generator bodies in
:data:`autosr.registry.BODIES` (``EDSRLite`` (MIASSR), ``RDN`` (MetaRDN), ``RRDB`` (ESRGAN), ``SRResNet`` (SRGAN), ``SRDenseNet``) and upsamplers in
:data:`autosr.registry.UPSAMPLERS` (``MetaUpscale``; ``SubPixel``: fixed ×2/×3/×4 branches, any
scale by up-and-down), so plans and command lines can name them;
importing this package registers them. One file per network family.
"""
from __future__ import annotations

from typing import Any, List

import torch
from torch import nn

# Importing the modules registers their networks.
from autosr.networks.discriminator import WGANCritic
from autosr.networks.edsr_lite import EDSRLiteBody
from autosr.networks.meta_sr import MetaSRGenerator
from autosr.networks.meta_upscale import MetaUpscale
from autosr.networks.per_scale import PerScaleGenerator
from autosr.networks.vgg import VGGFeatureExtractor, find_vgg19_weights
from autosr.registry import NETWORKS


def build_network(name: str, **kwargs: Any) -> nn.Module:
    """Instantiate a registered network; unknown names or keyword arguments raise an error listing the valid ones."""
    return NETWORKS.build(name, **kwargs)


def run_generator(net: nn.Module, x: torch.Tensor, scale: Any, acquisition: Any = None) -> torch.Tensor:
    """``net(x, scale)``, and the acquisition (one kind, or one per image) only when some kind is
    known, so a generator without acquisition codes (``forward(x, scale)``) runs as it always did."""
    if acquisition is None or (not isinstance(acquisition, str) and all(a is None for a in acquisition)):
        return net(x, scale)
    return net(x, scale, acquisition)


def list_networks() -> List[str]:
    """Names of the registered networks."""
    return NETWORKS.names()


__all__ = ["build_network", "run_generator", "list_networks", "MetaSRGenerator", "EDSRLiteBody", "MetaUpscale", "PerScaleGenerator", "WGANCritic",
           "VGGFeatureExtractor", "find_vgg19_weights"]
