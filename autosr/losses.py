"""MIASSR losses (section 3.3, eq. 17): ``λ·L1 + γ·L_adv + η·L_perc``.

``L1Loss`` and ``PerceptualLoss`` (VGG19 features, per channel for multi-channel images, as
the paper does for BraTS) register in :data:`autosr.registry.LOSSES`, each scaled by its
``loss_weight``. The adversarial objectives of MIASSR's Fig. 8 register there too, named in
``training.losses``: ``WGANGP`` (the paper's, eqs. 15–16), ``WGAN`` (weight clipping),
``VanillaGAN`` (eq. 14, SRGAN) and ``RaGAN`` (relativistic average, ESRGAN). Each has
``critic_objective(critic, real, fake)`` (the critic's loss), ``generator_objective(critic, real,
fake)`` (the generator's, before γ) and ``after_critic_step(critic)`` (WGAN's clipping).
``perceptual_mode_resolve`` turns ``--perceptual on|auto|off`` into an extractor or a message.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from autosr.errors import AutoSRError
from autosr.networks.vgg import CONV_LAYERS, VGG19_FILENAME, VGGFeatureExtractor, find_vgg19_weights
from autosr.registry import LOSSES

PERCEPTUAL_MODES = ("on", "auto", "off")


@LOSSES.register()
class L1Loss(nn.Module):
    """``loss_weight · mean |sr − hr|`` (eq. 12) over ``(B, C, H, W)`` tensors."""

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """Scalar loss of ``sr`` against ``hr`` (same shape)."""
        return self.loss_weight * F.l1_loss(sr, hr)


@LOSSES.register()
class PerceptualLoss(nn.Module):
    """``loss_weight · E‖V_l(hr) − V_l(sr)‖²`` (eq. 13) with a frozen VGG19 extractor.

    Each channel of a ``(B, C, H, W)`` image goes through VGG as its own grey image (repeated to
    RGB) and the per-channel MSEs are averaged: modalities (T1, T2, FLAIR…) are not colours.
    Gradients flow to ``sr`` only. Give ``extractor`` or ``weights`` (a VGG19 checkpoint path).
    """

    def __init__(self, extractor: Optional[VGGFeatureExtractor] = None, loss_weight: float = 1.0,
                 layer: str = "conv2_2", weights: Union[str, Path, None] = None) -> None:
        super().__init__()
        if extractor is None:
            if weights is None:
                raise ValueError("PerceptualLoss needs a VGG19 extractor or a weights path "
                                 "(see autosr.losses.perceptual_mode_resolve)")
            extractor = VGGFeatureExtractor(layer=layer, weights=weights)
        self.extractor = extractor
        self.loss_weight = float(loss_weight)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """Scalar loss of ``sr`` against ``hr``, both ``(B, C, H, W)`` in [0, 1]."""
        b, c, h, w = sr.shape
        # One VGG pass over B·C grey images; equal-sized feature maps make the global mean the
        # average of the per-channel MSEs.
        f_sr = self.extractor(sr.reshape(b * c, 1, h, w))
        with torch.no_grad():
            f_hr = self.extractor(hr.reshape(b * c, 1, h, w))
        return self.loss_weight * F.mse_loss(f_sr, f_hr)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``E[(‖∇_x̂ D(x̂)‖₂ − 1)²]`` on random interpolates ``x̂ = α·real + (1 − α)·fake`` (α per sample)."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), dtype=real.dtype, device=real.device)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def critic_loss(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, gp_weight: float = 10.0) -> torch.Tensor:
    """WGAN-GP critic objective ``E[D(fake)] − E[D(real)] + gp_weight·GP`` (to minimise).

    ``fake`` is detached: this loss trains the critic only.
    """
    fake = fake.detach()
    loss = critic(fake).mean() - critic(real).mean()
    if gp_weight:
        loss = loss + gp_weight * gradient_penalty(critic, real, fake)
    return loss


def generator_adversarial_loss(critic: nn.Module, fake: torch.Tensor) -> torch.Tensor:
    """Generator's WGAN term ``−E[D(fake)]`` (the γ of eq. 17 is applied by the caller)."""
    return -critic(fake).mean()


