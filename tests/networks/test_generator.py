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


def _conditioned(**kw):
    torch.manual_seed(0)
    return MetaSRGenerator(1, width=8, depth=2, mlp_hidden=8, acquisitions=("paper", "kspace"), **kw)


def test_acquisition_codes_start_as_the_plain_network_and_learn_apart():
    g = _conditioned()
    torch.manual_seed(0)
    plain = MetaSRGenerator(1, width=8, depth=2, mlp_hidden=8)
    plain.load_state_dict({k: v for k, v in g.state_dict().items() if not k.startswith("film.")})
    x = torch.rand(3, 1, 9, 10)
    with torch.no_grad():  # zero modulation at initialisation: every code is today's network
        for acq in (None, "paper", "kspace", ["kspace", None, "paper"]):
            assert torch.equal(g(x, 2.5, acq), plain(x, 2.5))
    # trained to map the same input to different targets by code, the codes come apart
    opt = torch.optim.Adam(g.parameters(), lr=1e-2)
    hr = {"paper": torch.zeros(3, 1, 22, 25), "kspace": torch.ones(3, 1, 22, 25)}
    for _ in range(60):
        opt.zero_grad()
        sum(torch.nn.functional.l1_loss(g(x, 2.5, k), t) for k, t in hr.items()).backward()
        opt.step()
    with torch.no_grad():
        paper, kspace, unknown = g(x, 2.5, "paper"), g(x, 2.5, "kspace"), g(x, 2.5)
        mixed = g(x, 2.5, ["kspace", "paper", None])
    assert kspace.mean() - paper.mean() > 0.5
    # a batch of mixed codes equals each image run with its own code
    assert torch.allclose(mixed[0], kspace[0], atol=1e-5) and torch.allclose(mixed[1], paper[1], atol=1e-5)
    assert torch.allclose(mixed[2], unknown[2], atol=1e-5)


def test_acquisition_names_are_checked():
    with pytest.raises(ValueError, match="acquisitions must be distinct names from paper"):
        MetaSRGenerator(1, width=8, depth=1, acquisitions=("mri",))
    with pytest.raises(ValueError, match="distinct"):
        MetaSRGenerator(1, width=8, depth=1, acquisitions=("area", "area"))
    x = torch.rand(1, 1, 6, 6)
    with pytest.raises(ValueError, match="'ct' is not one this network was trained with \\(paper, kspace\\)"):
        _conditioned()(x, 2, "ct")
    with pytest.raises(ValueError, match="trained blind"):
        MetaSRGenerator(1, width=8, depth=1)(x, 2, "paper")
    with pytest.raises(ValueError, match="2 acquisitions for a batch of 1"):
        _conditioned()(x, 2, ["paper", "paper"])


@pytest.mark.parametrize("scale", [(1, 4), (2.5, 1), (1.5, 3.3), 2.5])
def test_one_scale_per_axis(scale):
    """A per-axis generator refines rows and columns by their own factors, starting as bicubic."""
    g = MetaSRGenerator(1, width=8, depth=1, mlp_hidden=8, upsample_skip="bicubic", per_axis_scale=True)
    x = torch.rand(2, 1, 9, 11)
    s_h, s_w = scale if isinstance(scale, tuple) else (scale, scale)
    with torch.no_grad():
        y = g(x, scale)
    assert y.shape == (2, 1, sr_size(9, s_h), sr_size(11, s_w))
    assert (y - upsample(x, scale)).abs().max() < 0.05
    with pytest.raises(ValueError, match="per_axis_scale=True"):
        MetaSRGenerator(1, width=8, depth=1, mlp_hidden=8)(x, (1, 4))
