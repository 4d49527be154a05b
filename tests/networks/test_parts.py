"""Every registered body × upsampler, built into a generator: shapes at any and per-axis scales, tiling by the
declared receptive radius, a few training steps, a weights-only checkpoint that predicts.

Parametrised over the registries, so a part is tested by being registered.
"""
from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
import torch

from autosr.checkpoint import load_generator, save_checkpoint
from autosr.inference import tiling
from autosr.networks import MetaSRGenerator
from autosr.registry import BODIES, UPSAMPLERS
from autosr.scales import axis_scales, sr_size

COMBINATIONS = list(itertools.product(BODIES.names(), UPSAMPLERS.names()))
TINY = {"in_channels": 2, "width": 8, "depth": 2, "mlp_hidden": 16, "upsample_skip": "bicubic", "per_axis_scale": True}


def _net(body: str, upsampler: str, seed: int = 0) -> MetaSRGenerator:
    torch.manual_seed(seed)
    return MetaSRGenerator(body=body, upsampler=upsampler, **TINY)


def test_the_papers_parts_are_registered():
    assert {"EDSRLite"} <= set(BODIES.names()) and {"MetaUpscale"} <= set(UPSAMPLERS.names())


@pytest.mark.parametrize("body,upsampler", COMBINATIONS)
@pytest.mark.parametrize("scale", [2.5, 3.7, (1, 2.5), (3, 1)], ids=str)
def test_shapes_and_declarations(body, upsampler, scale):
    net = _net(body, upsampler).eval()
    x = torch.rand(1, 2, 13, 11)
    with torch.no_grad():
        y = net(x, scale)
    s_h, s_w = axis_scales(scale)
    assert y.shape == (1, 2, sr_size(13, s_h), sr_size(11, s_w))
    assert net.receptive_radius >= 1 and net.bytes_per_lr_pixel(scale) > 0
    assert net.bytes_per_lr_pixel(4) > net.bytes_per_lr_pixel(2)  # the refined side grows with the scale


@pytest.mark.parametrize("body,upsampler", COMBINATIONS)
@pytest.mark.parametrize("scale", [Fraction(5, 2), (Fraction(4), Fraction(1))], ids=str)
def test_tiled_equals_untiled_with_the_declared_halo(body, upsampler, scale):
    net = _net(body, upsampler, seed=1).eval()
    halo = net.receptive_radius
    (q_h, q_w) = (f.denominator for f in axis_scales(scale))
    tile = 2 * halo + tiling.DEFAULT_RAMP + max(q_h, q_w) + 5
    x = torch.rand(1, 2, tile + 9, tile + 14)  # two windows along each axis
    with torch.no_grad():
        full = net(x, scale)
        tiled = tiling.run_tiled(lambda t: net(t, scale), x, scale, (tile, tile), halo)
    assert len(tiling.windows_1d(x.shape[2], tile, halo, q_h)) > 1
    torch.testing.assert_close(tiled, full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("body,upsampler", COMBINATIONS)
def test_training_steps_lower_the_loss_and_the_checkpoint_predicts(body, upsampler, tmp_path):
    net = _net(body, upsampler, seed=2)
    torch.manual_seed(3)
    hr = torch.rand(4, 2, 24, 24)
    hr = torch.nn.functional.avg_pool2d(hr, 3, 1, 1)  # some structure to learn
    lr = torch.nn.functional.interpolate(hr, size=(12, 12), mode="area")
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(30):
        loss = (net(lr, 2) - hr).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-5:]) < sum(losses[:5])
    config = {"name": "MetaSR", "body": body, "upsampler": upsampler, **TINY}
    path = save_checkpoint({"generator": net.state_dict(), "generator_config": config,
                            "identity": {"num_channels": 2}}, tmp_path / "c.pth")
    loaded, _ = load_generator(path, "cpu")  # torch.load(weights_only=True)
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(lr, 2.5), net(lr, 2.5))


@pytest.mark.parametrize("body", BODIES.names())
def test_acquisition_codes_need_a_modulated_body(body):
    kwargs = dict(TINY, acquisitions=["paper", "kspace"])
    if getattr(BODIES.get(body), "supports_film", False):
        net = MetaSRGenerator(body=body, **kwargs)
        assert net(torch.rand(1, 2, 8, 8), 2, "kspace").shape == (1, 2, 16, 16)
    else:
        with pytest.raises(ValueError, match="train it blind"):
            MetaSRGenerator(body=body, **kwargs)


