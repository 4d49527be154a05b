"""Registry and every registered network."""
from __future__ import annotations

import inspect

import pytest
import torch

from autosr.networks import build_network, list_networks
from autosr.registry import LOSSES, NETWORKS, Registry

#: Keyword arguments that keep any registered network tiny, applied where its signature has them.
SMALL = {"width": 8, "depth": 2, "mlp_hidden": 16, "base_width": 4, "num_blocks": 2, "head_width": 8}


def test_expected_networks_registered():
    assert {"MetaSR", "WGANCritic"} <= set(list_networks())


@pytest.mark.parametrize("name", list_networks())
def test_every_network_builds_and_runs(name):
    params = inspect.signature(NETWORKS.get(name)).parameters
    kwargs = {k: v for k, v in SMALL.items() if k in params}
    net = build_network(name, in_channels=1, **kwargs)
    x = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        y = net(x, 2.5) if "scale" in inspect.signature(net.forward).parameters else net(x)
    assert torch.isfinite(y).all()


def test_unknown_name_lists_valid_names():
    with pytest.raises(KeyError) as err:
        build_network("MetaSRR", in_channels=1)
    assert "MetaSR" in str(err.value) and "WGANCritic" in str(err.value)


def test_unknown_kwarg_lists_valid_kwargs():
    with pytest.raises(TypeError) as err:
        build_network("MetaSR", in_channels=1, widht=8)
    msg = str(err.value)
    assert "widht" in msg and "width" in msg and "depth" in msg


def test_missing_required_kwarg():
    with pytest.raises(TypeError, match="in_channels"):
        build_network("WGANCritic")


def test_registry_basics():
    reg = Registry("thing")

    @reg.register()
    def make(a: int, b: int = 2):
        return a + b

    @reg.register("other")
    class Other:
        pass

    assert reg.names() == ["make", "other"] and "make" in reg and len(reg) == 2
    assert reg.get("make") is make and reg.build("make", a=1) == 3
    with pytest.raises(KeyError):
        reg.register("make")(lambda: None)


def test_losses_registered():
    import autosr.losses  # noqa: F401
    assert {"L1Loss", "PerceptualLoss", "WGANGP", "WGAN", "VanillaGAN", "RaGAN"} <= set(LOSSES.names())
    assert LOSSES.build("L1Loss", loss_weight=2.0).loss_weight == 2.0


def test_network_from_a_user_file_by_module_colon_class(tmp_path):
    """Plans may name a network outside AutoSR as ``path/file.py:Class`` (documentation/extending.md)."""
    import torch

    from autosr.networks import build_network

    (tmp_path / "my_nets.py").write_text(
        "from torch import nn\n"
        "from autosr.degradation import upsample\n"
        "class Bicubicish(nn.Module):\n"
        "    def __init__(self, in_channels, gain=1.0):\n"
        "        super().__init__(); self.conv = nn.Conv2d(in_channels, in_channels, 1); self.gain = gain\n"
        "    def forward(self, x, scale):\n"
        "        return upsample(self.conv(x) * self.gain, scale)\n")
    net = build_network(f"{tmp_path / 'my_nets.py'}:Bicubicish", in_channels=2)
    assert net(torch.rand(1, 2, 8, 10), 2.5).shape == (1, 2, 20, 25)
    with pytest.raises(TypeError, match="gain"):
        build_network(f"{tmp_path / 'my_nets.py'}:Bicubicish", in_channels=2, gian=2.0)
    with pytest.raises(KeyError, match="not found"):
        build_network(f"{tmp_path / 'my_nets.py'}:Missing", in_channels=2)
