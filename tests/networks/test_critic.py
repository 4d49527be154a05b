"""WGAN critic."""
from __future__ import annotations

import pytest
import torch

from autosr.networks import WGANCritic


@pytest.mark.parametrize("size", [16, 48, 128])
def test_any_patch_size(size):
    critic = WGANCritic(2, num_blocks=4, base_width=4, head_width=8)
    out = critic(torch.rand(3, 2, size, size))
    assert out.shape == (3,)
    assert torch.isfinite(out).all()


def test_structure_no_batch_norm_and_strides():
    critic = WGANCritic(1, num_blocks=3, base_width=8)
    convs = [m for m in critic.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride[0] for c in convs] == [1, 2] * 3
    assert [c.out_channels for c in convs] == [8, 8, 16, 16, 32, 32]
    assert not any(isinstance(m, (torch.nn.BatchNorm2d, torch.nn.LayerNorm)) for m in critic.modules())


def test_rejects_zero_blocks():
    with pytest.raises(ValueError):
        WGANCritic(1, num_blocks=0)