class AdversarialObjective(nn.Module):
    """An adversarial objective: the critic's loss, the generator's, and a hook after each critic step.

    ``real`` are HR patches, ``fake`` the generator's SR patches (the critic objective detaches
    them); ``generator_objective`` lets gradients flow to ``fake`` only (the trainer freezes the
    critic). Both are to be minimised.
    """

    def critic_objective(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def generator_objective(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def after_critic_step(self, critic: nn.Module) -> None:
        """Called after every critic update (WGAN clips the weights here)."""


@LOSSES.register("WGANGP")
class WGANGPLoss(AdversarialObjective):
    """WGAN-GP (MIASSR eqs. 15–16): critic ``E[D(fake)] − E[D(real)] + gp_weight·GP``, generator ``−E[D(fake)]``."""

    def __init__(self, gp_weight: float = 10.0) -> None:
        super().__init__()
        self.gp_weight = float(gp_weight)

    def critic_objective(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return critic_loss(critic, real, fake, self.gp_weight)

    def generator_objective(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return generator_adversarial_loss(critic, fake)


@LOSSES.register("WGAN")
class WGANLoss(WGANGPLoss):
    """WGAN with weight clipping (Arjovsky et al.): no gradient penalty; after each critic step every critic
    parameter is clipped to ``[−clip, clip]``."""

    def __init__(self, clip: float = 0.01, gp_weight: float = 0.0) -> None:
        super().__init__(gp_weight=gp_weight)
        self.clip = float(clip)

    def after_critic_step(self, critic: nn.Module) -> None:
        with torch.no_grad():
            for p in critic.parameters():
                p.clamp_(-self.clip, self.clip)


@LOSSES.register("VanillaGAN")
class VanillaGANLoss(AdversarialObjective):
    """The original GAN (MIASSR eq. 14, SRGAN): the critic a logistic classifier of real vs fake, the generator
    the non-saturating ``−log σ(D(fake))``."""

    def critic_objective(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        d_real, d_fake = critic(real), critic(fake.detach())
        return (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))

    def generator_objective(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        d_fake = critic(fake)
        return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


@LOSSES.register("RaGAN")
class RaGANLoss(AdversarialObjective):
    """Relativistic average GAN (ESRGAN): whether real patches look more real than the average fake, and
    the reverse; the generator's objective is symmetric, so it learns from the real patches too."""

    @staticmethod
    def _relative(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        d_real, d_fake = critic(real), critic(fake)
        ones, zeros = torch.ones_like(d_real), torch.zeros_like(d_fake)
        return (F.binary_cross_entropy_with_logits(d_real - d_fake.mean(), ones)
                + F.binary_cross_entropy_with_logits(d_fake - d_real.mean(), zeros)) / 2

    def critic_objective(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return self._relative(critic, real, fake.detach())

    def generator_objective(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return self._relative(critic, fake, real.detach())  # roles swapped: fake should look more real


#: The registered adversarial objectives (``module:Class`` also accepted in ``training.losses``).
ADVERSARIAL_OBJECTIVES = ("WGANGP", "WGAN", "VanillaGAN", "RaGAN")


def perceptual_mode_resolve(mode: str, weights_path: Union[str, Path, None] = None, allow_download: bool = True,
                            layer: str = "conv2_2") -> Tuple[Optional[VGGFeatureExtractor], str]:
    """Resolve ``--perceptual``: ``(extractor or None, message for the log)``.

    ``"on"``: weights are required (explicit path, torch hub cache, or download) — a clear error
    otherwise. ``"auto"``: use them if found, else ``None`` and a warning that η is set to 0.
    ``"off"``: ``None``. An explicit ``weights_path`` that does not exist is always an error.
    """
    if mode not in PERCEPTUAL_MODES:
        raise AutoSRError(f"--perceptual must be one of {', '.join(PERCEPTUAL_MODES)}, got {mode!r}")
    if mode == "off":
        return None, "perceptual loss off (--perceptual off)"
    if layer not in CONV_LAYERS:
        raise AutoSRError(f"training.losses: PerceptualLoss layer {layer!r} is not a VGG19 convolution; use one of "
                          f"{', '.join(CONV_LAYERS)} (-o training.losses.PerceptualLoss.layer=conv2_2)")
    try:
        found = find_vgg19_weights(weights_path, allow_download=allow_download)
    except FileNotFoundError as exc:
        raise AutoSRError(f"{exc}. Fix --vgg_weights, or use --perceptual auto/off to train without it") from None
    if found is None:
        hub = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILENAME
        where = f"no --vgg_weights given, none in the torch hub cache ({hub})" + (
            ", and the download failed" if allow_download else ", downloads disabled")
        if mode == "on":
            raise AutoSRError(f"--perceptual on needs VGG19 weights but {where}. Pass a torchvision "
                              f"'{VGG19_FILENAME}' checkpoint with --vgg_weights PATH, or use --perceptual auto "
                              f"to train without the perceptual loss")
        return None, (f"VGG19 weights not found ({where}): the perceptual loss is left out. "
                      f"Pass --vgg_weights PATH to use it")
    extractor = VGGFeatureExtractor(layer=layer, weights=found)
    return extractor, f"perceptual loss: VGG19 {layer} (pre-activation) from {found}"


__all__ = ["L1Loss", "PerceptualLoss", "AdversarialObjective", "WGANGPLoss", "WGANLoss", "VanillaGANLoss", "RaGANLoss",
           "ADVERSARIAL_OBJECTIVES", "gradient_penalty", "critic_loss", "generator_adversarial_loss",
           "perceptual_mode_resolve", "PERCEPTUAL_MODES"]
