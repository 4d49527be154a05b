"""Frozen VGG19 feature extractor for the perceptual loss (MIASSR eq. 13), without torchvision.

``vgg19_features()`` rebuilds torchvision's ``vgg19().features`` with the *same module indices*,
so a torchvision checkpoint (``vgg19-dcbb9e9d.pth``: keys ``features.N.weight/bias``; the
classifier keys are ignored) loads with strict checking of every feature key.
``VGGFeatureExtractor`` truncates it after a chosen conv and returns that conv's output *before*
its ReLU (ESRGAN; MIASSR section 3.3.2), e.g. ``conv2_2`` = EDSR's "VGG22".
"""
from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Dict, Optional, Union

import torch
from torch import nn

from autosr.errors import AutoSRError


log = logging.getLogger(__name__)


class VGGWeightsError(AutoSRError):
    """A VGG19 weights file is unreadable, unsafe or not a torchvision VGG19 checkpoint."""


VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_FILENAME = "vgg19-dcbb9e9d.pth"
#: torchvision's configuration "E": channels per conv, "M" = 2×2 max-pool.
VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _conv_indices() -> Dict[str, int]:
    """``conv{block}_{n}`` → index in ``features`` (conv1_1 → 0, conv2_2 → 7, conv5_4 → 34)."""
    names, idx, block, n = {}, 0, 1, 0
    for v in VGG19_CFG:
        if v == "M":
            idx, block, n = idx + 1, block + 1, 0
        else:
            n += 1
            names[f"conv{block}_{n}"] = idx
            idx += 2  # conv + ReLU
    return names


CONV_LAYERS: Dict[str, int] = _conv_indices()


def vgg19_features() -> nn.Sequential:
    """Randomly initialised VGG19 ``features`` with torchvision's module indices (37 modules)."""
    layers, ch = [], 3
    for v in VGG19_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(ch, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            ch = int(v)
    return nn.Sequential(*layers)


def find_vgg19_weights(path: Union[str, Path, None] = None, allow_download: bool = True,
                       timeout: float = 10.0) -> Optional[Path]:
    """Locate the torchvision VGG19 checkpoint.

    Order: explicit ``path`` (``FileNotFoundError`` if missing), the torch hub cache
    (``torch.hub.get_dir()/checkpoints/vgg19-dcbb9e9d.pth``), then a download into that cache when
    ``allow_download`` (network errors and timeouts → ``None``, logged). Returns ``None`` when
    no checkpoint is available.
    """
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"VGG19 checkpoint {p} does not exist; pass the path of a torchvision "
                                    f"'{VGG19_FILENAME}' file")
        return p
    cached = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILENAME
    if cached.is_file():
        return cached
    if not allow_download:
        return None
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # urllib inside torch.hub has no timeout of its own
    try:
        torch.hub.load_state_dict_from_url(VGG19_URL, model_dir=str(cached.parent), map_location="cpu",
                                           progress=False, check_hash=True, weights_only=True)
    except Exception as exc:  # URLError, timeouts, HTTP errors, hash mismatch: all mean "not available"
        log.warning("could not download VGG19 weights from %s: %s", VGG19_URL, exc)
        if cached.is_file() and cached.stat().st_size == 0:
            os.remove(cached)
        return None
    finally:
        socket.setdefaulttimeout(old_timeout)
    return cached if cached.is_file() else None


def load_vgg19_features(weights: Union[str, Path]) -> nn.Sequential:
    """VGG19 ``features`` loaded from a torchvision-format checkpoint (feature keys strictly checked).

    The file is read with ``weights_only=True``: a pickle that would run code is refused, never run.
    """
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling, zip and format errors all mean "not a usable weights file"
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "no detail"
        raise VGGWeightsError(f"{weights}: not a VGG19 weights file that loads safely ({type(exc).__name__}: "
                              f"{detail}); pass a torchvision '{VGG19_FILENAME}' checkpoint with --vgg_weights, "
                              f"or train with --perceptual auto/off") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    feats = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")} \
        if isinstance(state, dict) else {}
    if not feats:
        raise VGGWeightsError(f"{weights}: has no 'features.N.weight' keys, so it is not a torchvision VGG19 "
                              f"checkpoint; pass a '{VGG19_FILENAME}' file with --vgg_weights")
    module = vgg19_features()
    try:
        module.load_state_dict(feats, strict=True)
    except RuntimeError as exc:
        raise VGGWeightsError(f"{weights}: its VGG19 feature weights do not fit ({str(exc).splitlines()[0]}); pass "
                              f"a torchvision '{VGG19_FILENAME}' file with --vgg_weights") from None
    return module


class VGGFeatureExtractor(nn.Module):
    """Frozen VGG19 features up to ``layer`` (pre-activation): ``(B, C, H, W)`` in [0, 1] → features.

    Grey images (C = 1) are repeated to 3 channels; other C ≠ 3 must be split per channel by
    the caller (see :class:`autosr.losses.PerceptualLoss`). ImageNet normalisation is applied.
    ``weights=None`` leaves random weights (tests, shape checks). The module always stays in
    eval mode and its parameters never require gradients.
    """

    def __init__(self, layer: str = "conv2_2", weights: Union[str, Path, None] = None) -> None:
        super().__init__()
        if layer not in CONV_LAYERS:
            raise KeyError(f"unknown VGG19 layer {layer!r}; valid: {', '.join(CONV_LAYERS)}")
        full = load_vgg19_features(weights) if weights is not None else vgg19_features()
        self.layer = layer
        self.features = nn.Sequential(*list(full.children())[:CONV_LAYERS[layer] + 1])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "VGGFeatureExtractor":
        """Stay in eval mode whatever the caller asks: the extractor is a fixed metric."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1 or 3, H, W)`` in [0, 1] → ``(B, C_layer, H', W')`` pre-activation features."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] != 3:
            raise ValueError(f"VGG expects 1 or 3 channels, got {x.shape[1]}; split channels first")
        return self.features((x - self.mean) / self.std)


__all__ = ["VGGFeatureExtractor", "VGGWeightsError", "vgg19_features", "load_vgg19_features", "find_vgg19_weights",
           "CONV_LAYERS", "VGG19_URL", "VGG19_FILENAME"]
