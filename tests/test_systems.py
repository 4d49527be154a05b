"""The papers' systems: each builds and runs, and the sizes MIASSR's Table 1 gives are met where its papers define them."""
from __future__ import annotations

import pytest
import torch

from autosr.networks import build_network
from autosr.systems import SYSTEMS, parameter_count


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_every_system_builds_small_and_runs_at_any_scale(name):
    for config in SYSTEMS[name].generator_configs(in_channels=2):
        small = dict(config, width=8, depth=2, mlp_hidden=16)
        small.pop("body_args", None)
        net = build_network(**small).eval()
        top = getattr(net.upscaler, "max_scale", 4)
        with torch.no_grad():
            assert net(torch.rand(1, 2, 9, 11), min(2.5, top)).shape[-2:] == (int(9 * min(2.5, top)),
                                                                                int(11 * min(2.5, top)))


@pytest.mark.parametrize("name,table1", [("MIASSR", 1.5), ("EDSR", 127.5), ("MDSR", 6.7), ("SRGAN", 4.5)])
def test_parameter_counts_match_miassr_table_1(name, table1):
    total, _ = parameter_count(SYSTEMS[name])
    assert abs(total / 1e6 - table1) <= 0.1 * table1


def test_system_overrides_say_what_changes():
    cpu_net = {"width": 32, "depth": 8, "mlp_hidden": 256}
    o, said = SYSTEMS["MetaRDN"].overrides(True, cpu_net)
    assert o["network.body"] == "RDN" and o["network.width"] == 32 and o["network.depth"] == 8
    assert o["network.body_args"] == {"growth": 16, "layers": 4} and o["network.acquisitions"] == []
    assert o["degradation.told_probability"] == 0 and o["training.gan_steps"] == 0
    assert "scaled down" in said and "trained blind" in said and "L1 only" in said
    o, said = SYSTEMS["MIASSR"].overrides(False, cpu_net)
    assert o["network.width"] == 64 and o["training.lr"] == 1e-4 and o["training.adversarial"] == "WGANGP"
    assert "network.acquisitions" not in o  # EDSR-lite keeps the planned acquisition codes
    o, _ = SYSTEMS["MDSR"].overrides(False, cpu_net)
    assert o["network.upsampler"] == "SubPixel" and o["scales.single_axis_probability"] == 0
