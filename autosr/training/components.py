"""The parts a trainer assembles from a configuration: networks, optimisers, schedules, losses, seeds."""
from __future__ import annotations

import logging
import os
import random
from typing import Any, Dict, Iterable, Optional, Tuple

import numpy as np
import torch
from torch import nn

from autosr.plans import Configuration, TrainingConfig
from autosr.training.errors import TrainingError

logger = logging.getLogger(__name__)


def network_config(section: Dict[str, Any], num_channels: int, default_name: str) -> Dict[str, Any]:
    """``{"name", "in_channels", **kwargs}`` from a plans ``network``/``critic`` section (``why`` dropped)."""
    cfg = {k: v for k, v in section.items() if k != "why"}
    cfg.setdefault("name", default_name)
    cfg.setdefault("in_channels", int(num_channels))
    return cfg


def build(cfg: Dict[str, Any]) -> nn.Module:
    """Instantiate a ``{"name", **kwargs}`` network config; bad names or keys become a clear error."""
    from autosr.networks import build_network
    kwargs = {k: v for k, v in cfg.items() if k != "name"}
    try:
        return build_network(cfg["name"], **kwargs)
    except (KeyError, TypeError, ValueError) as exc:
        msg = exc.args[0] if exc.args else str(exc)
        raise TrainingError(f"cannot build network from the plans ({cfg}): {msg}. "
                            f"Fix the configuration's network/critic section or the -o overrides") from None


def adam(params: Iterable[nn.Parameter], lr: float, betas: Tuple[float, float]) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=float(lr), betas=(float(betas[0]), float(betas[1])))


def halving_schedule(optimizer: torch.optim.Optimizer, every: int) -> torch.optim.lr_scheduler.StepLR:
    """Halve the learning rate every ``every`` steps (MIASSR: 5e4), stepped once per training step."""
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, int(every)), gamma=0.5)


def step_overrides(training: TrainingConfig, steps: Optional[int], warmup_steps: Optional[int]) -> Dict[str, Any]:
    """Overrides for ``--steps N`` (total, warm-up proportion kept) and ``--warmup_steps N``.

    With ``--steps`` the learning-rate halving period is scaled by the same factor, so a short
    run keeps the planned schedule's shape. A warm-up longer than ``--steps`` is refused, never
    clamped: the warm-up is part of the total.
    """
    if steps is not None and steps < 1:
        raise TrainingError(f"--steps {steps}: must be >= 1")
    if warmup_steps is not None and warmup_steps < 0:
        raise TrainingError(f"--warmup_steps {warmup_steps}: must be >= 0")
    if steps is not None and warmup_steps is not None and warmup_steps > steps:
        raise TrainingError(f"--warmup_steps {warmup_steps} exceeds --steps {steps}: the warm-up is part of the "
                            f"total steps; give --warmup_steps <= --steps")
    out: Dict[str, Any] = {}
    total = training.warmup_steps + training.gan_steps
    if steps is not None:
        warm = warmup_steps if warmup_steps is not None else round(steps * training.warmup_steps / max(total, 1))
        out["training.warmup_steps"] = int(warm)
        out["training.gan_steps"] = steps - int(warm)
        out["training.lr_halve_every"] = max(1, round(training.lr_halve_every * steps / max(total, 1)))
    elif warmup_steps is not None:
        out["training.warmup_steps"] = int(warmup_steps)
    return out


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def set_determinism(deterministic: bool, device: torch.device) -> None:
    """Deterministic kernels (and no cuDNN autotuning) when asked; fast ones otherwise."""
    if deterministic and device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # warn_only: a kernel without a deterministic version warns instead of stopping the run.
    torch.use_deterministic_algorithms(bool(deterministic), warn_only=True)
    torch.backends.cudnn.deterministic = bool(deterministic)
    torch.backends.cudnn.benchmark = not deterministic and device.type == "cuda"


def adversarial_objective(training: Any) -> Any:
    """The GAN objective ``training.adversarial`` names (:mod:`autosr.losses`; ``module:Class`` accepted), with
    ``training.gp_weight`` for WGAN-GP; a clear error for an unknown name."""
    from autosr.losses import ADVERSARIAL_OBJECTIVES, AdversarialObjective
    from autosr.registry import LOSSES
    name = training.adversarial
    kwargs = {"gp_weight": float(training.gp_weight)} if name == "WGANGP" else {}
    try:
        obj = LOSSES.build(name, **kwargs)
    except KeyError:
        raise TrainingError(f"training.adversarial {name!r} is not an adversarial objective; use one of "
                            f"{', '.join(ADVERSARIAL_OBJECTIVES)} or module:Class") from None
    if not isinstance(obj, AdversarialObjective):
        raise TrainingError(f"training.adversarial {name!r} is not an adversarial objective (autosr.losses."
                            f"AdversarialObjective); use one of {', '.join(ADVERSARIAL_OBJECTIVES)}")
    return obj


def perceptual_loss(training: TrainingConfig, device: torch.device) -> Tuple[Optional[nn.Module], float, str]:
    """Resolve the VGG19 perceptual loss: ``(loss module or None, effective η, message)``.

    ``perceptual="on"`` without weights raises; ``"auto"`` runs with η = 0 and says so;
    ``"off"`` (or η = 0) disables it. Never silent: the message is always logged by the caller.
    """
    if training.perceptual == "off" or training.eta_perc == 0:
        return None, 0.0, f"perceptual loss off (perceptual={training.perceptual!r}, eta={training.eta_perc})"
    from autosr.losses import PerceptualLoss, perceptual_mode_resolve
    extractor, message = perceptual_mode_resolve(training.perceptual, training.vgg_weights,
                                                 layer=training.perceptual_layer)
    if extractor is None:
        return None, 0.0, f"perceptual loss DISABLED (eta = 0): {message}"
    return PerceptualLoss(extractor).to(device), float(training.eta_perc), message


def describe(config: Configuration) -> str:
    """One line summarising what this configuration trains."""
    t, p = config.training, config.patch
    return (f"configuration {config.name}: patch {tuple(p.size)} batch {p.batch_size}, scales (1, {config.scales.max}] "
            f"{config.scales.sampling}, warm-up {t.warmup_steps} + GAN {t.gan_steps} steps, lr {t.lr} "
            f"halved every {t.lr_halve_every}, λ={t.lambda_l1} γ={t.gamma_adv} η={t.eta_perc}")


__all__ = ["network_config", "build", "adam", "halving_schedule", "step_overrides", "seed_everything",
           "set_determinism", "perceptual_loss", "describe"]
