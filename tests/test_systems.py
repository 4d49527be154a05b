"""The papers' systems: each, made tiny, builds, predicts any and per-axis scales, tiles by its declarations, trains
and reloads from a weights-only checkpoint; the sizes MIASSR's Table 1 gives are met where its papers define them."""
from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

import pytest
import torch

from autosr.checkpoint import load_generator, save_checkpoint
from autosr.inference import tiling
from autosr.networks import build_network
from autosr.scales import axis_scales, sr_size
from autosr.systems import SYSTEMS, parameter_count


def tiny_config(name: str) -> dict:
    """The system's generator at a test's size: its parts and model layout kept."""
    config = dict(SYSTEMS[name].generator_config(in_channels=2), width=8, depth=2, mlp_hidden=16,
                  upsample_skip="bicubic")
    if "body_args" in config:
        config["body_args"] = {k: (4 if k == "growth" else 2) for k in config["body_args"]}
    return config


def tiny(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_network(**tiny_config(name))


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_every_system_predicts_any_and_per_axis_scales(name):
    net = tiny(name).eval()
    x = torch.rand(1, 2, 13, 11)
    for scale in (2.5, 3.7, (1, 2.5), (3.5, 2)):
        with torch.no_grad():
            y = net(x, scale)
        s_h, s_w = axis_scales(scale)
        assert y.shape == (1, 2, sr_size(13, s_h), sr_size(11, s_w)), scale
        assert net.bytes_per_lr_pixel(scale) > 0
    assert net.receptive_radius >= 1


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_every_system_tiles_exactly_with_its_declared_halo(name):
    net = tiny(name, seed=1).eval()
    halo, scale = net.receptive_radius, Fraction(5, 2)
    tile = 2 * halo + tiling.DEFAULT_RAMP + 2 + 5
    x = torch.rand(1, 2, tile + 9, tile + 14)
    with torch.no_grad():
        torch.testing.assert_close(tiling.run_tiled(lambda t: net(t, scale), x, scale, (tile, tile), halo),
                                   net(x, scale), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_every_system_trains_and_its_checkpoint_predicts(name, tmp_path):
    net = tiny(name, seed=2)
    torch.manual_seed(3)
    hr = torch.nn.functional.avg_pool2d(torch.rand(4, 2, 24, 24), 3, 1, 1)
    lr = torch.nn.functional.interpolate(hr, size=(12, 12), mode="area")
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(25):
        loss = (net(lr, 2) - hr).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-5:]) < sum(losses[:5])
    path = save_checkpoint({"generator": net.state_dict(), "generator_config": tiny_config(name),
                            "identity": {"num_channels": 2}}, tmp_path / "c.pth")
    loaded, _ = load_generator(path, "cpu")  # torch.load(weights_only=True)
    net.eval()
    with torch.no_grad():
        for s in (2, 2.5, 4):
            torch.testing.assert_close(loaded(lr, s), net(lr, s))


def test_a_per_scale_system_holds_a_model_per_integer_scale_and_trains_only_the_batchs():
    """EDSR: ×2, ×3, ×4 models; s = 2.5 runs the ×3 model (up-and-down); a step at ×2 changes the ×2 model only."""
    net = tiny("EDSR")
    assert sorted(net.models) == ["2", "3", "4"] and net.model_for(2.5) is net.models["3"]
    assert net.model_for((1, 2)) is net.models["2"] and net.model_for(3.01) is net.models["4"]
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in net.models.items()}
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    (net(torch.rand(2, 2, 8, 8), 2) - torch.rand(2, 2, 16, 16)).abs().mean().backward()
    opt.step()
    changed = {k: any(not torch.equal(a, b) for a, b in zip(before[k], m.parameters())) for k, m in net.models.items()}
    assert changed == {"2": True, "3": False, "4": False}


def test_parameter_counts_count_every_model_a_system_needs():
    config = SYSTEMS["SRResNet"].generator_config()
    config.pop("scales")
    singles = [sum(p.numel() for p in build_network(**dict(config, name="MetaSR", upsampler_args={"scales": [k]}))
                   .parameters()) for k in (2, 3, 4)]
    assert parameter_count(SYSTEMS["SRResNet"]) == (sum(singles), 3)
    assert parameter_count(SYSTEMS["MDSR"])[1] == 1  # one shared body with three branches


