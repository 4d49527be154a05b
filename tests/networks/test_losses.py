"""L1 and WGAN-GP losses."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from autosr.losses import L1Loss, WGANGPLoss, critic_loss, generator_adversarial_loss, gradient_penalty
from autosr.networks import WGANCritic


class LinearCritic(nn.Module):
    """D(x) = <w, x> with ‖w‖₂ = 1: its input gradient has norm exactly 1 everywhere."""

    def __init__(self, shape):
        super().__init__()
        w = torch.randn(shape)
        self.w = nn.Parameter(w / w.norm())

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1)


def test_l1():
    a, b = torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), 0.5)
    assert L1Loss()(a, b).item() == 0.5
    assert L1Loss(loss_weight=2.0)(a, b).item() == 1.0


def test_gradient_penalty_zero_for_unit_gradient_critic():
    torch.manual_seed(0)
    critic = LinearCritic((1, 8, 8))
    real, fake = torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8)
    assert gradient_penalty(critic, real, fake).item() < 1e-10
    expected = critic(fake).mean() - critic(real).mean()
    assert torch.allclose(critic_loss(critic, real, fake, gp_weight=10.0), expected, atol=1e-6)
    assert torch.allclose(generator_adversarial_loss(critic, fake), -critic(fake).mean())


def test_gradient_penalty_positive_for_scaled_critic():
    critic = LinearCritic((1, 8, 8))
    with torch.no_grad():
        critic.w.mul_(3.0)  # gradient norm 3 → penalty (3 − 1)² = 4
    gp = gradient_penalty(critic, torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8))
    assert abs(gp.item() - 4.0) < 1e-4


def test_losses_finite_and_trainable_with_real_critic():
    torch.manual_seed(0)
    critic = WGANCritic(1, num_blocks=2, base_width=4, head_width=8)
    real = torch.rand(3, 1, 16, 16)
    fake = torch.rand(3, 1, 16, 16, requires_grad=True)
    d = critic_loss(critic, real, fake)
    assert torch.isfinite(d)
    d.backward()  # double backward through the critic (gradient penalty)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in critic.parameters())
    assert fake.grad is None  # the critic loss never trains the generator
    critic.zero_grad()
    g = 0.001 * WGANGPLoss().generator_objective(critic, real, fake)
    g.backward()
    assert torch.isfinite(g) and fake.grad is not None and torch.isfinite(fake.grad).all()
    assert torch.isfinite(WGANGPLoss().critic_objective(critic, real, fake))


@pytest.mark.parametrize("name", ["WGANGP", "WGAN", "VanillaGAN", "RaGAN"])
def test_adversarial_objectives(name):
    """Each objective: finite losses, the critic's trains the critic only, the generator's reaches the fake
    patches; WGAN clips the critic after its step."""
    from autosr.networks import WGANCritic
    from autosr.registry import LOSSES
    torch.manual_seed(0)
    critic = WGANCritic(in_channels=1, num_blocks=2, base_width=8)
    obj = LOSSES.build(name)
    real, fake = torch.rand(3, 1, 16, 16), torch.rand(3, 1, 16, 16, requires_grad=True)
    d = obj.critic_objective(critic, real, fake)
    d.backward()
    assert torch.isfinite(d) and fake.grad is None
    obj.after_critic_step(critic)
    if name == "WGAN":
        assert max(float(p.detach().abs().max()) for p in critic.parameters()) <= obj.clip + 1e-9
    critic.zero_grad()
    g = obj.generator_objective(critic, real, fake)
    g.backward()
    assert torch.isfinite(g) and fake.grad is not None and float(fake.grad.abs().sum()) > 0


def test_a_users_adversarial_objective_from_the_docs(tmp_path):
    """documentation/extending.md's Hinge objective, loaded as file.py:Class from training.losses."""
    import re
    from pathlib import Path
    from types import SimpleNamespace
    from autosr.training.components import build_losses
    doc = (Path(__file__).resolve().parents[2] / "documentation" / "extending.md").read_text(encoding="utf-8")
    code = re.search(r"# /home/me/losses/hinge.py\n(.*?)```", doc, re.S).group(1)
    (tmp_path / "hinge.py").write_text(code, encoding="utf-8")
    training = SimpleNamespace(losses=[{"name": "L1Loss", "weight": 1.0},
                                       {"name": f"{tmp_path / 'hinge.py'}:Hinge", "weight": 0.001}],
                               perceptual="off", vgg_weights=None)
    losses, _ = build_losses(training, torch.device("cpu"), gan_phase=True)
    obj = losses.adversarial.module
    assert losses.adversarial.weight == 0.001 and losses.adversarial.gan_only
    from autosr.networks import WGANCritic
    critic = WGANCritic(in_channels=1, num_blocks=2, base_width=8)
    real, fake = torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16)
    assert torch.isfinite(obj.critic_objective(critic, real, fake)) and torch.isfinite(
        obj.generator_objective(critic, real, fake))
