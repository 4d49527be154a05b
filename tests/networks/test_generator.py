"""MetaSR generator and EDSR-lite body."""
from __future__ import annotations

import math

import pytest
import torch

from autosr.degradation import upsample
from autosr.networks import EDSRLiteBody, MetaSRGenerator
from autosr.scales import sr_size


@pytest.mark.parametrize("scale", [1.5, 2.3, 2.7, 3.7, 4, math.pi])
@pytest.mark.parametrize("channels", [1, 4])
def test_output_shape(scale, channels):
    g = MetaSRGenerator(channels, width=8, depth=2, mlp_hidden=16)
    with torch.no_grad():
        y = g(torch.rand(2, channels, 11, 13), scale)
    assert y.shape == (2, channels, sr_size(11, scale), sr_size(13, scale))
    assert torch.isfinite(y).all()


def test_out_channels_and_feature_methods():
    g = MetaSRGenerator(2, out_channels=1, width=8, depth=1, mlp_hidden=8)
    x = torch.rand(1, 2, 6, 7)
    feats = g.forward_features(x)
    assert feats.shape == (1, 8, 6, 7)
    assert torch.allclose(g.upscale(feats, x, 2.5), g(x, 2.5))
    assert g(x, 2.5).shape == (1, 1, 15, 17)


def test_bias_false_has_no_bias_parameters():
    g = MetaSRGenerator(1, width=8, depth=2, mlp_hidden=8, bias=False)
    assert not [n for n, _ in g.named_parameters() if n.endswith("bias")]
    assert [n for n, _ in MetaSRGenerator(1, width=8, depth=2, mlp_hidden=8).named_parameters() if n.endswith("bias")]


def test_body_structure_and_init_scale():
    body = EDSRLiteBody(1, width=16, depth=16)
    assert len(body.blocks) == 16 and not any(isinstance(m, torch.nn.BatchNorm2d) for m in body.modules())
    torch.manual_seed(0)
    x = torch.rand(2, 1, 24, 24) - 0.5
    with torch.no_grad():
        head = body.head(x)
        out = body(x)
    # With the residual-branch init scale the untrained body keeps its input's magnitude.
    assert out.std() < 10 * head.std()


def test_bicubic_skip_starts_at_bicubic():
    torch.manual_seed(0)
    g = MetaSRGenerator(1, width=8, depth=2, mlp_hidden=16, upsample_skip="bicubic")
    x = torch.rand(2, 1, 12, 10)
    with torch.no_grad():
        y = g(x, 2.3)
    ref = upsample(x, 2.3)
    assert y.shape == ref.shape
    assert (y - ref).abs().max() < 0.05


def test_training_step_changes_output():
    torch.manual_seed(0)
    g = MetaSRGenerator(1, width=8, depth=1, mlp_hidden=8, upsample_skip="bicubic")
    x, hr = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 20, 20)
    opt = torch.optim.Adam(g.parameters(), lr=1e-2)
    before = torch.nn.functional.l1_loss(g(x, 2.5), hr).item()
    for _ in range(5):
        opt.zero_grad()
        loss = torch.nn.functional.l1_loss(g(x, 2.5), hr)
        loss.backward()
        opt.step()
    assert loss.item() < before
    assert all(p.grad is not None for p in g.parameters())


def test_bad_arguments():
    with pytest.raises(ValueError):
        MetaSRGenerator(1, upsample_skip="bilinear")
    with pytest.raises(ValueError):
        MetaSRGenerator(2, out_channels=1, upsample_skip="bicubic")
