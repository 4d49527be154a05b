"""VGG19 feature extractor, weight resolution and the perceptual-mode switch."""
from __future__ import annotations

import pytest
import torch

from autosr.errors import AutoSRError
from autosr.losses import PerceptualLoss, perceptual_mode_resolve
from autosr.networks.vgg import CONV_LAYERS, VGGFeatureExtractor, VGGWeightsError, find_vgg19_weights, vgg19_features


@pytest.fixture(scope="module")
def vgg_checkpoint(tmp_path_factory):
    """A random VGG19 saved in torchvision's format (features + classifier keys)."""
    torch.manual_seed(0)
    feats = vgg19_features()
    state = {f"features.{k}": v for k, v in feats.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)  # ignored by the loader
    path = tmp_path_factory.mktemp("vgg") / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    return path, feats


@pytest.fixture()
def empty_hub(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return hub


def test_torchvision_indices():
    feats = vgg19_features()
    assert len(feats) == 37
    assert CONV_LAYERS["conv1_1"] == 0 and CONV_LAYERS["conv2_2"] == 7 and CONV_LAYERS["conv5_4"] == 34
    assert all(isinstance(feats[i], torch.nn.Conv2d) for i in CONV_LAYERS.values())
    keys = set(feats.state_dict())
    assert "0.weight" in keys and "34.bias" in keys and len(keys) == 32


def test_loads_checkpoint_frozen(vgg_checkpoint):
    path, feats = vgg_checkpoint
    found = find_vgg19_weights(path, allow_download=False)
    assert found == path
    ext = VGGFeatureExtractor("conv2_2", weights=found)
    assert isinstance(ext.features[-1], torch.nn.Conv2d) and len(ext.features) == 8  # pre-activation
    for i, m in enumerate(ext.features):
        if isinstance(m, torch.nn.Conv2d):
            assert torch.equal(m.weight, feats[i].weight) and torch.equal(m.bias, feats[i].bias)
    assert not any(p.requires_grad for p in ext.parameters())
    ext.train()
    assert not ext.training and not any(m.training for m in ext.modules())
    x = torch.rand(2, 1, 24, 24, requires_grad=True)
    y = ext(x)
    assert y.shape == (2, 128, 12, 12)
    y.sum().backward()  # frozen weights, but gradients still reach the input
    assert x.grad is not None and all(p.grad is None for p in ext.parameters())


def test_strict_loading_rejects_incomplete(tmp_path, vgg_checkpoint):
    path, _ = vgg_checkpoint
    state = torch.load(path, weights_only=True)
    del state["features.34.bias"]
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(VGGWeightsError, match="bad.pth: its VGG19 feature weights do not fit"):
        VGGFeatureExtractor("conv2_2", weights=bad)


def test_missing_path_is_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_vgg19_weights(tmp_path / "nope.pth")
    with pytest.raises(AutoSRError, match="nope.pth"):
        perceptual_mode_resolve("auto", tmp_path / "nope.pth", allow_download=False)


def test_hub_cache_used(empty_hub, vgg_checkpoint):
    path, _ = vgg_checkpoint
    (empty_hub / "checkpoints").mkdir(parents=True)
    cached = empty_hub / "checkpoints" / "vgg19-dcbb9e9d.pth"
    cached.write_bytes(path.read_bytes())
    assert find_vgg19_weights(None, allow_download=False) == cached


def test_perceptual_modes_without_weights(empty_hub):
    assert find_vgg19_weights(None, allow_download=False) is None
    with pytest.raises(AutoSRError, match="--perceptual auto"):
        perceptual_mode_resolve("on", None, allow_download=False)
    ext, msg = perceptual_mode_resolve("auto", None, allow_download=False)
    assert ext is None and "the perceptual loss is left out" in msg
    ext, msg = perceptual_mode_resolve("off", None, allow_download=False)
    assert ext is None and "off" in msg
    with pytest.raises(AutoSRError):
        perceptual_mode_resolve("sometimes", None)


def test_perceptual_modes_with_weights(vgg_checkpoint):
    path, _ = vgg_checkpoint
    for mode in ("on", "auto"):
        ext, msg = perceptual_mode_resolve(mode, path, allow_download=False)
        assert isinstance(ext, VGGFeatureExtractor) and str(path) in msg


def test_perceptual_loss_per_channel(vgg_checkpoint):
    path, _ = vgg_checkpoint
    ext = VGGFeatureExtractor("conv1_2", weights=path)
    loss = PerceptualLoss(ext, loss_weight=0.5)
    torch.manual_seed(0)
    hr = torch.rand(2, 3, 16, 16)
    sr = (hr + 0.1 * torch.randn_like(hr)).requires_grad_(True)
    value = loss(sr, hr)
    per_channel = torch.stack([torch.nn.functional.mse_loss(ext(sr[:, c:c + 1]), ext(hr[:, c:c + 1]))
                               for c in range(3)]).mean()
    assert torch.allclose(value, 0.5 * per_channel)
    value.backward()
    assert sr.grad is not None and torch.isfinite(sr.grad).all()
    assert loss(hr, hr).item() == 0.0
