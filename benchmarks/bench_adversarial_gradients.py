"""How hard each trained model's adversarial term pulls on the generator's output, next to its L1 term.

    python benchmarks/bench_adversarial_gradients.py MODEL_FOLDER [MODEL_FOLDER …] [--fold 1] [--scale 2]

For each model (``autosr_train --system MIASSR+RaGAN`` and the like; its checkpoint holds the generator
and the critic), on HR patches of the fold's validation cases and their LR (the plan's reference
recipe), it prints the gradient norms, with respect to the super-resolved patches, of
``weight·L_adv`` (the generator's side of the checkpoint's adversarial objective) and of
``weight·L1``, and their ratio. A ratio far above the others' means that, at the same γ, the
objective moves the generator away from the L1 optimum more (MIASSR Fig. 8's differences).
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from autosr import checkpoint as ckpt_format
from autosr.degradation.acquisition import named, synthesize
from autosr.plans import Configuration
from autosr.preprocessing.api import load_case
from autosr.scales import as_fraction
from autosr.training.api import fold_cases
from autosr.training.components import build, build_losses


def patches(volume: torch.Tensor, n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` HR patches ``(n, C, size, size)`` from slices with content (the middle half of the volume)."""
    c, s, h, w = volume.shape
    out = []
    while len(out) < n:
        k = int(torch.randint(s // 4, 3 * s // 4, (1,), generator=gen))
        y, x = (int(torch.randint(0, d - size + 1, (1,), generator=gen)) for d in (h, w))
        p = volume[:, k, y:y + size, x:x + size]
        if float(p.std()) > 0.05:
            out.append(p)
    return torch.stack(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", type=Path, help="model folders (…__MIASSR+RaGAN)")
    p.add_argument("--fold", default="1")
    p.add_argument("--scale", default="2")
    p.add_argument("--patches", type=int, default=32)
    p.add_argument("--preprocessed", type=Path, required=True, help="the dataset's preprocessed folder")
    args = p.parse_args()
    s = as_fraction(args.scale)
    print(f"{'model':<28} {'objective':<10} {'|grad γ·adv|':>13} {'|grad λ·L1|':>12} {'ratio':>8}")
    for folder in args.models:
        ckpt = ckpt_format.load_checkpoint(folder / f"fold_{args.fold}" / "checkpoint_final.pth", map_location="cpu")
        config = Configuration.from_dict("c", ckpt["configuration"], str(folder))
        generator = build(ckpt["generator_config"])
        generator.load_state_dict(ckpt["generator"])
        critic = build(ckpt["critic_config"])
        critic.load_state_dict(ckpt["critic"])
        generator.eval(), critic.eval()
        training = dataclasses.replace(config.training, perceptual="off")  # VGG19 is not what is compared here
        losses, _ = build_losses(training, torch.device("cpu"), gan_phase=True)
        adversarial = losses.adversarial
        l1 = next(t for t in losses.terms if t.key == "l1")
        _, val = fold_cases(args.preprocessed, args.fold)
        vol, _ = load_case(args.preprocessed, config.data_identifier, val[0])
        gen = torch.Generator().manual_seed(0)
        hr = patches(torch.as_tensor(vol, dtype=torch.float32), args.patches, 48, gen)
        lr = synthesize(hr, s, named("planned", config.degradation), gen)
        sr = generator(lr, s).detach().requires_grad_(True)
        (g_adv,) = torch.autograd.grad(adversarial.weight * adversarial.module.generator_objective(critic, hr, sr), sr)
        (g_l1,) = torch.autograd.grad(l1.weight * l1.module(sr, hr), sr)
        a, b = float(g_adv.norm()), float(g_l1.norm())
        print(f"{folder.name.split('__')[-1]:<28} {adversarial.name:<10} {a:>13.3e} {b:>12.3e} {a / b:>8.3f}")


if __name__ == "__main__":
    main()
