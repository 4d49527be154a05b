"""AutoSR networks: MIASSR generator (EDSR-lite + Meta-Upscale), WGAN-GP critic, frozen VGG19.

Complete networks register in :data:`autosr.registry.NETWORKS` by name (``"MetaSR"``,
``"WGANCritic"``) so plans and command lines can name them; importing this package registers
them.
"""
from __future__ import annotations

from typing import Any, List

from torch import nn

# Importing the modules registers their networks.
from autosr.networks.discriminator import WGANCritic
from autosr.networks.edsr_lite import EDSRLiteBody
from autosr.networks.meta_sr import MetaSRGenerator
from autosr.networks.meta_upscale import MetaUpscale
from autosr.networks.vgg import VGGFeatureExtractor, find_vgg19_weights
from autosr.registry import NETWORKS


def build_network(name: str, **kwargs: Any) -> nn.Module:
    """Instantiate a registered network; unknown names or keyword arguments raise an error listing the valid ones."""
    return NETWORKS.build(name, **kwargs)


def list_networks() -> List[str]:
    """Names of the registered networks."""
    return NETWORKS.names()


__all__ = ["build_network", "list_networks", "MetaSRGenerator", "EDSRLiteBody", "MetaUpscale", "WGANCritic",
           "VGGFeatureExtractor", "find_vgg19_weights"]
