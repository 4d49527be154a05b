"""Checkpoints: atomic weights-only files, clear errors, identity checks, RNG states, transfer learning."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from autosr.checkpoint import CheckpointError, load_checkpoint, load_generator, save_checkpoint
from autosr.training.checkpoint import capture_rng_state, check_identity, restore_rng_state, transfer_weights
from autosr.training.components import build

GEN = {"name": "MetaSR", "in_channels": 1, "width": 8, "depth": 1, "mlp_hidden": 16}
IDENTITY = {"dataset_name": "Dataset001_A", "plans_name": "autosrPlans", "configuration": "2d_cpu",
            "trainer": "MetaSRTrainer", "num_channels": 1, "fold": "0"}


def test_roundtrip_weights_only_and_atomic(tmp_path):
    g = build(GEN)
    state = {"generator": g.state_dict(), "generator_config": GEN, "identity": IDENTITY,
             "rng": capture_rng_state({"data": torch.Generator().manual_seed(3)}), "step": 7, "phase": "warmup",
             "configuration": {"patch": {"size": (96, 96)}, "training": {"vgg_weights": None}}}
    path = save_checkpoint(state, tmp_path / "fold_0" / "checkpoint_latest.pth")
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint_latest.pth"]  # no temporary left behind
    torch.load(path, weights_only=True)  # plain data only
    ckpt = load_checkpoint(path)
    assert ckpt["step"] == 7 and ckpt["identity"] == IDENTITY
    model, loaded = load_generator(path.parent)
    assert not model.training and loaded["generator_config"] == GEN
    x = torch.rand(1, 1, 6, 7)
    assert model(x, 2.5).shape == (1, 1, 15, 17)
    assert torch.equal(model(x, 2.5), g.eval()(x, 2.5))


@pytest.mark.parametrize("content", [b"", b"garbage bytes, not a zip", None])
def test_corrupt_or_foreign_files_give_clear_errors(tmp_path, content):
    path = tmp_path / "checkpoint_latest.pth"
    if content is None:
        torch.save({"weights": torch.zeros(2)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match="checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pth")
    (tmp_path / "empty_fold").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_generator(tmp_path / "empty_fold")


def test_truncated_checkpoint_is_reported(tmp_path):
    path = save_checkpoint({"generator": build(GEN).state_dict(), "generator_config": GEN, "identity": IDENTITY},
                           tmp_path / "c.pth")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_identity_mismatch_suggests_pretrained_weights():
    check_identity(IDENTITY, dict(IDENTITY), "c.pth")
    other = {**IDENTITY, "dataset_name": "Dataset002_B", "num_channels": 2}
    with pytest.raises(CheckpointError, match="--pretrained_weights") as exc:
        check_identity(other, IDENTITY, "c.pth")
    assert "num_channels" in str(exc.value) and "Dataset002_B" in str(exc.value)


def test_rng_states_restore_every_stream():
    g = torch.Generator().manual_seed(1)
    state = capture_rng_state({"data": g})
    first = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(2, generator=g))
    restore_rng_state(state, {"data": g})
    again = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(2, generator=g))
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert first[2] == again[2] and torch.equal(first[3], again[3])


def test_transfer_reinitialises_only_channel_layers():
    one = build(GEN)
    two = build({**GEN, "in_channels": 2})
    before = {k: v.clone() for k, v in two.state_dict().items()}
    redone = transfer_weights(two, one.state_dict(), GEN, 2, "pre.pth")
    assert redone and all(before[k].shape != one.state_dict()[k].shape for k in redone)
    for k, v in two.state_dict().items():
        assert torch.equal(v, before[k] if k in redone else one.state_dict()[k])
    with pytest.raises(CheckpointError, match="network.KEY"):
        transfer_weights(build({**GEN, "width": 4}), one.state_dict(), GEN, 1, "pre.pth")


def test_transfer_between_other_acquisition_kinds_keeps_fresh_codes_and_the_rest():
    mr = {**GEN, "acquisitions": ["paper", "kspace"]}
    trained = build(mr)
    with torch.no_grad():
        trained.film.weight.normal_()
    for own_cfg, pre_cfg, pre in ((GEN, mr, trained), ({**GEN, "acquisitions": ["paper", "ct"]}, mr, trained),
                                  (mr, GEN, build(GEN))):
        own = build(own_cfg)
        before = {k: v.clone() for k, v in own.state_dict().items()}
        redone = transfer_weights(own, pre.state_dict(), pre_cfg, 1, "pre.pth")
        assert redone == (["film.weight"] if own_cfg.get("acquisitions") else [])
        for k, v in own.state_dict().items():  # codes start fresh (zero), everything else is transferred
            assert torch.equal(v, before[k] if k in redone else pre.state_dict()[k]), k
    same = build(mr)
    assert transfer_weights(same, trained.state_dict(), mr, 1, "pre.pth") == []
    assert torch.equal(same.film.weight, trained.film.weight)