@pytest.mark.parametrize("name,table1", [("MIASSR", 1.5), ("EDSR", 127.5), ("MDSR", 6.7), ("SRGAN", 4.5)])
def test_parameter_counts_match_miassr_table_1(name, table1):
    total, _ = parameter_count(SYSTEMS[name])
    assert SYSTEMS[name].table1 == table1
    assert abs(total / 1e6 - table1) <= 0.1 * table1


def test_system_overrides_say_what_changes():
    planned = SimpleNamespace(network={"width": 32, "depth": 8, "mlp_hidden": 256}, scales=SimpleNamespace(max=4.0),
                              patch=SimpleNamespace(size=(64, 64), min_lr_patch=12))
    o, said = SYSTEMS["MetaRDN"].overrides(True, planned)
    assert o["network.body"] == "RDN" and o["network.width"] == 32 and o["network.depth"] == 8
    assert o["network.body_args"] == {"growth": 16, "layers": 4} and o["network.acquisitions"] == []
    assert o["degradation.told_probability"] == 0 and o["training.gan_steps"] == 0
    assert "scaled down" in said and "trained blind" in said and "L1 only" in said
    o, said = SYSTEMS["MIASSR"].overrides(False, planned)
    assert o["network.width"] == 64 and o["training.lr"] == 1e-4
    assert o["patch.batch_size"] == 16 and o["patch.size"] == [96, 96]
    assert [e["name"] for e in o["training.losses"]] == ["L1Loss", "PerceptualLoss", "WGANGP"]
    o, said = SYSTEMS["MESR"].overrides(False, planned)
    assert o["training.lr"] == 4e-4 and o["patch.batch_size"] == 8 and o["network.bias"] is False
    assert "network.acquisitions" not in o  # EDSR-lite keeps the planned acquisition codes
    o, said = SYSTEMS["MDSR"].overrides(False, planned)
    assert o["network.upsampler"] == "SubPixel" and o["scales.single_axis_probability"] == 0
    assert o["scales.step"] == 1 and o["network.upsampler_args"] == {"scales": [2, 3, 4]} and "up-and-down" in said
    o, said = SYSTEMS["RDN"].overrides(True, SimpleNamespace(**{**vars(planned), "scales": SimpleNamespace(max=3.0)}))
    assert o["network.name"] == "PerScale" and o["network.scales"] == [2, 3] and o["scales.max"] == 3
    assert "one model per integer scale ×2, ×3" in said
    # 40-px patches hold ×3 LR patches of 13 px but not ×4 ones (10 < 12): the models stop at ×3
    small = SimpleNamespace(**{**vars(planned), "scales": SimpleNamespace(max=3.3),
                               "patch": SimpleNamespace(size=(40, 40), min_lr_patch=12)})
    o, said = SYSTEMS["EDSR"].overrides(True, small)
    assert o["network.scales"] == [2, 3] and o["scales.max"] == 3 and "too small for ×4" in said


def test_a_variant_trains_a_system_with_another_objective():
    """MIASSR Figs. 7–8: SYSTEM+OBJECTIVE keeps the system and swaps its losses."""
    from autosr.systems import get_system
    planned = SimpleNamespace(network={"width": 32, "depth": 8}, scales=SimpleNamespace(max=4.0),
                              patch=SimpleNamespace(size=(64, 64), min_lr_patch=12))
    o, _ = get_system("MIASSR+RaGAN").overrides(True, planned)
    assert [e["name"] for e in o["training.losses"]] == ["L1Loss", "PerceptualLoss", "RaGAN"]
    o, said = get_system("Meta-SRResNet+WGANGP").overrides(True, planned)
    assert o["network.body"] == "SRResNet" and o["training.losses"][-1]["name"] == "WGANGP" and "gan_steps" not in str(o)
    o, said = get_system("MIASSR+L1").overrides(True, planned)
    assert o["training.losses"] == [{"name": "L1Loss", "weight": 1.0}] and o["training.gan_steps"] == 0
    with pytest.raises(KeyError, match="VARIANT one of WGANGP"):
        get_system("MIASSR+Hinge")
