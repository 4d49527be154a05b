"""The moving average of the generator's weights that prediction uses when training.ema_decay > 0."""
from __future__ import annotations

import torch
from torch import nn

from autosr.training.components import ema_model


def test_ema_follows_the_decay_and_zero_turns_it_off():
    net = nn.Linear(2, 1, bias=False)
    assert ema_model(net, 0.0) is None
    ema = ema_model(net, 0.9)
    with torch.no_grad():
        net.weight.fill_(1.0)
    ema.update_parameters(net)                      # the first update copies the weights
    with torch.no_grad():
        net.weight.fill_(3.0)
    ema.update_parameters(net)                      # then 0.9 · old + 0.1 · new
    assert torch.allclose(ema.module.weight, torch.full((1, 2), 1.2)) and int(ema.n_averaged) == 2
    assert torch.equal(net.weight, torch.full((1, 2), 3.0))     # the trained weights are untouched
