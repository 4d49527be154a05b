"""Trainer variants used by the training tests (loaded by name as ``tests.training.helpers:Class``)."""
from __future__ import annotations

import os

import torch

from autosr.training import distributed as D
from autosr.training.trainer import MetaSRTrainer

#: Overrides that make a training run take seconds on one CPU thread.
TINY = {"patch.size": [24, 24], "patch.batch_size": 2, "network.width": 8, "network.depth": 2,
        "network.mlp_hidden": 16, "critic.num_blocks": 2, "critic.base_width": 4,
        "training.val_every": 3, "training.checkpoint_every": 3, "training.val_max_slices": 2,
        "training.num_workers": 0, "training.perceptual": "auto", "scales.step": 0.5,
        "scales.max": 2.0}  # ⌊24/2⌋ = 12 px LR patches, the planned minimum


class InterruptingTrainer(MetaSRTrainer):
    """Behaves like a Ctrl-C after ``STOP_AT`` steps of a fresh run (a resumed run goes to the end)."""

    STOP_AT = 3

    def initialize(self) -> None:
        super().initialize()
        self._fresh = True

    def resume(self, path, ckpt=None) -> None:
        super().resume(path, ckpt)
        self._fresh = False

    def on_step_end(self, losses) -> None:
        super().on_step_end(losses)
        if self._fresh and self.step == self.STOP_AT:
            self.stop_requested = True


class RankDumpTrainer(MetaSRTrainer):
    """Saves each rank's final generator and critic weights to ``$AUTOSR_TEST_DUMP/rank{N}.pt``."""

    def on_train_end(self) -> None:
        super().on_train_end()
        state = {"generator": D.unwrap(self.model).state_dict(), "critic": self.critic.state_dict(),
                 "world_size": self.dist.world_size, "step": self.step}
        torch.save(state, os.path.join(os.environ["AUTOSR_TEST_DUMP"], f"rank{self.dist.rank}.pt"))
