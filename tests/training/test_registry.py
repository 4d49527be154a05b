"""Trainers by name: registered, module:Class and path/to/file.py:Class; clear errors otherwise."""
from __future__ import annotations

import pytest

from autosr.training.errors import TrainingError
from autosr.training.registry import TRAINERS, get_trainer_class
from autosr.training.trainer import MetaSRTrainer


def test_registered_and_module_trainers():
    assert get_trainer_class("MetaSRTrainer") is MetaSRTrainer and "MetaSRTrainer" in TRAINERS
    cls = get_trainer_class("tests.training.helpers:InterruptingTrainer")
    assert issubclass(cls, MetaSRTrainer) and cls.__name__ == "InterruptingTrainer"


def test_trainer_from_a_file(tmp_path):
    f = tmp_path / "my_trainers.py"
    f.write_text("from autosr.training.trainer import MetaSRTrainer\n\n"
                 "class L1OnlyTrainer(MetaSRTrainer):\n"
                 "    def gan_step(self, lr, hr, scale):\n"
                 "        return self.warmup_step(lr, hr, scale)\n")
    cls = get_trainer_class(f"{f}:L1OnlyTrainer")
    assert issubclass(cls, MetaSRTrainer) and cls.__name__ == "L1OnlyTrainer"


@pytest.mark.parametrize("name, message", [
    ("MetaSRTrainr", "Did you mean 'MetaSRTrainer'"),
    ("tests.training.helpers:Nope", "not found"),
    ("no_such_module_xyz:Trainer", "cannot import"),
    ("/no/such/file.py:Trainer", "does not exist"),
])
def test_unknown_trainers_are_clear_errors(name, message):
    with pytest.raises(TrainingError, match=message):
        get_trainer_class(name)