def test_subpixel_reaches_any_scale_by_up_and_down():
    """×2 runs its branch exactly; 2.5 runs ×3 and comes down to 2.5: equal to bicubic resampling of ×3."""
    from autosr.degradation import downsample
    from autosr.networks.subpixel import SubPixelUpsampler
    torch.manual_seed(0)
    up = SubPixelUpsampler(in_features=4, out_channels=1, scales=(2, 3, 4)).eval()
    f = torch.rand(1, 4, 10, 12)
    with torch.no_grad():
        assert up(f, 2).shape == (1, 1, 20, 24) and up.branch_factor(2) == 2 and up.branch_factor(2.1) == 3
        x3 = up(f, 3)
        torch.testing.assert_close(up(f, 2.5), downsample(x3, Fraction(6, 5)))
        assert up(f, (1, 3.5)).shape == (1, 1, 10, 42)
    with pytest.raises(ValueError, match="above the largest sub-pixel branch"):
        SubPixelUpsampler(4, 1, scales=(2,))(f, 3)


def test_parts_from_outside_the_package(tmp_path):
    """documentation/examples/my_parts.py: a body and an upsampler named as file.py:Class, trained a step,
    saved, loaded with weights_only and tiled by their declarations."""
    from pathlib import Path
    example = Path(__file__).resolve().parents[2] / "documentation" / "examples" / "my_parts.py"
    body, up = f"{example}:PlainBody", f"{example}:NearestConv"
    config = dict(TINY, body=body, upsampler=up)
    net = MetaSRGenerator(**config)
    assert net.receptive_radius == 2 + 2 + 2 and net(torch.rand(1, 2, 9, 7), (2.5, 1)).shape == (1, 2, 22, 7)
    loss = (net(torch.rand(2, 2, 8, 8), 2) - torch.rand(2, 2, 16, 16)).abs().mean()
    loss.backward()
    path = save_checkpoint({"generator": net.state_dict(), "generator_config": {"name": "MetaSR", **config},
                            "identity": {"num_channels": 2}}, tmp_path / "c.pth")
    loaded, _ = load_generator(path, "cpu")
    x = torch.rand(1, 2, 40, 44)
    halo = loaded.receptive_radius
    with torch.no_grad():
        tiled = tiling.run_tiled(lambda t: loaded(t, 3), x, 3, (2 * halo + tiling.DEFAULT_RAMP + 6,) * 2, halo)
        torch.testing.assert_close(tiled, net.eval()(x, 3), rtol=1e-5, atol=1e-5)


def test_a_part_that_needs_a_size_multiple_is_padded_and_tiled_on_it(tmp_path):
    """documentation/examples/my_parts.py's PooledBody declares size_multiple 2: the generator passes it on, the
    predictor pads odd slices to it and starts tiles on it, so tiled equals untiled and every shape is exact."""
    from pathlib import Path
    from autosr.inference.predictor import Predictor
    from tests.inference.helpers import make_model_folder
    example = Path(__file__).resolve().parents[2] / "documentation" / "examples" / "my_parts.py"
    net = {"name": "MetaSR", "width": 8, "depth": 2, "mlp_hidden": 16, "upsample_skip": "bicubic",
           "per_axis_scale": True, "body": f"{example}:PooledBody"}
    folder = make_model_folder(tmp_path, net=net)
    whole = Predictor.from_model_folder(folder, folds=(0,), device="cpu", progress=False)
    assert whole.size_multiple == 2 and whole.networks[0].size_multiple == 2
    x = torch.rand(2, 1, 45, 39)
    with pytest.raises(ValueError, match="needs even sizes"):
        whole.networks[0](x, 2)  # the part itself refuses odd sizes
    for scale in (Fraction(5, 2), (Fraction(3), Fraction(1))):
        full = whole.super_resolve(x, scale)
        s_h, s_w = axis_scales(scale)
        assert full.shape == (2, 1, sr_size(45, s_h), sr_size(39, s_w))
        tiled = Predictor.from_model_folder(folder, folds=(0,), device="cpu", progress=False,
                                            memory_budget=60_000)  # forces several tiles per axis
        plan = tiling.plan_tiles(45, 39, tiled.batch_size, tiled.networks[0].bytes_per_lr_pixel(scale),
                                 tiled.memory_budget, tiled.halo, (2, 2))
        assert plan.is_tiled(45, 39)
        torch.testing.assert_close(torch.as_tensor(tiled.super_resolve(x, scale)), torch.as_tensor(full),
                                   rtol=1e-5, atol=1e-5)
