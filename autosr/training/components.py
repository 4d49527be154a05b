"""The parts a trainer assembles from a configuration: networks, optimisers, schedules, losses, seeds."""
from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple

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


@dataclass
class LossTerm:
    """One entry of ``training.losses``, built: its weight, its module, and when it counts."""

    name: str
    key: str            # its column in the logs and progress.png ("l1", "perc", "adv", …)
    weight: float
    module: nn.Module
    gan_only: bool


class LossSet:
    """The configuration's ``training.losses``: reconstruction terms (each from the first step, or in the GAN
    phase only) and at most one adversarial objective (GAN phase)."""

    def __init__(self, terms: List[LossTerm], adversarial: Optional[LossTerm]) -> None:
        self.terms, self.adversarial = terms, adversarial

    def reconstruction(self, sr: torch.Tensor, hr: torch.Tensor, gan: bool) -> Tuple[torch.Tensor, Dict[str, float]]:
        """``Σ weight·loss(sr, hr)`` over the terms of this phase, and each term's unweighted value by its key."""
        total, values = sr.new_zeros(()), {}
        for term in self.terms:
            if term.gan_only and not gan:
                continue
            value = term.module(sr, hr)
            total = total + term.weight * value
            values[term.key] = float(value.detach())
        return total, values

    def effective(self) -> List[Dict[str, Any]]:
        """``[{"name", "weight", "phase"}]`` of the losses this run uses (a disabled perceptual loss left out)."""
        used = self.terms + ([self.adversarial] if self.adversarial else [])
        return [{"name": t.name, "weight": t.weight, "phase": "gan" if t.gan_only else "all"} for t in used]


#: Log keys of the built-in losses (others: the lower-cased name).
LOG_KEYS = {"L1Loss": "l1", "PerceptualLoss": "perc"}


def build_losses(training: TrainingConfig, device: torch.device, gan_phase: bool
                 ) -> Tuple[LossSet, List[Tuple[int, str]]]:
    """Build ``training.losses`` from :data:`autosr.registry.LOSSES` (``module:Class`` accepted), and the
    ``(logging level, message)`` pairs to log. Adversarial objectives (:class:`autosr.losses.AdversarialObjective`) and ``PerceptualLoss`` count in
    the GAN phase unless an entry's ``phase`` says otherwise; GAN-phase terms are not built without
    ``gan_phase``. A ``PerceptualLoss`` resolves its VGG19 weights by ``training.perceptual`` (on: required, auto:
    left out with a warning when missing, off: left out). Bad names or arguments are a clear error."""
    from autosr.losses import AdversarialObjective, PerceptualLoss, perceptual_mode_resolve
    from autosr.registry import LOSSES
    terms: List[LossTerm] = []
    adversarial: Optional[LossTerm] = None
    messages: List[Tuple[int, str]] = []
    for i, entry in enumerate(training.losses):
        name, weight = entry["name"], float(entry["weight"])
        args = {k: v for k, v in entry.items() if k not in ("name", "weight", "phase", "why")}
        where = f"training.losses[{i}] ({name})"
        try:
            cls = LOSSES.get(name)
        except (KeyError, ImportError, AttributeError) as exc:
            raise TrainingError(f"{where}: {exc.args[0] if exc.args else exc}; use a registered loss "
                                f"({', '.join(LOSSES.names())}) or module:Class") from None
        is_adversarial = isinstance(cls, type) and issubclass(cls, AdversarialObjective)
        gan_only = entry.get("phase", "gan" if is_adversarial or cls is PerceptualLoss else "all") == "gan"
        if is_adversarial and not gan_only:
            raise TrainingError(f"{where}: an adversarial objective counts in the GAN phase only; drop its "
                                f"\"phase\": \"all\"")
        if is_adversarial and adversarial is not None:
            raise TrainingError(f"{where}: a second adversarial objective ({adversarial.name} is the first); "
                                f"keep one")
        if gan_only and not gan_phase:
            messages.append((logging.INFO, f"{name} not used: no GAN steps"))
            continue
        if cls is PerceptualLoss:
            if weight == 0 or training.perceptual == "off":
                messages.append((logging.INFO, f"perceptual loss off (perceptual={training.perceptual!r}, "
                                               f"weight {weight:g})"))
                continue
            extractor, message = perceptual_mode_resolve(training.perceptual, training.vgg_weights,
                                                         layer=args.get("layer", "conv2_2"))
            if extractor is None:
                messages.append((logging.WARNING, f"perceptual loss DISABLED: {message}"))
                continue
            messages.append((logging.INFO, message))
            module: nn.Module = PerceptualLoss(extractor)
        else:
            try:
                module = LOSSES.build(name, **args)
            except TypeError as exc:
                raise TrainingError(f"{where}: {exc.args[0]}") from None
        if not isinstance(module, nn.Module) or not callable(module):
            raise TrainingError(f"{where}: {name} is not a loss (a torch.nn.Module called with (sr, hr), or an "
                                f"autosr.losses.AdversarialObjective)")
        term = LossTerm(name, "adv" if is_adversarial else LOG_KEYS.get(name, name.rsplit(":", 1)[-1].lower()),
                        weight, module.to(device), gan_only)
        if is_adversarial:
            adversarial = term
        else:
            terms.append(term)
    if not any(not t.gan_only for t in terms):
        raise TrainingError("training.losses: no loss counts from the first step (the warm-up would learn nothing); "
                            "keep one without \"phase\": \"gan\", e.g. {\"name\": \"L1Loss\", \"weight\": 1}")
    return LossSet(terms, adversarial), messages


def describe(config: Configuration) -> str:
    """One line summarising what this configuration trains."""
    t, p = config.training, config.patch
    losses = " + ".join(f"{e['weight']:g}·{e['name']}" + (" (GAN phase)" if e.get("phase") == "gan" else "")
                        for e in t.losses)
    return (f"configuration {config.name}: patch {tuple(p.size)} batch {p.batch_size}, scales (1, {config.scales.max}] "
            f"{config.scales.sampling}, warm-up {t.warmup_steps} + GAN {t.gan_steps} steps, lr {t.lr} "
            f"halved every {t.lr_halve_every}, losses {losses}")


__all__ = ["network_config", "build", "adam", "halving_schedule", "step_overrides", "seed_everything",
           "set_determinism", "LossTerm", "LossSet", "build_losses", "describe"]
