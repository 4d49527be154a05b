"""What training adds to the checkpoint format (:mod:`autosr.checkpoint`): identity checks on
resume, random-number-generator states as tensors, clean-up of interrupted writes, and transfer
of another dataset's weights."""
from __future__ import annotations

import os
import random
from typing import Any, Dict, Iterable, List, Mapping, Optional

import numpy as np
import torch
from torch import nn

from autosr.checkpoint import CheckpointError, build_network

#: Identity keys that must match when a run is continued or validated from a checkpoint.
RESUME_KEYS = ("dataset_name", "plans_name", "configuration", "trainer", "num_channels", "fold")


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


def dependent_keys(config: Mapping[str, Any], a: Mapping[str, Any], b: Mapping[str, Any]) -> List[str]:
    """Parameter names whose shape or presence changes between keywords ``a`` and ``b`` of the network
    ``config`` (e.g. ``in_channels`` 1 and 2).

    Found by building the architecture twice on the meta device (no memory) and comparing, so it
    works for any registered network.
    """
    cfg = {k: v for k, v in config.items() if k not in ("name", "out_channels", *a, *b)}
    with torch.device("meta"):
        sa = build_network(config["name"], **cfg, **a).state_dict()
        sb = build_network(config["name"], **cfg, **b).state_dict()
    return sorted(k for k in set(sa) | set(sb) if k not in sa or k not in sb or sa[k].shape != sb[k].shape)


def transfer_weights(model: nn.Module, state: Mapping[str, torch.Tensor], pretrained_config: Mapping[str, Any],
                     num_channels: int, path: os.PathLike | str) -> List[str]:
    """Load ``state`` (another dataset's model) into ``model``; returns the re-initialised keys.

    Keys whose shape depends on the channel count keep ``model``'s fresh initialisation when the
    channel counts differ, and so do the acquisition codes when the two were trained with other
    acquisition kinds (a code means nothing for another kind); any other mismatch (a different
    width or depth) is an error that names the pretrained architecture, so the user can match it
    with ``-o network.width=…``.
    """
    own = model.state_dict()
    pre_channels = int(pretrained_config.get("in_channels", num_channels))
    base = {k: v for k, v in pretrained_config.items() if k != "acquisitions"}
    fresh = set(dependent_keys(base, {"in_channels": pre_channels}, {"in_channels": num_channels})) \
        if pre_channels != num_channels else set()
    own_kinds = tuple(getattr(model, "acquisitions", ()))
    if own_kinds != tuple(pretrained_config.get("acquisitions", ())):
        fresh |= set(dependent_keys({**base, "in_channels": num_channels}, {"acquisitions": ()},
                                    {"acquisitions": own_kinds or tuple(pretrained_config["acquisitions"])}))
    mismatched = [k for k in own if k not in state or state[k].shape != own[k].shape or k in fresh]
    unexpected = [k for k in state if k not in own and k not in fresh]
    bad = [k for k in mismatched if k not in fresh] + unexpected
    if bad:
        shown = ", ".join(bad[:4]) + (" …" if len(bad) > 4 else "")
        arch = {k: v for k, v in pretrained_config.items() if k not in ("in_channels", "out_channels")}
        raise CheckpointError(f"{path}: pretrained generator does not fit this configuration's network "
                              f"({len(bad)} parameter(s) differ: {shown}). The pretrained network is {arch}; "
                              f"match it with -o network.KEY=VALUE")
    model.load_state_dict({k: (own[k] if k in mismatched else state[k]) for k in own})
    return mismatched


__all__ = ["check_identity", "capture_rng_state", "restore_rng_state", "transfer_weights",
           "dependent_keys", "RESUME_KEYS"]
