"""The checkpoint format, shared by training (which writes it) and prediction (which reads it).

A checkpoint is a dict of tensors, numbers, strings, lists and dicts only (see
``documentation/internals.md``): ``generator`` (state dict), ``generator_config``
(``{"name", **kwargs}`` for :func:`build_network`), ``identity`` (dataset, plans, configuration,
channels, ``scale_max``), and, in training checkpoints, ``critic``, ``critic_config``, optimiser and
scheduler states, ``step``, ``phase``, ``rng`` (all as tensors), the resolved ``configuration`` and
the ``overrides`` that produced it. Saving is atomic; loading never runs code (``weights_only=True``).
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from autosr.dataset import atomic_file
from autosr.errors import AutoSRError

CHECKPOINT_NAMES = ("checkpoint_final.pth", "checkpoint_best.pth", "checkpoint_latest.pth")
REQUIRED_KEYS = ("generator", "generator_config", "identity")


class CheckpointError(AutoSRError):
    """A checkpoint file is missing, corrupt, or belongs to another dataset / configuration."""


def build_network(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered network (``autosr.networks.build_network``), turning bad kwargs into a clear error."""
    from autosr.networks import build_network as _build
    try:
        return _build(name, **kwargs)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"cannot build network {name!r} with {kwargs}: {exc}") from None


# -- save / load ------------------------------------------------------------------------------
def save_checkpoint(state: Mapping[str, Any], path: os.PathLike | str) -> Path:
    """Write ``state`` to ``path`` atomically: a temporary file beside it, fsync, then rename.

    An interrupted write never leaves a truncated checkpoint under the final name.
    """
    path = Path(path)
    # Serialised in memory first: torch.save turns a full disk into "file write failed" with no
    # errno, while a plain write raises the OSError (ENOSPC, EROFS…) the user needs to see.
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    with atomic_file(path, sync=True) as f:
        f.write(buffer.getbuffer())
    return path


def load_checkpoint(path: os.PathLike | str, map_location: Any = "cpu") -> Dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; corrupt or foreign files raise :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        with warnings.catch_warnings():  # a foreign pickle's protocol: the refusal below says what matters
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle, zip and unpickler errors all mean the same to the user
        raise CheckpointError(f"{path}: not a readable AutoSR checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}). The file is corrupt or "
                              f"truncated; delete it, or use another checkpoint of the fold") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: not an AutoSR checkpoint (holds a {type(ckpt).__name__}, not a dict)")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: not an AutoSR checkpoint (missing {', '.join(missing)})")
    return ckpt


def find_checkpoint(folder: os.PathLike | str, names: Sequence[str] = CHECKPOINT_NAMES) -> Optional[Path]:
    """The first of ``names`` that exists in ``folder``, else ``None``."""
    for name in names:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    return None


# -- generators from checkpoints -------------------------------------------------------------
def load_generator(source: os.PathLike | str, device: Any = "cpu") -> Tuple[nn.Module, Dict[str, Any]]:
    """Load a trained generator from a fold folder (final, else best, else latest checkpoint) or a file.

    Returns ``(generator in eval mode on device, checkpoint dict)``; the dict's ``identity`` holds
    the dataset, plans, configuration, channels and ``scale_max`` the model was trained for.
    """
    source = Path(source)
    path = find_checkpoint(source) if source.is_dir() else source
    if path is None:
        raise CheckpointError(f"{source}: no checkpoint found (looked for {', '.join(CHECKPOINT_NAMES)}); "
                              f"train this fold first with autosr_train")
    ckpt = load_checkpoint(path, map_location="cpu")
    return generator_from_checkpoint(ckpt, device, path), ckpt


def generator_from_checkpoint(ckpt: Mapping[str, Any], device: Any = "cpu", path: os.PathLike | str = "checkpoint"
                              ) -> nn.Module:
    """Build the generator described by a loaded checkpoint and load its weights (eval mode)."""
    cfg = dict(ckpt["generator_config"])
    model = build_network(cfg.pop("name"), **cfg)
    try:
        model.load_state_dict(ckpt["generator"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: generator weights do not fit its generator_config ({exc})") from None
    return model.to(device).eval()



__all__ = ["CheckpointError", "CHECKPOINT_NAMES", "build_network", "save_checkpoint", "load_checkpoint",
           "find_checkpoint", "load_generator", "generator_from_checkpoint"]
