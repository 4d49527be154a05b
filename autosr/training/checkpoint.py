"""Checkpoints: atomic save, safe load (``weights_only=True``), identity checks, RNG states.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts only (see
``documentation/internals.md``): ``generator`` (state dict), ``generator_config``
(``{"name", **kwargs}`` for :func:`build_network`), ``critic``, ``critic_config``, optimiser and
scheduler states, ``step``, ``phase``, ``rng`` (all as tensors), ``identity``, the resolved
``configuration`` and the ``overrides`` that produced it.
"""
from __future__ import annotations

import io
import os
import random
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from autosr.dataset import named
from autosr.training.errors import CheckpointError

CHECKPOINT_NAMES = ("checkpoint_final.pth", "checkpoint_best.pth", "checkpoint_latest.pth")
REQUIRED_KEYS = ("generator", "generator_config", "identity")
#: Identity keys that must match when a run is continued or validated from a checkpoint.
RESUME_KEYS = ("dataset_name", "plans_name", "configuration", "trainer", "num_channels", "fold")


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name, suffix=".partial", dir=path.parent)
    try:
        # Serialised in memory first: torch.save turns a full disk into "file write failed" with no
        # errno, while a plain write raises the OSError (ENOSPC, EROFS…) the user needs to see.
        buffer = io.BytesIO()
        torch.save(dict(state), buffer)
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        raise named(exc, path)
    return path


def load_checkpoint(path: os.PathLike | str, map_location: Any = "cpu") -> Dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; corrupt or foreign files raise :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
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


def remove_partials(folder: os.PathLike | str) -> List[Path]:
    """Delete the hidden ``.NAME*.partial`` files that an interrupted atomic write left in ``folder``."""
    found = sorted(Path(folder).glob(".*.partial"))
    for path in found:
        path.unlink(missing_ok=True)
    return found


def find_checkpoint(folder: os.PathLike | str, names: Sequence[str] = CHECKPOINT_NAMES) -> Optional[Path]:
    """The first of ``names`` that exists in ``folder``, else ``None``."""
    for name in names:
        if (Path(folder) / name).is_file():
            return Path(folder) / name
    return None


def check_identity(identity: Mapping[str, Any], expected: Mapping[str, Any], path: os.PathLike | str,
                   keys: Iterable[str] = RESUME_KEYS) -> None:
    """Raise :class:`CheckpointError` when the checkpoint's identity differs from the run's in ``keys``."""
    diffs = [f"{k}: checkpoint {identity.get(k)!r}, this run {expected.get(k)!r}"
             for k in keys if k in expected and identity.get(k) != expected.get(k)]
    if not diffs:
        return
    hint = ("To start from another dataset's model use --pretrained_weights CKPT (input/output layers "
            "are re-initialised when the channel count differs)")
    raise CheckpointError(f"{path}: checkpoint does not belong to this run ({'; '.join(diffs)}). {hint}")


# -- random number generator states as tensors -----------------------------------------------
def capture_rng_state(extra: Optional[Mapping[str, torch.Generator]] = None) -> Dict[str, Any]:
    """Torch (CPU and CUDA), NumPy and Python global RNG states, plus named generators, as tensors."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: Dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": torch.tensor(random.getstate()[1], dtype=torch.int64),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": {name: g.get_state() for name, g in (extra or {}).items()},
    }
    return state


def restore_rng_state(state: Mapping[str, Any], extra: Optional[Mapping[str, torch.Generator]] = None) -> None:
    """Inverse of :func:`capture_rng_state` (named generators missing from ``state`` are left alone)."""
    torch.set_rng_state(state["torch"].cpu())
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    random.setstate((3, tuple(int(v) for v in state["python"].tolist()), None))
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    for name, g in (extra or {}).items():
        if name in state.get("generators", {}):
            g.set_state(state["generators"][name].cpu())


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


def channel_dependent_keys(config: Mapping[str, Any], channels_a: int, channels_b: int) -> List[str]:
    """Parameter names whose shape changes with the image channel count (input and output layers).

    Found by building the architecture twice on the meta device (no memory) and comparing shapes,
    so it works for any registered network that takes ``in_channels``/``out_channels``.
    """
    cfg = {k: v for k, v in config.items() if k not in ("name", "in_channels", "out_channels")}
    with torch.device("meta"):
        a = build_network(config["name"], in_channels=channels_a, **cfg).state_dict()
        b = build_network(config["name"], in_channels=channels_b, **cfg).state_dict()
    return [k for k in a if k in b and a[k].shape != b[k].shape]


def transfer_weights(model: nn.Module, state: Mapping[str, torch.Tensor], pretrained_config: Mapping[str, Any],
                     num_channels: int, path: os.PathLike | str) -> List[str]:
    """Load ``state`` (another dataset's model) into ``model``; returns the re-initialised keys.

    Keys whose shape depends on the channel count keep ``model``'s fresh initialisation when the
    channel counts differ; any other mismatch (a different width or depth) is an error that names
    the pretrained architecture, so the user can match it with ``-o network.width=…``.
    """
    own = model.state_dict()
    pre_channels = int(pretrained_config.get("in_channels", num_channels))
    allowed = set(channel_dependent_keys(pretrained_config, pre_channels, num_channels)) \
        if pre_channels != num_channels else set()
    mismatched = [k for k in own if k not in state or state[k].shape != own[k].shape]
    unexpected = [k for k in state if k not in own]
    bad = [k for k in mismatched if k not in allowed] + unexpected
    if bad:
        shown = ", ".join(bad[:4]) + (" …" if len(bad) > 4 else "")
        arch = {k: v for k, v in pretrained_config.items() if k not in ("in_channels", "out_channels")}
        raise CheckpointError(f"{path}: pretrained generator does not fit this configuration's network "
                              f"({len(bad)} parameter(s) differ: {shown}). The pretrained network is {arch}; "
                              f"match it with -o network.KEY=VALUE")
    model.load_state_dict({k: (own[k] if k in mismatched else state[k]) for k in own})
    return mismatched


__all__ = ["save_checkpoint", "load_checkpoint", "find_checkpoint", "check_identity", "capture_rng_state",
           "restore_rng_state", "remove_partials", "load_generator", "generator_from_checkpoint", "transfer_weights",
           "channel_dependent_keys", "build_network", "CHECKPOINT_NAMES", "RESUME_KEYS"]
