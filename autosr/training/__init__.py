"""AutoSR training: ``train()`` (the API behind ``autosr_train``), trainers by name, checkpoints.

See ``documentation/training.md``.
"""
from autosr.checkpoint import load_checkpoint, load_generator
from autosr.training.api import default_configuration, train
from autosr.training.registry import TRAINERS, get_trainer_class

__all__ = ["train", "default_configuration", "load_generator", "load_checkpoint", "TRAINERS", "get_trainer_class"]
