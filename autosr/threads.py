"""How many CPU threads PyTorch gets: as many as pay for themselves, never every core.

PyTorch starts one intra-op thread per core. Every operation then waits for its slowest thread,
so when any other process takes one core, the thread sharing it stalls all the others: on a
2-core machine one busy neighbour made training 2.8× slower with 2 threads, 1.1× with 1. And
a small network (the ``2d_cpu`` configuration's) gains nothing from a second thread anyway.

The rule here: at most the usable cores less one (left to whatever else runs, and to the
batch-loading worker processes, each of which takes a core); of the counts 1, 2, 4, … up to
that, the smallest whose measured step time is within :data:`TOLERANCE` of the fastest (a short
probe of the real training step, going up while doubling still gains). An explicit choice is
always kept: ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` in the environment, or a
``torch.set_num_threads`` call made by the caller.

Interop threads are left alone: eager-mode training and prediction run one operation at a
time, so PyTorch's interop pool stays idle (it is only used by ``torch.jit.fork``).
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import torch

logger = logging.getLogger(__name__)

#: PyTorch's own thread count, read before AutoSR changes it (one per physical core, or the
#: environment's OMP_NUM_THREADS).
TORCH_DEFAULT = torch.get_num_threads()
#: A larger count must be faster than this share of the fastest time to be chosen.
TOLERANCE = 0.10
#: Timed calls of the probe step per candidate count (after one warm-up call); the fastest counts.
PROBE_REPEATS = 3
ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

_chosen: Optional[int] = None  # the count this module set last (not a user's setting)


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    reason: str
    by_user: bool = False

    def describe(self) -> str:
        return f"CPU threads: {self.threads} ({self.reason})"


def explicit_setting() -> Optional[str]:
    """What the user set (``"OMP_NUM_THREADS=4"``, ``"torch.set_num_threads(3)"``), or None."""
    for var in ENV_VARS:
        if os.environ.get(var, "").strip():
            return f"{var}={os.environ[var].strip()}"
    current = torch.get_num_threads()
    if current not in (TORCH_DEFAULT, _chosen):
        return f"torch.set_num_threads({current})"
    return None


def usable_cores() -> int:
    """Cores this process may run on (CPU affinity, e.g. a container or ``taskset``), at most
    PyTorch's default (physical cores: hyper-threads add little to convolutions)."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(available, TORCH_DEFAULT))


def thread_ceiling(workers: int = 0) -> int:
    """Most threads worth trying: usable cores less one left free, less one per loader worker."""
    return max(1, usable_cores() - 1 - max(0, int(workers)))


def candidates(ceiling: int) -> List[int]:
    """1, 2, 4, … up to and including ``ceiling``."""
    counts = [1]
    while counts[-1] * 2 < ceiling:
        counts.append(counts[-1] * 2)
    return counts + ([ceiling] if ceiling > 1 else [])


def time_step(step: Callable[[], None], threads: int, repeats: int = PROBE_REPEATS) -> float:
    """Fastest of ``repeats`` calls of ``step`` on ``threads`` threads (after one warm-up call)."""
    torch.set_num_threads(threads)
    step()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return best


def pick(times: Dict[int, float], tolerance: float = TOLERANCE) -> int:
    """The smallest thread count whose time is within ``tolerance`` of the fastest."""
    fastest = min(times.values())
    return min(n for n, t in times.items() if t <= fastest * (1 + tolerance))


def choose_threads(step: Optional[Callable[[], None]] = None, workers: int = 0) -> ThreadChoice:
    """Decide the intra-op thread count (nothing is changed; see :func:`apply`).

    Args:
        step: one representative unit of work (a training step on a synthetic batch) to time at
            each candidate count; without it (or in deterministic runs, whose callers pass none,
            so the count depends on the machine only) the ceiling is taken.
        workers: loader worker processes running beside this one.
    """
    explicit = explicit_setting()
    if explicit:
        return ThreadChoice(torch.get_num_threads(), f"set by the user: {explicit}", by_user=True)
    ceiling = thread_ceiling(workers)
    why = f"{usable_cores()} usable core(s), one left free{f' and {workers} for loader workers' if workers else ''}"
    if ceiling == 1 or step is None:
        return ThreadChoice(ceiling, f"{why}; set OMP_NUM_THREADS to change")
    saved, times = torch.get_num_threads(), {}
    try:
        for n in candidates(ceiling):
            best = min(times.values(), default=math.inf)
            times[n] = time_step(step, n)
            if times[n] > best * (1 - TOLERANCE):  # no longer pays off: more threads will not either
                break
    finally:
        torch.set_num_threads(saved)
    n = pick(times)
    measured = ", ".join(f"{k}: {1000 * t:.0f} ms" for k, t in times.items())
    return ThreadChoice(n, f"{why}; probe step {measured}; fewest within {TOLERANCE:.0%} of the fastest; "
                           f"set OMP_NUM_THREADS to change")


def apply(choice: ThreadChoice) -> None:
    """Set the chosen count and log it with its reason."""
    global _chosen
    if not choice.by_user:
        _chosen = choice.threads
    torch.set_num_threads(choice.threads)
    logger.info(choice.describe())


__all__ = ["ThreadChoice", "choose_threads", "apply", "explicit_setting", "usable_cores", "thread_ceiling",
           "candidates", "pick", "time_step"]
