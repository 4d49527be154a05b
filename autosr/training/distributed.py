"""Multi-process training through ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node=N -m autosr.commands.train …`` sets ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE``; :func:`setup` then joins the process group (NCCL on GPUs, gloo on CPU) and
picks ``cuda:LOCAL_RANK`` (``--device cuda:N`` only with one process per machine). Without those
variables everything here is a no-op, so the trainer has one code path; ``--device cuda:N`` then
trains on GPU N (made the current device). Only rank 0 writes files and logs; each rank seeds its
data stream differently (``seed``, ``rank``) while model initialisation is made equal by DDP's broadcast.
"""
from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from typing import Optional

import torch
import torch.distributed as dist
from torch import nn

from autosr.devices import has_index, parse_device
from autosr.training.errors import TrainingError

logger = logging.getLogger(__name__)


@dataclass
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size`` (1 and 0 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: Optional[str] = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """True when ``torchrun`` (or an equivalent launcher) set ``RANK`` and ``WORLD_SIZE`` > 1."""
    return "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


def pick_device(request: str = "auto", local_rank: Optional[int] = None) -> torch.device:
    """``auto`` → cuda, then mps, then cpu; ``cuda`` → ``cuda:local_rank`` (torchrun) or the current GPU;
    ``cuda:N`` → that GPU. An unavailable choice is an error naming it (:func:`autosr.devices.parse_device`)."""
    return parse_device(request, cuda_index=local_rank)


def _check_index_under_torchrun(request: str, world: int) -> None:
    """``cuda:N`` would put every process of this machine on one GPU: refuse it when there are several."""
    per_machine = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    if has_index(request) and per_machine > 1:
        raise TrainingError(f"--device {request}: torchrun starts {per_machine} processes on this machine and each "
                            f"takes the GPU cuda:LOCAL_RANK; use --device cuda (or auto), and choose the GPUs with "
                            f"CUDA_VISIBLE_DEVICES, e.g. CUDA_VISIBLE_DEVICES=2,3")


def setup(device_request: str = "auto") -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun; return ``(DistInfo, device)``."""
    if not launched_by_torchrun():
        device = pick_device(device_request, 0)  # cuda → cuda:0, cuda:N → cuda:N
        if device.type == "cuda":
            # make it the current GPU too, so nothing lands on cuda:0 by default (cuDNN workspaces, caches)
            torch.cuda.set_device(device)
        return DistInfo(), device
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    _check_index_under_torchrun(device_request, world)
    # Several processes per machine take cuda:LOCAL_RANK; one process per machine may name its GPU (cuda:N).
    device = pick_device(device_request, local_rank)
    if device.type == "mps":
        raise TrainingError("multi-process training is not supported on MPS; use --device cpu or cuda")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # A generous timeout: rank 0 validates alone while the others wait at a barrier.
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(hours=2))
    if device.type == "cpu":
        # Processes on one machine share its cores; without this each one starts all of them.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", world))))
    logger.info("distributed: rank %d of %d (%s, %s)", rank, world, backend, device)
    return DistInfo(rank, world, local_rank, backend), device


def cleanup(info: DistInfo) -> None:
    """Leave the process group (no-op without torchrun)."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def wrap(model: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """Wrap ``model`` in DDP when distributed (DDP broadcasts rank 0's initial weights)."""
    if not info.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    # A generator of one model per scale trains one of them per step: the others' gradients are absent.
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, output_device=ids[0] if ids else None,
                                               find_unused_parameters=getattr(model, "partial_steps", False))


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DDP wrapper (state dicts are saved without the ``module.`` prefix)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def broadcast_module(model: nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank (for modules not wrapped in DDP)."""
    if not info.enabled:
        return
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(t.data, src=0)


def any_true(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on any rank (keeps collective calls in step)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def average_gradients(model: nn.Module, info: DistInfo) -> None:
    """All-reduce and average ``model``'s gradients by hand.

    Used for the critic: its WGAN-GP step runs three forwards and a double backward per step,
    which DDP's gradient hooks do not support reliably.
    """
    if not info.enabled:
        return
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= info.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


__all__ = ["DistInfo", "setup", "cleanup", "barrier", "wrap", "unwrap", "any_true", "average_gradients",
           "broadcast_module", "pick_device", "launched_by_torchrun"]
