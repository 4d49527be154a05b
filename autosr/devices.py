"""``--device`` of every command: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, checked in one place.

A low-level module (it imports only torch and :mod:`autosr.errors`), so training, inference,
evaluation and the commands share one parser and one set of messages:

    parse_device("cuda:1")   # torch.device("cuda", 1) when that GPU exists, else DeviceError
"""
from __future__ import annotations

import re
from typing import Optional, Union

import torch

from autosr.errors import AutoSRError

_CUDA_RE = re.compile(r"cuda(?::(\d+))?")


class DeviceError(AutoSRError):
    """A ``--device`` that does not exist on this machine, or is not a device name."""


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def parse_device(device: Union[str, torch.device, None] = "auto", cuda_index: Optional[int] = None) -> torch.device:
    """The torch device of a ``--device`` value; raise :class:`DeviceError` naming it when it is absent.

    ``auto`` is CUDA, else Apple MPS, else the CPU. ``cuda`` without an index is ``cuda_index``
    when given (the process's GPU under torchrun), else the current CUDA device; ``cuda:N``
    must be below ``torch.cuda.device_count()``.
    """
    name = str(device if device is not None else "auto").strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else ("mps" if _mps_available() else "cpu")
    if name.startswith("cuda"):
        return _cuda(device, name, cuda_index)
    if name == "mps":
        if not _mps_available():
            raise DeviceError(f"--device {device}: Apple MPS is not available on this machine (use cpu or auto)")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise DeviceError(f"--device {device}: use auto, cpu, cuda (or cuda:N) or mps")


def _cuda(device: object, name: str, cuda_index: Optional[int]) -> torch.device:
    if not torch.cuda.is_available():
        raise DeviceError(f"--device {device}: CUDA is not available on this machine (use cpu or auto)")
    m = _CUDA_RE.fullmatch(name)
    count = torch.cuda.device_count()
    if m is None or int(m.group(1) or 0) >= count:
        raise DeviceError(f"--device {device}: this machine has CUDA devices cuda:0 … cuda:{count - 1}; "
                          f"name one of them, or use cuda, cpu or auto")
    if m.group(1) is not None:
        return torch.device("cuda", int(m.group(1)))
    if cuda_index is not None and cuda_index >= count:
        raise DeviceError(f"--device {device}: this process's GPU is cuda:{cuda_index} (LOCAL_RANK) but this machine "
                          f"has {count}; start at most {count} processes per machine")
    return torch.device("cuda", cuda_index) if cuda_index is not None else torch.device("cuda")


def has_index(device: Union[str, torch.device, None]) -> bool:
    """Whether a ``--device`` value names one GPU (``cuda:1``) rather than a kind (``cuda``, ``auto``)."""
    return ":" in str(device or "")


__all__ = ["DeviceError", "parse_device", "has_index"]
